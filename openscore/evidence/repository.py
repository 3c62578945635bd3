"""What the repository itself shows: weight formats, tokenizer, modelling code, training artefacts,
intermediate checkpoints (branches/tags such as `step1000`, or `checkpoint-*` folders), gating.

Everything here comes from the inventory (one API call on the Hub, a folder walk locally) plus
config.json, so it costs no weight download.
"""

from __future__ import annotations

import json
import re

from openscore.errors import InvalidCheckpoint
from openscore.formats import strict_json

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "repository@1.1"
#: a shard index (model.safetensors.index.json, pytorch_model.bin.index.json): its weight_map names the shards
_SHARD_INDEX = re.compile(r"^[^/]*\.index\.json$", re.I)
MAX_INDEX_TEXT = 4_000_000

#: observation kind -> file-name pattern (matched against the repo-relative path)
FILE_KINDS: dict[str, re.Pattern[str]] = {
    "file.weights": re.compile(
        r"(?:^|/)[^/]+\.(?:safetensors|bin|pt|pth|ckpt|gguf|ggml|onnx|msgpack|h5|tflite|mlmodel|nemo)$", re.I),
    "file.tokenizer": re.compile(
        r"(?:^|/)(?:tokenizer(?:_config)?\.json|tokenizer\.model|[\w-]*\.tiktoken|vocab\.(?:json|txt)|merges\.txt"
        r"|spiece\.model|sentencepiece\.bpe\.model|qwen\.tiktoken)$", re.I),
    "file.modeling_code": re.compile(r"(?:^|/)(?:modell?ing|configuration|tokenization)_[\w]+\.py$", re.I),
    "file.eval_code": re.compile(r"(?:^|/)(?:eval|evaluate|evaluation|run_eval|benchmark)[\w-]*\.(?:py|sh)$", re.I),
    "file.data_code": re.compile(
        r"(?:^|/)(?:prepare|preprocess|process|tokeni[sz]e|dedup|filter|clean)[\w-]*\.(?:py|sh)$", re.I),
    "file.training_code": re.compile(r"(?:^|/)(?:train|finetune|pretrain|sft|dpo)[\w-]*\.(?:py|sh)$", re.I),
    "file.training_args": re.compile(
        r"(?:^|/)(?:training_args\.(?:bin|json)|trainer_state\.json|args\.json|train(?:ing)?_config[\w-]*\.(?:json|ya?ml))$",
        re.I),
    "file.optimizer_state": re.compile(r"(?:^|/)(?:optimizer|optim)[\w.-]*\.(?:pt|bin|safetensors|pth)$", re.I),
    "file.eval_results": re.compile(r"(?:^|/)(?:eval_results|all_results|results)[\w.-]*\.(?:json|ya?ml)$", re.I),
    "file.config": re.compile(r"^(?:config|generation_config|adapter_config)\.json$", re.I),
}
#: weight files that are not the model's final weights (optimizer/training state)
_NOT_WEIGHTS = re.compile(r"(?:^|/)(?:optimizer|optim|scheduler|rng_state|training_args|scaler)[\w.-]*$", re.I)
#: branch/tag names and folders that hold intermediate checkpoints
INTERMEDIATE = re.compile(
    r"^(?:step[-_]?\d+|checkpoint[-_]?\d+|ckpt[-_]?\d+|stage\d*[-_][\w.-]+|iter[-_]?\d+|epoch[-_]?\d+|"
    r"[\w.-]*[-_](?:step|tokens?)[-_]?\d+[\w.-]*)$",
    re.I,
)
_CHECKPOINT_DIR = re.compile(r"^(?:checkpoints?/)?(checkpoint[-_]\d+|step[-_]?\d+|global_step\d+)/", re.I)


def _file_kind(path: str) -> str | None:
    for kind, pattern in FILE_KINDS.items():
        if pattern.search(path):
            if kind == "file.weights" and (_NOT_WEIGHTS.search(path) or _CHECKPOINT_DIR.match(path)):
                continue
            return kind
    return None


def collect_repository(ctx: CollectContext) -> tuple[CollectorOutput, dict | None]:
    """Observations about files, refs and gating, plus the parsed config.json (or None)."""
    out = CollectorOutput(extractor=EXTRACTOR)
    inv = ctx.inventory
    out.searched.append(f"{len(inv.files)} files of the repository inventory")
    checkpoint_dirs: dict[str, str] = {}
    for entry in inv.files:
        kind = _file_kind(entry.path)
        dir_match = _CHECKPOINT_DIR.match(entry.path)
        if dir_match:
            checkpoint_dirs.setdefault(dir_match.group(1), entry.path)
        if kind is None:
            continue
        state = "" if entry.present else " (Git-LFS pointer: content not here)"
        out.observations.append(Observation(
            kind=kind,
            value={"path": entry.path, "size": entry.size, "lfs": entry.lfs, "present": entry.present},
            evidence=ctx.cite(rule=f"collect/repository/{kind[5:]}", extractor=EXTRACTOR, file=entry.path,
                              snippet=f"{entry.path}, {entry.size} bytes"
                                      + (f", sha256 {entry.sha256}" if entry.sha256 else "") + state),
        ))
    out.searched.append("branches and tags named like step1000 / checkpoint-N / stage-*")
    for name in sorted(inv.refs):
        if INTERMEDIATE.match(name.rsplit("/", 1)[-1]):
            out.observations.append(Observation(
                kind="ref.intermediate", value=name,
                evidence=ctx.cite(rule="collect/repository/ref", extractor=EXTRACTOR,
                                  snippet=f"revision {name} of {inv.ref.repo_id}"),
            ))
    for folder, example in sorted(checkpoint_dirs.items()):
        out.observations.append(Observation(
            kind="ref.intermediate", value=folder,
            evidence=ctx.cite(rule="collect/repository/checkpoint-folder", extractor=EXTRACTOR, file=example,
                              snippet=f"checkpoint folder {folder}/"),
        ))
    gated = inv.gated
    out.searched.append("Hub gating status")
    if ctx.on_hub or gated:
        out.observations.append(Observation(
            kind="gating", value=gated or False,
            evidence=ctx.cite(rule="collect/repository/gating", extractor=EXTRACTOR,
                              url=f"{(ctx.endpoint or ctx.inventory.ref.location).rstrip('/')}/api/models/"
                                  f"{inv.ref.repo_id}" if ctx.on_hub else None,
                              snippet=f"gated: {gated!r}" + (" (Hub API metadata)" if ctx.on_hub else "")),
        ))
    else:
        out.not_checked.append("gating: a local folder does not know whether its Hub repository is gated")
    config = None
    text = ctx.read_text("config.json") if inv.get("config.json") else None
    if text:
        try:
            parsed = strict_json.loads(text, "config.json")
            config = parsed if isinstance(parsed, dict) else None
        except InvalidCheckpoint as exc:  # reading the weights refuses it; the card can still be graded
            out.not_checked.append(str(exc))
    _completeness(ctx, out, config_present=inv.get("config.json") is not None)
    if config is not None:
        for key in ("architectures", "model_type", "_name_or_path"):
            if key in config:
                out.observations.append(Observation(
                    kind=f"config.{key}", value=config[key],
                    evidence=ctx.cite(rule=f"collect/repository/config/{key}", extractor=EXTRACTOR,
                                      file="config.json", locator=f"/{key}",
                                      snippet=f'"{key}": {json.dumps(config[key])}'),
                ))
    return out, config


def _completeness(ctx: CollectContext, out: CollectorOutput, *, config_present: bool) -> None:
    """What the input lacks that a Hub repository of a model has: an `input.incomplete` observation
    names it, so grades that depend on those files say unknown instead of closed."""
    inv = ctx.inventory
    weights = [f for f in inv.files if _file_kind(f.path) == "file.weights"]
    missing: list[str] = []
    if not weights and not config_present:
        missing.append("no weight files and no config.json (a card-only copy of the repository)")
    elif not config_present:
        missing.append("no config.json")
    paths = {f.path for f in inv.files}
    for entry in inv.files:
        if not _SHARD_INDEX.match(entry.path) or not entry.present:
            continue
        text = ctx.read_text(entry.path, max_bytes=MAX_INDEX_TEXT)
        try:
            parsed = strict_json.loads(text, entry.path) if text else None
        except InvalidCheckpoint as exc:
            out.not_checked.append(str(exc))
            continue
        weight_map = parsed.get("weight_map") if isinstance(parsed, dict) else None
        shards = {v for v in weight_map.values() if isinstance(v, str)} if isinstance(weight_map, dict) else set()
        absent = sorted(s for s in shards if s not in paths)
        if absent:
            missing.append(f"{entry.path} names {len(absent)} shard(s) absent from the input ({absent[0]}"
                           + (", ..." if len(absent) > 1 else "") + ")")
    pointers = [f for f in weights if f.lfs and not f.present]
    if pointers:
        missing.append(f"{len(pointers)} weight file(s) are Git-LFS pointers: size and hash known, content not here")
    if missing:
        out.observations.append(Observation(
            kind="input.incomplete", value={"missing": missing, "weights_listed": bool(weights)},
            evidence=ctx.cite(rule="collect/repository/completeness", extractor=EXTRACTOR,
                              snippet="incomplete input: " + "; ".join(missing)),
        ))
