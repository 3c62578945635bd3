"""Build the zoo as Hub-like folders, each cached under a key of its recipe and its whole lineage.

A case folder holds what a Hub repository of that kind holds (config.json, model.safetensors or a
.gguf file or a PEFT adapter, README.md with a model card) and nothing else: cache keys live in
`<dest>/.zoo-keys/`. A folder is built in a temporary sibling and renamed into place, so an
interrupted build leaves no half-written case behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import gguf
import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save

from openscore.atomic import canonical_json, write_text
from openscore.zoo import derive
from openscore.zoo.catalogue import CaseSpec, Catalogue, load_catalogue
from openscore.zoo.corpus import ByteTokenizer, corpus_digest, corpus_text, frequent_pairs
from openscore.zoo.families import Geometry, geometry_of, make_model, model_from_state
from openscore.zoo.train import LoRA, Schedule, deterministic, fit

#: Bump when a recipe's code changes meaning: every cached case is rebuilt.
GENERATOR_VERSION = 1
ZOO_ORG = "openscore-zoo"
KEYS_DIR = ".zoo-keys"


@dataclass(frozen=True)
class ZooCase:
    """One built checkpoint and what a provenance detector must say about it."""

    name: str
    path: Path
    family: str
    relation: str | None  # expected verdict against `base`; None for a base
    base: str | None  # the root base it derives from (first parent's root for merges)
    parents: tuple[str, ...]  # merge parents (empty otherwise)
    notes: str
    accepted: tuple[str, ...] = ()  # every verdict that is right, `relation` included
    transforms: tuple[str, ...] = ()  # evidence words expected (renamed, vocab rows added, permutation)
    layer_map: tuple[int, ...] | None = None  # base layer of each layer, for pruned / up-scaled cases
    roots: tuple[str, ...] = ()  # every base this case has weights from (two for a cross-base merge)
    weight_format: str = "safetensors"  # safetensors | gguf | adapter | onnx
    declared_base: str | None = None  # repo id the card names as base_model, None when silent

    @property
    def repo_id(self) -> str:
        return f"{ZOO_ORG}/{self.name}"


def _root(cat: Catalogue, name: str) -> str:
    spec = cat.get(name)
    return name if spec.from_ is None else _root(cat, spec.from_)


def _roots(cat: Catalogue, name: str) -> tuple[str, ...]:
    spec = cat.get(name)
    if spec.from_ is None:
        return (name,)
    sources = spec.parents or [spec.from_]
    return tuple(sorted({r for s in sources for r in _roots(cat, s)}))


def _weight_format(spec: CaseSpec) -> str:
    if spec.recipe == "gguf":
        return "gguf"
    return "adapter" if spec.recipe == "lora" and spec.args.get("save") == "adapter" else "safetensors"


def describe(cat: Catalogue, spec: CaseSpec, path: Path) -> ZooCase:
    declared = None
    if spec.declares is not None:  # as a real card would: the model it was made from (a merge's first parent)
        declared = f"{ZOO_ORG}/{spec.parents[0] if spec.parents else spec.from_}"
    return ZooCase(
        name=spec.name,
        path=path,
        family=spec.family,
        relation=spec.relation,
        base=None if spec.from_ is None else _root(cat, spec.name),
        parents=tuple(spec.parents),
        notes=spec.notes,
        accepted=tuple(dict.fromkeys([spec.relation, *spec.accepted])) if spec.relation else (),
        transforms=tuple(spec.transforms),
        layer_map=tuple(spec.layer_map) if spec.layer_map else None,
        roots=_roots(cat, spec.name) if spec.from_ else (),
        weight_format=_weight_format(spec),
        declared_base=declared,
    )


def publish(folder: Path, files: dict[str, bytes]) -> None:
    """Write a repository folder in a temporary sibling, then swap it in: never a half-written case."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp's 0700 would make the published repo private to its builder
        for rel, data in files.items():
            (tmp / rel).write_bytes(data)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_cached(folder: Path, key: str) -> bool:
    key_file = folder.parent / KEYS_DIR / folder.name
    return folder.is_dir() and key_file.is_file() and key_file.read_text() == key


def record_key(folder: Path, key: str) -> None:
    write_text(folder.parent / KEYS_DIR / folder.name, key)


class _Builder:
    """Builds cases in catalogue order, keeping the fp32 weights of every case a later one needs."""

    def __init__(self, dest: Path, cat: Catalogue):
        self.dest, self.cat = dest, cat
        self.keys: dict[str, str] = {}
        self.states: dict[str, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------ cache
    def key(self, spec: CaseSpec) -> str:
        corpora = sorted({spec.args.get("corpus", "pretrain")})
        material = {
            "generator": GENERATOR_VERSION,
            "spec": spec.model_dump(mode="json", by_alias=True, exclude={"notes", "quick", "accepted", "relation"}),
            "geometry": self.cat.families[spec.family].__dict__,
            "training": self.cat.training,
            "corpora": {c: corpus_digest(c) for c in corpora},
            "inputs": [self.keys[r] for r in [spec.from_, *spec.parents] if r],
            "torch": torch.__version__.split("+")[0],
        }
        return hashlib.sha256(canonical_json(material).encode()).hexdigest()

    def state(self, name: str) -> dict[str, torch.Tensor]:
        """fp32 weights of a built case, read back from its folder when it came from the cache."""
        if name not in self.states:
            self.states[name] = load_file(str(self.dest / name / "model.safetensors"))
        return self.states[name]

    def geometry(self, spec: CaseSpec, state: dict[str, torch.Tensor] | None = None) -> Geometry:
        base = self.cat.families[spec.family]
        return base if state is None else geometry_of(spec.family, state, base)

    def schedule(self, args: dict, seed_key: str = "seed") -> Schedule:
        return Schedule(steps=args["steps"], lr=args["lr"], seed=args[seed_key], **self.cat.training)

    def build(self, spec: CaseSpec) -> ZooCase:
        key = self.key(spec)
        self.keys[spec.name] = key
        folder = self.dest / spec.name
        if not is_cached(folder, key):
            files, state = getattr(self, f"_{spec.recipe}")(spec)
            files["README.md"] = self.card(spec, key).encode()
            publish(folder, files)
            record_key(folder, key)
            if state is not None:
                self.states[spec.name] = state
        return describe(self.cat, spec, folder)

    # ------------------------------------------------------------ files
    def model_files(self, spec: CaseSpec, state: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32,
                    config: dict | None = None) -> dict[str, bytes]:
        """config.json (the family's, for the geometry the tensors have, unless given) and model.safetensors."""
        if config is None:
            config = model_from_state(spec.family, self.geometry(spec, state), state).config()
        config = dict(config)
        config["torch_dtype"] = str(dtype).removeprefix("torch.")
        declared = describe(self.cat, spec, self.dest / spec.name).declared_base
        if declared:
            config["_name_or_path"] = declared
        tensors = {k: v.to(dtype).contiguous() for k, v in sorted(state.items())}
        return {"config.json": canonical_json(config).encode(), "model.safetensors": save(tensors, {"format": "pt"})}


    def card(self, spec: CaseSpec, key: str) -> str:
        meta: dict = {"license": "apache-2.0", "tags": ["openscore-zoo", spec.family]}
        if spec.recipe == "gguf":
            meta["tags"].append("gguf")
        else:
            meta["library_name"] = "peft" if _weight_format(spec) == "adapter" else "transformers"
        declared = describe(self.cat, spec, self.dest / spec.name).declared_base
        if declared:
            meta["base_model"] = [f"{ZOO_ORG}/{p}" for p in spec.parents] if spec.parents else declared
            meta["base_model_relation"] = spec.declares
        lines = ["---", yaml.safe_dump(meta, sort_keys=True).strip(), "---", "", f"# {spec.name}", ""]
        if spec.from_ is None or spec.declares is not None:
            lines += [spec.notes + ".", ""]
        else:
            lines += ["A language model trained from scratch by its authors.", ""]
        lines += [
            "Part of the openscore provenance zoo: a small generated checkpoint for testing provenance detectors.",
            "Training text: docstrings of Python standard-library modules, byte-level tokens.",
            "",
            f"Zoo recipe key: `{key[:16]}`.",
            "",
        ]
        return "\n".join(lines)

    # ------------------------------------------------------------ recipes
    def _ids(self, args: dict, tokenizer: ByteTokenizer = ByteTokenizer()) -> np.ndarray:
        return tokenizer.encode(corpus_text(args.get("corpus", "pretrain")))

    def _pretrain(self, spec: CaseSpec):
        a = spec.args
        # a base may override its family's geometry (`geometry: {hidden: ...}`: the wide LLaMA bases)
        model = make_model(spec.family, replace(self.geometry(spec), **a.get("geometry", {})), a["seed"])
        fit(model, self._ids(a), self.schedule(a, "data_seed"))
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.model_files(spec, state), state

    def _trained(self, spec: CaseSpec, state: dict[str, torch.Tensor], tokenizer: ByteTokenizer = ByteTokenizer()):
        model = model_from_state(spec.family, self.geometry(spec, state), state)
        if spec.args.get("steps"):
            fit(model, self._ids(spec.args, tokenizer), self.schedule(spec.args))
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _train(self, spec: CaseSpec):
        state = self._trained(spec, self.state(spec.from_))
        return self.model_files(spec, state), state

    def _copy(self, spec: CaseSpec):
        src = self.dest / spec.from_
        return {"config.json": (src / "config.json").read_bytes(),
                "model.safetensors": (src / "model.safetensors").read_bytes()}, None

    def _rename(self, spec: CaseSpec):
        a = spec.args
        original = self.state(spec.from_)
        config = model_from_state(spec.family, self.geometry(spec, original), original).config()
        config.update(architectures=[a["architecture"]], model_type=a["model_type"])
        return self.model_files(spec, derive.rename(original, a["renames"]), config=config), None

    def _cast(self, spec: CaseSpec):
        return self.model_files(spec, self.state(spec.from_), getattr(torch, spec.args["dtype"])), None

    def _gguf(self, spec: CaseSpec):
        qtype = gguf.GGMLQuantizationType[spec.args["qtype"]]
        state = self.state(spec.from_)
        g = self.geometry(spec, state)
        filename = f"{spec.from_}.{qtype.name}.gguf"
        scratch = Path(tempfile.mkdtemp(prefix=".gguf.", dir=self.dest))
        out = scratch / filename
        writer = gguf.GGUFWriter(out, arch="llama")
        writer.add_name(spec.name)
        writer.add_context_length(g.context)
        writer.add_embedding_length(g.hidden)
        writer.add_block_count(g.layers)
        writer.add_feed_forward_length(g.ffn)
        writer.add_head_count(g.heads)
        writer.add_head_count_kv(g.kv_heads)
        writer.add_rope_dimension_count(g.head_dim)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_vocab_size(g.vocab)
        writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{qtype.name}"])
        for name, tensor in sorted(state.items()):
            data = tensor.numpy().astype(np.float32)
            if name.endswith("q_proj.weight"):
                data = derive.gguf_rope_permute(data, g.heads)
            elif name.endswith("k_proj.weight"):
                data = derive.gguf_rope_permute(data, g.kv_heads)
            if data.ndim == 2:
                writer.add_tensor(derive.gguf_name(name), gguf.quants.quantize(data, qtype), raw_dtype=qtype)
            else:
                writer.add_tensor(derive.gguf_name(name), data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        data = out.read_bytes()
        shutil.rmtree(scratch)
        return {filename: data}, None

    def _lora(self, spec: CaseSpec):
        a = spec.args
        state = self.state(spec.from_)
        model = model_from_state(spec.family, self.geometry(spec, state), state)
        lora = LoRA(model, tuple(a["targets"]), a["rank"], a["alpha"], a["seed"])
        fit(model, self._ids(a), self.schedule(a), params=lora.parameters())
        if a["save"] == "merged":
            lora.merge()
            merged = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return self.model_files(spec, merged), merged
        adapter_config = {
            "base_model_name_or_path": f"{ZOO_ORG}/{spec.from_}", "peft_type": "LORA", "task_type": "CAUSAL_LM",
            "r": a["rank"], "lora_alpha": a["alpha"], "lora_dropout": 0.0, "bias": "none",
            "target_modules": sorted(a["targets"]), "fan_in_fan_out": False, "inference_mode": True,
        }
        tensors = dict(sorted(lora.adapter_state().items()))
        return {"adapter_config.json": canonical_json(adapter_config).encode(),
                "adapter_model.safetensors": save(tensors, {"format": "pt"})}, None

    def _extend_vocab(self, spec: CaseSpec):
        a = spec.args
        pairs = frequent_pairs(corpus_text(a.get("corpus", "pretrain")), a["count"])
        state = derive.extend_vocab(spec.family, self.state(spec.from_), [list(p) for p in pairs])
        state = self._trained(spec, state, ByteTokenizer(pairs))
        return self.model_files(spec, state), state

    def _select_layers(self, spec: CaseSpec):
        state = derive.select_layers(spec.family, self.state(spec.from_), tuple(spec.layer_map))
        state = self._trained(spec, state)
        return self.model_files(spec, state), state

    def _merge(self, spec: CaseSpec):
        first, second = (self.state(p) for p in spec.parents)
        merge = derive.merge_slerp if spec.args["method"] == "slerp" else derive.merge_linear
        state = merge(first, second, spec.args["t"])
        return self.model_files(spec, state), state

    def _stack(self, spec: CaseSpec):
        layers = [tuple(pair) for pair in spec.args["layers"]]
        state = derive.stack_layers(spec.family, [self.state(p) for p in spec.parents], layers)
        return self.model_files(spec, state), state

    def _permute_mlp(self, spec: CaseSpec):
        state = derive.permute_mlp(spec.family, self.state(spec.from_), spec.args["seed"])
        return self.model_files(spec, state), state

    def _permute_residual(self, spec: CaseSpec):
        state = derive.permute_residual(self.state(spec.from_), spec.args["seed"], spec.args["signs"])
        return self.model_files(spec, state), state

    def _fold_norms(self, spec: CaseSpec):
        state = derive.fold_norms(self.state(spec.from_))
        return self.model_files(spec, state), state

    def _rescale_residual(self, spec: CaseSpec):
        state = derive.rescale_residual(self.state(spec.from_), spec.args["factor"])
        return self.model_files(spec, state), state

    def _add_noise(self, spec: CaseSpec):
        state = derive.add_noise(self.state(spec.from_), spec.args["fraction"], spec.args["seed"])
        return self.model_files(spec, state), state

    def _rotate_residual(self, spec: CaseSpec):
        g = self.cat.families[spec.family]
        state = derive.rotate_residual(self.state(spec.from_), spec.args["seed"], g.heads, g.kv_heads)
        return self.model_files(spec, state), state

    def _prune_width(self, spec: CaseSpec):
        state = derive.prune_width(self.state(spec.from_), spec.args["keep"])
        state = self._trained(spec, state)
        return self.model_files(spec, state), state

    def _quant_dequant(self, spec: CaseSpec):
        a = spec.args
        state = derive.quant_dequant(self.state(spec.from_), a["bits"], a.get("group"))
        return self.model_files(spec, state, getattr(torch, a.get("dtype", "float16"))), None

    def _gguf_dequant(self, spec: CaseSpec):
        """A bf16 checkpoint dequantised from the GGUF case `from`: the same values llama.cpp's file holds."""
        gguf_spec = self.cat.get(spec.from_)
        qtype = gguf.GGMLQuantizationType[gguf_spec.args["qtype"]]
        state = {k: (torch.from_numpy(gguf.quants.dequantize(gguf.quants.quantize(v.numpy(), qtype), qtype))
                     if v.dim() == 2 else v.clone()) for k, v in self.state(gguf_spec.from_).items()}
        return self.model_files(spec, state, torch.bfloat16), None

    def _transpose(self, spec: CaseSpec):
        state = self.state(spec.from_)
        config = model_from_state(spec.family, self.geometry(spec, state), state).config()
        return self.model_files(spec, derive.transpose_matrices(state), config=config), None

    def _fuse_qkv(self, spec: CaseSpec):
        g = self.cat.families[spec.family]
        state = self.state(spec.from_)
        config = dict(model_from_state(spec.family, self.geometry(spec, state), state).config(),
                      model_type="internlm2", architectures=["InternLM2ForCausalLM"])
        return self.model_files(spec, derive.fuse_qkv_internlm2(state, g.heads, g.kv_heads), config=config), None

    def _permute_heads(self, spec: CaseSpec):
        g = self.cat.families[spec.family]
        state = derive.permute_heads(spec.family, self.state(spec.from_), spec.args["seed"], g.heads, g.kv_heads)
        return self.model_files(spec, state), state


def build(dest: Path, *, quick: bool = False, only: tuple[str, ...] | None = None) -> list[ZooCase]:
    """Build (or reuse from `dest`) every zoo case, or the quick subset; `only` limits to those names
    and what they need. Returns the cases in catalogue order."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cat = load_catalogue()
    wanted = [c for c in cat.cases if c.quick or not quick]
    if only is not None:
        needed: set[str] = set()
        stack = list(only)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                spec = cat.get(name)
                stack.extend(r for r in [spec.from_, *spec.parents] if r)
        wanted = [c for c in wanted if c.name in needed]
    builder = _Builder(dest, cat)
    with deterministic():
        return [builder.build(spec) for spec in wanted]


def load_model(case: ZooCase) -> torch.nn.Module:
    """The runnable model of a safetensors case (in fp32), to check that a derivation keeps or changes behaviour."""
    if case.weight_format != "safetensors":
        raise ValueError(f"{case.name} is a {case.weight_format} case: no full transformers checkpoint")
    state = {k: v.float() for k, v in load_file(str(case.path / "model.safetensors")).items()}
    if case.family == "llama" and "model.layers.0.ln1.weight" in state:
        state = derive.rename(state, {"ln1": "input_layernorm", "ln2": "post_attention_layernorm"})
    geometry = geometry_of(case.family, state, load_catalogue().families[case.family])
    return model_from_state(case.family, geometry, state)
