"""Small LLaMA-shaped checkpoints for the weight tests: trained for a few real optimizer steps.

Imported by the other test_weights_* / test_registry* / test_fingerprint_cli* files. It holds no tests
itself; the provenance zoo (openscore.zoo) is the full benchmark, this is the minimum the unit tests need.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

GEOMETRY = dict(hidden=64, inter=128, layers=4, vocab=256, heads=4, kv_heads=2)


def config(g: dict = GEOMETRY, **extra) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": g["hidden"],
        "intermediate_size": g["inter"], "num_attention_heads": g["heads"], "num_key_value_heads": g["kv_heads"],
        "num_hidden_layers": g["layers"], "vocab_size": g["vocab"], "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "torch_dtype": "float32", **extra,
    }


def init_state(seed: int, g: dict = GEOMETRY) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    h, f, v = g["hidden"], g["inter"], g["vocab"]
    kv = g["kv_heads"] * h // g["heads"]

    def mat(rows, cols):
        return torch.randn(rows, cols, generator=gen) / math.sqrt(cols)

    state = {"model.embed_tokens.weight": mat(v, h), "lm_head.weight": mat(v, h), "model.norm.weight": torch.ones(h)}
    for i in range(g["layers"]):
        p = f"model.layers.{i}."
        state.update({
            p + "self_attn.q_proj.weight": mat(h, h), p + "self_attn.k_proj.weight": mat(kv, h),
            p + "self_attn.v_proj.weight": mat(kv, h), p + "self_attn.o_proj.weight": mat(h, h),
            p + "mlp.gate_proj.weight": mat(f, h), p + "mlp.up_proj.weight": mat(f, h),
            p + "mlp.down_proj.weight": mat(h, f),
            p + "input_layernorm.weight": torch.ones(h), p + "post_attention_layernorm.weight": torch.ones(h),
        })
    return state


def _rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


def forward(state: dict[str, torch.Tensor], ids: torch.Tensor, g: dict = GEOMETRY) -> torch.Tensor:
    """Logits of a LLaMA block stack (no rotary: position does not matter for these tests)."""
    h, heads, kv = g["hidden"], g["heads"], g["kv_heads"]
    hd = h // heads
    x = state["model.embed_tokens.weight"][ids]
    b, t, _ = x.shape
    mask = torch.full((t, t), float("-inf")).triu(1)
    for i in range(g["layers"]):
        p = f"model.layers.{i}."
        y = _rms(x, state[p + "input_layernorm.weight"])
        q = (y @ state[p + "self_attn.q_proj.weight"].T).view(b, t, heads, hd).transpose(1, 2)
        k = (y @ state[p + "self_attn.k_proj.weight"].T).view(b, t, kv, hd).transpose(1, 2)
        v = (y @ state[p + "self_attn.v_proj.weight"].T).view(b, t, kv, hd).transpose(1, 2)
        k = k.repeat_interleave(heads // kv, dim=1)
        v = v.repeat_interleave(heads // kv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        x = x + (att @ v).transpose(1, 2).reshape(b, t, h) @ state[p + "self_attn.o_proj.weight"].T
        y = _rms(x, state[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(y @ state[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (y @ state[p + "mlp.up_proj.weight"].T)) @ state[p + "mlp.down_proj.weight"].T
    return _rms(x, state["model.norm.weight"]) @ state["lm_head.weight"].T


def _text_ids(vocab: int) -> torch.Tensor:
    text = "\n".join(inspect.getdoc(obj) or "" for obj in (json, math, inspect, Path, np.ndarray, torch.nn.Module))
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long) % vocab


def train(state: dict[str, torch.Tensor], *, steps: int, seed: int, lr: float = 3e-3, g: dict = GEOMETRY):
    """A few AdamW steps of next-byte prediction on standard-library docstrings: a real fine-tune."""
    torch.manual_seed(seed)
    params = {k: v.clone().requires_grad_(True) for k, v in state.items()}
    opt = torch.optim.AdamW(params.values(), lr=lr, weight_decay=0.01)
    ids = _text_ids(g["vocab"])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - 33, (8,), generator=gen)
        batch = torch.stack([ids[s : s + 33] for s in starts])
        logits = forward(params, batch[:, :-1], g)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, g["vocab"]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in params.items()}


def write_model(folder: Path, state: dict[str, torch.Tensor], *, dtype=torch.float32, shards: int = 1,
                cfg: dict | None = None) -> Path:
    """A Hub-like folder: config.json and one or more safetensors shards (+ index when sharded)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(state)
    per = math.ceil(len(names) / shards)
    weight_map = {}
    for s in range(shards):
        part = names[s * per : (s + 1) * per]
        file = "model.safetensors" if shards == 1 else f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k].to(dtype).contiguous() for k in part}, str(folder / file), metadata={"format": "pt"})
        weight_map.update({k: file for k in part})
    if shards > 1:
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(cfg or config(), indent=1))
    return folder


GGUF_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}


def write_gguf(path: Path, state: dict[str, torch.Tensor], qtype_name: str, g: dict = GEOMETRY) -> Path:
    """A llama GGUF as llama.cpp's converter writes it: blk.N names, rotary-permuted q/k, quantised matrices."""
    import gguf

    qtype = gguf.GGMLQuantizationType[qtype_name]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(g["layers"])
    writer.add_embedding_length(g["hidden"])
    writer.add_feed_forward_length(g["inter"])
    writer.add_head_count(g["heads"])
    writer.add_head_count_kv(g["kv_heads"])
    writer.add_context_length(256)
    writer.add_layer_norm_rms_eps(1e-5)
    for name in sorted(state):
        w = state[name].float().numpy()
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        else:
            layer, rest = name[len("model.layers."):].split(".", 1)
            kind = rest[: -len(".weight")]
            gname = f"blk.{layer}.{GGUF_NAMES[kind]}.weight"
            if kind in ("self_attn.q_proj", "self_attn.k_proj"):
                n_head = g["heads"] if kind == "self_attn.q_proj" else g["kv_heads"]
                w = w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        if w.ndim == 2:
            writer.add_tensor(gname, gguf.quants.quantize(np.ascontiguousarray(w), qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(gname, np.ascontiguousarray(w, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def fingerprint_of(path: Path, **kwargs):
    """Fingerprint a folder (or GGUF folder) through the real source, header reader and layout."""
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source
    from openscore.weights import fingerprint

    source = open_source(str(path))
    headers = read_checkpoint(source)
    return fingerprint(source, headers, build_layout(headers), **kwargs)


@functools.lru_cache(maxsize=None)
def family() -> dict[str, dict[str, torch.Tensor]]:
    """A trained base, a fine-tune of it and an independently trained model of the same layout."""
    torch.set_num_threads(1)  # deterministic and fair to the other test processes on 2 cores
    base = train(init_state(1), steps=40, seed=1)
    return {
        "base": base,
        "finetune": train(base, steps=30, seed=7, lr=1e-3),
        "other": train(init_state(2), steps=40, seed=2),
    }


def permuted(state: dict[str, torch.Tensor], seed: int, g: dict = GEOMETRY) -> dict[str, torch.Tensor]:
    """Function-preserving obfuscation: MLP hidden units permuted (and up/down rescaled), q heads and o columns permuted."""
    gen = torch.Generator().manual_seed(seed)
    out = dict(state)
    hd = g["hidden"] // g["heads"]
    for i in range(g["layers"]):
        p = f"model.layers.{i}."
        perm = torch.randperm(g["inter"], generator=gen)
        out[p + "mlp.gate_proj.weight"] = state[p + "mlp.gate_proj.weight"][perm]
        out[p + "mlp.up_proj.weight"] = state[p + "mlp.up_proj.weight"][perm] * 2.0
        out[p + "mlp.down_proj.weight"] = state[p + "mlp.down_proj.weight"][:, perm] / 2.0
        heads = torch.randperm(g["heads"], generator=gen)
        rows = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in heads])
        out[p + "self_attn.q_proj.weight"] = state[p + "self_attn.q_proj.weight"][rows]
        out[p + "self_attn.o_proj.weight"] = state[p + "self_attn.o_proj.weight"][:, rows]
    return out


def drop_layer(state: dict[str, torch.Tensor], layer: int) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in state.items():
        if name.startswith("model.layers."):
            i, rest = name[len("model.layers."):].split(".", 1)
            if int(i) == layer:
                continue
            out[f"model.layers.{int(i) - (int(i) > layer)}.{rest}"] = value
        else:
            out[name] = value
    return out


def residual_permuted(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Function-preserving: the residual stream's dimensions reordered in every tensor that touches it."""
    h = state["model.norm.weight"].shape[0]
    perm = torch.randperm(h, generator=torch.Generator().manual_seed(seed))
    out = {}
    for name, value in state.items():
        if value.ndim == 1:
            out[name] = value[perm]
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            out[name] = value[perm]
        else:  # embeddings, lm_head and every matrix reading the stream: columns
            out[name] = value[:, perm]
    return out
