"""The two real llama2.c checkpoints of ../shared/data/realmodels/llama2c-tiny as zoo cases.

stories260K (karpathy's tinyllamas, dim 64) and Baby Llama tok105 (dim 128) were trained from scratch,
independently, on TinyStories. Their llama2.c "v0" files are read here (seven int32 header fields, then
fp32 tensors in run.c's order; never unpickled: there is no pickle), converted to the transformers LLaMA
layout, and stories260K gets real derivatives: AdamW fine-tunes on the zoo's text through the zoo's LLaMA
(rotary pairs in HF order: a different function from run.c's, the same weights to start from), a
residual rotation with unit and head permutation, width pruning, an int8 quantise-dequantise copy, a
transposed re-save. Relations are against stories260K; Baby Llama is a negative for all of them.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save

from openscore.atomic import canonical_json
from openscore.errors import InvalidCheckpoint
from openscore.zoo import derive
from openscore.zoo.build import GENERATOR_VERSION, ZooCase, is_cached, publish, record_key
from openscore.zoo.corpus import ByteTokenizer, corpus_digest, corpus_text
from openscore.zoo.families import Geometry, model_from_state
from openscore.zoo.train import Schedule, deterministic, fit

#: (case, folder under llama2c-tiny, file)
BASES = (("stories260k", "stories260K", "stories260K.bin"), ("babyllama", "babyllama-tok105", "model5000.bin"))
_HEADER = struct.Struct("<7i")


def read_llama2c(path: Path) -> tuple[Geometry, dict[str, torch.Tensor]]:
    """Geometry and transformers-named fp32 tensors of a llama2.c v0 checkpoint (run.c's order)."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise InvalidCheckpoint(f"{path}: shorter than a llama2.c header")
    dim, hidden, layers, heads, kv_heads, vocab, seq = _HEADER.unpack_from(data)
    shared, vocab = vocab > 0, abs(vocab)
    if min(dim, hidden, layers, heads, kv_heads, vocab, seq) <= 0 or dim % heads:
        raise InvalidCheckpoint(f"{path}: implausible llama2.c header {dim, hidden, layers, heads, kv_heads, vocab, seq}")
    head = dim // heads
    kv = kv_heads * head
    shapes = [("embed", (vocab, dim)), ("rms_att", (layers, dim)), ("wq", (layers, dim, dim)),
              ("wk", (layers, kv, dim)), ("wv", (layers, kv, dim)), ("wo", (layers, dim, dim)),
              ("rms_ffn", (layers, dim)), ("w1", (layers, hidden, dim)), ("w2", (layers, dim, hidden)),
              ("w3", (layers, hidden, dim)), ("rms_final", (dim,)), ("freq_real", (seq, head // 2)),
              ("freq_imag", (seq, head // 2))] + ([] if shared else [("wcls", (vocab, dim))])
    need = _HEADER.size + 4 * sum(int(np.prod(s)) for _, s in shapes)
    if len(data) != need:
        raise InvalidCheckpoint(f"{path}: {len(data)} bytes, a llama2.c v0 file of this header has {need}")
    values, pos = {}, _HEADER.size
    for name, shape in shapes:
        count = int(np.prod(shape))
        values[name] = torch.from_numpy(np.frombuffer(data, "<f4", count, pos).reshape(shape).copy())
        pos += 4 * count
    state = {"model.embed_tokens.weight": values["embed"], "model.norm.weight": values["rms_final"],
             "lm_head.weight": (values["embed"] if shared else values["wcls"]).clone()}
    names = {"rms_att": "input_layernorm", "wq": "self_attn.q_proj", "wk": "self_attn.k_proj",
             "wv": "self_attn.v_proj", "wo": "self_attn.o_proj", "rms_ffn": "post_attention_layernorm",
             "w1": "mlp.gate_proj", "w2": "mlp.down_proj", "w3": "mlp.up_proj"}
    for i in range(layers):
        for key, name in names.items():
            state[f"model.layers.{i}.{name}.weight"] = values[key][i].clone()
    return Geometry(dim, layers, heads, kv_heads, hidden, vocab, seq), state


#: derivatives of stories260k: (name, from, op, args, relation, notes)
DERIVATIVES = (
    ("stories260k-sft", "stories260k", "finetune", {"steps": 40, "lr": 1e-3, "seed": 61, "corpus": "finetune"},
     "derived", "40 AdamW steps on the zoo's docstring text (byte tokens)"),
    ("stories260k-rotated", "stories260k-sft", "rotate", {"seed": 62}, "derived",
     "gains folded, residual stream rotated by a random orthogonal matrix, MLP units and heads permuted"),
    ("stories260k-pruned", "stories260k", "prune", {"keep": 128, "steps": 20, "lr": 1e-3, "seed": 63,
                                                    "corpus": "pretrain"},
     "partially-derived", "width pruning to 128 of 172 MLP units, then 20 healing steps"),
    ("stories260k-int8", "stories260k", "int8", {"dtype": "float16"}, "recast-copy",
     "int8 absmax per-row quantise-dequantise, saved as fp16"),
    ("stories260k-transposed", "stories260k-sft", "transpose", {}, "derived",
     "the fine-tune re-saved with every linear weight stored [in, out]"),
)


def _files(g: Geometry, state: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32,
           config: dict | None = None) -> dict[str, bytes]:
    config = dict(config or model_from_state("llama", g, state).config(), torch_dtype=str(dtype).removeprefix("torch."))
    tensors = {k: v.to(dtype).contiguous() for k, v in sorted(state.items())}
    return {"config.json": canonical_json(config).encode(), "model.safetensors": save(tensors, {"format": "pt"})}


def _derive(op: str, args: dict, g: Geometry, state: dict[str, torch.Tensor]):
    """(files, state or None) of one derivative."""
    if op in ("finetune", "prune"):
        if op == "prune":
            state = derive.prune_width(state, args["keep"])
            g = Geometry(g.hidden, g.layers, g.heads, g.kv_heads, args["keep"], g.vocab, g.context)
        model = model_from_state("llama", replace(g, context=min(g.context, 128)), state)
        ids = ByteTokenizer().encode(corpus_text(args["corpus"]))
        fit(model, ids, Schedule(steps=args["steps"], lr=args["lr"], seed=args["seed"], seq_len=64, batch_size=8))
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return _files(g, state), state
    if op == "rotate":
        state = derive.rotate_residual(state, args["seed"], g.heads, g.kv_heads)
        return _files(g, state), state
    if op == "int8":
        return _files(g, derive.quant_dequant(state, 8, None), getattr(torch, args["dtype"])), None
    config = model_from_state("llama", g, state).config()
    return _files(g, derive.transpose_matrices(state), config=config), None


def build_llama2c(dest: Path, root: Path) -> list[ZooCase]:
    """The two bases (converted) and stories260k's derivatives under `dest`, cached; [] when absent."""
    root = Path(root) / "llama2c-tiny"
    if not all((root / folder / file).is_file() for _, folder, file in BASES):
        return []
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cases, states, geometry, keys = [], {}, {}, {}
    with deterministic():
        for name, folder, file in BASES:
            src = root / folder / file
            keys[name] = hashlib.sha256(canonical_json({"generator": GENERATOR_VERSION, "llama2c": hashlib.sha256(
                src.read_bytes()).hexdigest(), "torch": torch.__version__.split("+")[0]}).encode()).hexdigest()
            geometry[name], states[name] = read_llama2c(src)
            if not is_cached(dest / name, keys[name]):
                publish(dest / name, {**_files(geometry[name], states[name]), "README.md": _card(name, "").encode()})
                record_key(dest / name, keys[name])
            cases.append(ZooCase(name=name, path=dest / name, family="llama", relation=None, base=None, parents=(),
                                 notes=f"{folder}: llama2.c checkpoint trained from scratch on TinyStories"))
        for name, parent, op, args, relation, notes in DERIVATIVES:
            keys[name] = hashlib.sha256(canonical_json({"inputs": keys[parent], "op": op, "args": args,
                                                        "corpora": corpus_digest(args.get("corpus", "finetune"))})
                                        .encode()).hexdigest()
            geometry[name] = geometry[parent]
            if not is_cached(dest / name, keys[name]):
                if parent not in states:  # a cached parent: its weights from its folder
                    states[parent] = load_file(str(dest / parent / "model.safetensors"))
                files, state = _derive(op, args, geometry[parent], states[parent])
                if state is not None:
                    states[name] = state
                publish(dest / name, {**files, "README.md": _card(name, notes).encode()})
                record_key(dest / name, keys[name])
            cases.append(ZooCase(name=name, path=dest / name, family="llama", relation=relation, base="stories260k",
                                 parents=(), notes=notes, accepted=(relation,) + (("partially-derived",)
                                                                                  if op == "rotate" else ()),
                                 roots=("stories260k",), declared_base=None))
    return cases


def _card(name: str, notes: str) -> str:
    return "\n".join(["---", "license: mit", "tags: [openscore-zoo, llama2c]", "---", "", f"# {name}", "",
                      (notes or "A llama2.c checkpoint converted to the transformers layout") + ".", ""])
