"""The weight-level transformations a derivative goes through, on plain state dicts.

Each function takes fp32 tensors named as the family stores them and returns new ones; none
trains (openscore.zoo.train does). The function-preserving ones (head and hidden-unit
permutations, renames) are checked against the forward pass in tests/test_zoo.py.
"""

from __future__ import annotations

import re

import numpy as np
import torch

State = dict[str, torch.Tensor]

#: Where each family numbers its blocks.
LAYER_PREFIX = {"llama": "model.layers.", "gpt2": "transformer.h.", "neox": "gpt_neox.layers."}
#: Input embedding and (untied) output head of each family; GPT-2's head is tied to wte.
EMBEDDINGS = {
    "llama": ("model.embed_tokens.weight", "lm_head.weight"),
    "gpt2": ("transformer.wte.weight",),
    "neox": ("gpt_neox.embed_in.weight", "embed_out.weight"),
}


def _layers(family: str, state: State) -> list[int]:
    """The block indices present in `state`, ascending."""
    pattern = _layer_re(family)
    return sorted({int(m.group(1)) for k in state if (m := pattern.match(k))})


def _layer_re(family: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(LAYER_PREFIX[family])}(\d+)\.(.+)$")


def rename(state: State, renames: dict[str, str]) -> State:
    """Replace name *components* (`input_layernorm` -> `ln1`): the Yi pattern."""
    def new_name(name: str) -> str:
        return ".".join(renames.get(part, part) for part in name.split("."))

    return {new_name(k): v.clone() for k, v in state.items()}


def select_layers(family: str, state: State, layer_map: tuple[int, ...]) -> State:
    """New layer i is a copy of old layer layer_map[i]: pruning (a subset) or depth up-scaling (repeats)."""
    pattern = _layer_re(family)
    by_layer: dict[int, dict[str, torch.Tensor]] = {}
    out: State = {}
    for name, tensor in state.items():
        m = pattern.match(name)
        if m:
            by_layer.setdefault(int(m.group(1)), {})[m.group(2)] = tensor
        else:
            out[name] = tensor.clone()
    for new_index, old_index in enumerate(layer_map):
        for suffix, tensor in by_layer[old_index].items():
            out[f"{LAYER_PREFIX[family]}{new_index}.{suffix}"] = tensor.clone()
    return out


def stack_layers(family: str, parents: list[State], layers: list[tuple[int, int]]) -> State:
    """A passthrough frankenmerge: layer i is layer `layers[i][1]` of parent `layers[i][0]`; embeddings,
    final norm and head come from the first parent."""
    pattern = _layer_re(family)
    out = {k: v.clone() for k, v in parents[0].items() if not pattern.match(k)}
    for new_index, (parent, old_index) in enumerate(layers):
        prefix = f"{LAYER_PREFIX[family]}{old_index}."
        for name, tensor in parents[parent].items():
            if name.startswith(prefix):
                out[f"{LAYER_PREFIX[family]}{new_index}.{name[len(prefix):]}"] = tensor.clone()
    return out


def _permute(t: torch.Tensor, perm: torch.Tensor, dim: int) -> torch.Tensor:
    return t.index_select(dim, perm).clone()


def permute_mlp(family: str, state: State, seed: int) -> State:
    """Reorder each block's MLP hidden units (rows in, columns out): same function, new basis."""
    gen = torch.Generator().manual_seed(seed)
    out = dict(state)
    for i in _layers(family, state):
        p = f"{LAYER_PREFIX[family]}{i}."
        if family == "llama":
            perm = torch.randperm(state[p + "mlp.gate_proj.weight"].shape[0], generator=gen)
            out[p + "mlp.gate_proj.weight"] = _permute(state[p + "mlp.gate_proj.weight"], perm, 0)
            out[p + "mlp.up_proj.weight"] = _permute(state[p + "mlp.up_proj.weight"], perm, 0)
            out[p + "mlp.down_proj.weight"] = _permute(state[p + "mlp.down_proj.weight"], perm, 1)
        elif family == "gpt2":  # Conv1D: weight [in, out]
            perm = torch.randperm(state[p + "mlp.c_fc.weight"].shape[1], generator=gen)
            out[p + "mlp.c_fc.weight"] = _permute(state[p + "mlp.c_fc.weight"], perm, 1)
            out[p + "mlp.c_fc.bias"] = _permute(state[p + "mlp.c_fc.bias"], perm, 0)
            out[p + "mlp.c_proj.weight"] = _permute(state[p + "mlp.c_proj.weight"], perm, 0)
        else:
            perm = torch.randperm(state[p + "mlp.dense_h_to_4h.weight"].shape[0], generator=gen)
            out[p + "mlp.dense_h_to_4h.weight"] = _permute(state[p + "mlp.dense_h_to_4h.weight"], perm, 0)
            out[p + "mlp.dense_h_to_4h.bias"] = _permute(state[p + "mlp.dense_h_to_4h.bias"], perm, 0)
            out[p + "mlp.dense_4h_to_h.weight"] = _permute(state[p + "mlp.dense_4h_to_h.weight"], perm, 1)
    return out


def _head_perm(heads: int, kv_heads: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(query head order, kv head order) that keeps every query head with its own kv head (GQA-safe)."""
    group = heads // kv_heads
    kv_order = torch.randperm(kv_heads, generator=gen)
    q_order = torch.cat([kv * group + torch.randperm(group, generator=gen) for kv in kv_order.tolist()])
    return q_order, kv_order


def _expand(order: torch.Tensor, width: int) -> torch.Tensor:
    """Head order -> row order for heads `width` rows wide."""
    return (order[:, None] * width + torch.arange(width)[None, :]).flatten()


def permute_heads(family: str, state: State, seed: int, heads: int, kv_heads: int) -> State:
    """Reorder each block's attention heads consistently in q, k, v and the output projection."""
    gen = torch.Generator().manual_seed(seed)
    out = dict(state)
    for i in _layers(family, state):
        p = f"{LAYER_PREFIX[family]}{i}."
        q_order, kv_order = _head_perm(heads, kv_heads, gen)
        if family == "llama":
            hd = state[p + "self_attn.q_proj.weight"].shape[0] // heads
            out[p + "self_attn.q_proj.weight"] = _permute(state[p + "self_attn.q_proj.weight"], _expand(q_order, hd), 0)
            for kv in ("k_proj", "v_proj"):
                out[p + f"self_attn.{kv}.weight"] = _permute(state[p + f"self_attn.{kv}.weight"], _expand(kv_order, hd), 0)
            out[p + "self_attn.o_proj.weight"] = _permute(state[p + "self_attn.o_proj.weight"], _expand(q_order, hd), 1)
        elif family == "gpt2":  # c_attn columns: [q | k | v], each heads x head_dim
            d = state[p + "attn.c_proj.weight"].shape[0]
            hd = d // heads
            cols = torch.cat([part * d + _expand(q_order, hd) for part in range(3)])
            out[p + "attn.c_attn.weight"] = _permute(state[p + "attn.c_attn.weight"], cols, 1)
            out[p + "attn.c_attn.bias"] = _permute(state[p + "attn.c_attn.bias"], cols, 0)
            out[p + "attn.c_proj.weight"] = _permute(state[p + "attn.c_proj.weight"], _expand(q_order, hd), 0)
        else:  # query_key_value rows: [head, (q|k|v), head_dim]
            d = state[p + "attention.dense.weight"].shape[0]
            hd = d // heads
            rows = _expand(q_order, 3 * hd)
            out[p + "attention.query_key_value.weight"] = _permute(state[p + "attention.query_key_value.weight"], rows, 0)
            out[p + "attention.query_key_value.bias"] = _permute(state[p + "attention.query_key_value.bias"], rows, 0)
            out[p + "attention.dense.weight"] = _permute(state[p + "attention.dense.weight"], _expand(q_order, hd), 1)
    return out


def merge_linear(a: State, b: State, t: float) -> State:
    """(1 - t)·a + t·b per tensor, as mergekit's `linear` method."""
    return {k: ((1 - t) * a[k] + t * b[k]).clone() for k in a}


def merge_slerp(a: State, b: State, t: float) -> State:
    """Spherical interpolation per tensor (mergekit `slerp`), linear when the two are near collinear."""
    out: State = {}
    for k, va in a.items():
        vb = b[k]
        na, nb = va.flatten() / (va.norm() + 1e-12), vb.flatten() / (vb.norm() + 1e-12)
        dot = float((na * nb).sum().clamp(-1.0, 1.0))
        if abs(dot) > 0.9995:
            out[k] = ((1 - t) * va + t * vb).clone()
            continue
        theta = float(np.arccos(dot))
        s = np.sin(theta)
        out[k] = (np.sin((1 - t) * theta) / s * va + np.sin(t * theta) / s * vb).clone()
    return out


def extend_vocab(family: str, state: State, new_pieces: list[list[int]]) -> State:
    """Append one embedding (and head) row per new token: the mean of the rows of the bytes it joins."""
    out = dict(state)
    for name in EMBEDDINGS[family]:
        table = state[name]
        extra = torch.stack([table[piece].mean(0) for piece in new_pieces])
        out[name] = torch.cat([table, extra]).clone()
    return out


def gguf_rope_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k row order -> the Meta/GGUF rotary order (llama.cpp convert_hf_to_gguf `LlamaModel.permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


#: transformers LLaMA names -> llama.cpp GGUF names (gguf-py TensorNameMap, MODEL_ARCH.LLAMA).
GGUF_LLAMA_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(name: str) -> str:
    m = _layer_re("llama").match(name)
    if m:
        return f"blk.{m.group(1)}.{GGUF_LLAMA_NAMES[m.group(2)]}"
    return GGUF_LLAMA_NAMES[name]


def _llama_layers(state: State) -> list[int]:
    pattern = _layer_re("llama")
    return sorted({int(m.group(1)) for k in state if (m := pattern.match(k))})


#: LLaMA linears that read the residual stream (columns are residual dims) and that write it (rows are).
_READS_RESIDUAL = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")
_WRITES_RESIDUAL = ("self_attn.o_proj", "mlp.down_proj")


def permute_residual(state: State, seed: int, signs: bool) -> State:
    """LLaMA: permute (and sign-flip) the residual-stream basis everywhere it appears.

    RMSNorm commutes with a signed permutation of its input when the gain is permuted alike, so the
    function is unchanged while no weight keeps its original row/column order: the adversarial case
    a detector must align (embedding-column matching) before it can compare."""
    gen = torch.Generator().manual_seed(seed)
    hidden = state["model.embed_tokens.weight"].shape[1]
    perm = torch.randperm(hidden, generator=gen)
    flip = (torch.randint(0, 2, (hidden,), generator=gen) * 2 - 1).float() if signs else torch.ones(hidden)
    out = dict(state)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        out[name] = state[name][:, perm] * flip
    out["model.norm.weight"] = state["model.norm.weight"][perm].clone()
    for i in _llama_layers(state):
        p = f"model.layers.{i}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            out[p + norm + ".weight"] = state[p + norm + ".weight"][perm].clone()
        for name in _READS_RESIDUAL:
            out[p + name + ".weight"] = state[p + name + ".weight"][:, perm] * flip
        for name in _WRITES_RESIDUAL:
            out[p + name + ".weight"] = state[p + name + ".weight"][perm, :] * flip[:, None]
    return out


def fold_norms(state: State) -> State:
    """LLaMA: multiply each RMSNorm gain into the linears that read its output and set the gain to 1
    (FlashNorm; what AWQ/SmoothQuant-style scaling leaves behind). Same function, rescaled columns."""
    out = dict(state)
    for i in _llama_layers(state):
        p = f"model.layers.{i}."
        for norm, readers in (("input_layernorm", _READS_RESIDUAL[:3]), ("post_attention_layernorm", _READS_RESIDUAL[3:])):
            gain = state[p + norm + ".weight"]
            for name in readers:
                out[p + name + ".weight"] = state[p + name + ".weight"] * gain[None, :]
            out[p + norm + ".weight"] = torch.ones_like(gain)
    out["lm_head.weight"] = state["lm_head.weight"] * state["model.norm.weight"][None, :]
    out["model.norm.weight"] = torch.ones_like(state["model.norm.weight"])
    return out


def rescale_residual(state: State, factor: float) -> State:
    """LLaMA: scale everything that writes the residual stream by `factor`; RMSNorm undoes it (up to eps)."""
    out = dict(state)
    out["model.embed_tokens.weight"] = state["model.embed_tokens.weight"] * factor
    for i in _llama_layers(state):
        for name in _WRITES_RESIDUAL:
            key = f"model.layers.{i}.{name}.weight"
            out[key] = state[key] * factor
    return out


def add_noise(state: State, fraction: float, seed: int) -> State:
    """Gaussian noise at `fraction` of each tensor's std: the cheapest "washing" attempt."""
    gen = torch.Generator().manual_seed(seed)
    return {k: v + fraction * v.std() * torch.randn(v.shape, generator=gen) if v.numel() > 1 else v.clone()
            for k, v in state.items()}


def rotate_residual(state: State, seed: int, heads: int, kv_heads: int) -> State:
    """LLaMA: QuaRot/SliceGPT-style rotation of the residual stream by a random orthogonal matrix, then
    MLP units and attention heads permuted: the case where no weight keeps a row or column basis.

    RMSNorm commutes with a rotation only at unit gain, so the gains are folded first (fold_norms). The
    function is unchanged (up to float rounding): x·Q·Qᵀ = x."""
    gen = torch.Generator().manual_seed(seed)
    folded = fold_norms(state)
    hidden = folded["model.embed_tokens.weight"].shape[1]
    q, r = torch.linalg.qr(torch.randn(hidden, hidden, generator=gen, dtype=torch.float64))
    q = (q * torch.sign(torch.diagonal(r))[None, :]).float()  # Haar-distributed
    out = dict(folded)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        out[name] = folded[name] @ q
    for i in _llama_layers(folded):
        p = f"model.layers.{i}."
        for name in _READS_RESIDUAL:
            out[p + name + ".weight"] = folded[p + name + ".weight"] @ q
        for name in _WRITES_RESIDUAL:
            out[p + name + ".weight"] = q.T @ folded[p + name + ".weight"]
    out = permute_mlp("llama", out, seed + 1)
    return permute_heads("llama", out, seed + 2, heads, kv_heads)


def prune_width(state: State, keep: int) -> State:
    """LLaMA: Minitron-style width pruning: each block keeps the `keep` MLP units of largest weight norm,
    in their original order (what a pruner's index_select leaves)."""
    out = dict(state)
    for i in _llama_layers(state):
        p = f"model.layers.{i}.mlp."
        norms = state[p + "up_proj.weight"].norm(dim=1) * state[p + "down_proj.weight"].norm(dim=0)
        kept = torch.sort(torch.argsort(norms, descending=True)[:keep]).values
        for name in ("gate_proj", "up_proj"):
            out[p + name + ".weight"] = _permute(state[p + name + ".weight"], kept, 0)
        out[p + "down_proj.weight"] = _permute(state[p + "down_proj.weight"], kept, 1)
    return out


def quant_dequant(state: State, bits: int, group: int | None) -> State:
    """Integer quantise-dequantise of every matrix (bitsandbytes / GPTQ-RTN style round to nearest):
    symmetric absmax scales per row (`group` None) or per group of `group` columns. Vectors stay."""
    levels = 2 ** (bits - 1) - 1
    out = {}
    for name, w in state.items():
        if w.dim() != 2:
            out[name] = w.clone()
            continue
        g = w.reshape(w.shape[0], -1, group) if group else w[:, None, :]
        scale = g.abs().amax(-1, keepdim=True).clamp_min(1e-12) / levels
        out[name] = (torch.round(g / scale).clamp(-levels, levels) * scale).reshape(w.shape).contiguous()
    return out


def transpose_matrices(state: State) -> State:
    """Every linear weight stored [in, out] (a runtime's re-save, nanoGPT / Conv1D style); embeddings
    and the head keep their [vocab, hidden] rows."""
    keep = {"model.embed_tokens.weight", "lm_head.weight"}
    return {k: (v.T.contiguous() if v.dim() == 2 and k not in keep else v.clone()) for k, v in state.items()}


#: InternLM2's names for the LLaMA tensors it keeps apart (its conversion scripts' map)
_INTERNLM2_NAMES = {"input_layernorm": "attention_norm", "self_attn.o_proj": "attention.wo",
                    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "feed_forward.w1",
                    "mlp.up_proj": "feed_forward.w3", "mlp.down_proj": "feed_forward.w2"}


def fuse_qkv_internlm2(state: State, heads: int, kv_heads: int) -> State:
    """LLaMA re-saved the way InternLM2 lays it out: q/k/v fused into `attention.wqkv`, per key/value group
    [the group's q heads; k; v] (head_dim rows each), and InternLM2's other names. The same weights."""
    hidden = state["model.embed_tokens.weight"].shape[1]
    hd = hidden // heads
    out = {"model.tok_embeddings.weight": state["model.embed_tokens.weight"].clone(),
           "model.norm.weight": state["model.norm.weight"].clone(), "output.weight": state["lm_head.weight"].clone()}
    for i in _llama_layers(state):
        p = f"model.layers.{i}."
        out.update({f"{p}{new}.weight": state[f"{p}{old}.weight"].clone() for old, new in _INTERNLM2_NAMES.items()})
        q = state[p + "self_attn.q_proj.weight"].reshape(kv_heads, heads // kv_heads * hd, hidden)
        k, v = (state[p + f"self_attn.{x}_proj.weight"].reshape(kv_heads, hd, hidden) for x in "kv")
        out[p + "attention.wqkv.weight"] = torch.cat([q, k, v], 1).reshape(-1, hidden).contiguous()
    return out


def fuse_phi3(state: State) -> State:
    """LLaMA re-saved the way Phi-3 lays it out: `self_attn.qkv_proj` = [q; k; v] and `mlp.gate_up_proj` =
    [gate; up], stacked whole (contiguous), every other name kept. The same weights."""
    out = {k: v.clone() for k, v in state.items() if not re.search(r"\.(self_attn\.[qkv]|mlp\.(gate|up))_proj\.", k)}
    for i in _llama_layers(state):
        p = f"model.layers.{i}."
        out[p + "self_attn.qkv_proj.weight"] = torch.cat([state[p + f"self_attn.{x}_proj.weight"] for x in "qkv"])
        out[p + "mlp.gate_up_proj.weight"] = torch.cat([state[p + f"mlp.{x}_proj.weight"] for x in ("gate", "up")])
    return out
