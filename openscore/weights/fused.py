"""Fused projections split by the config: which rows of a fused q/k/v or gate/up matrix hold each part.

A fused matrix ([out, in] orientation) stacks its parts along the output axis, in one of two row orders
(roles.yaml `fused`, per naming scheme; contiguous unless the scheme says otherwise):
  * contiguous: [q; k; v] (GPT-2 c_attn, Phi Wqkv, Phi-3 qkv_proj, Baichuan W_pack, MPT Wqkv, ChatGLM2, Qwen-1
    c_attn) and [gate; up] (Phi-3 gate_up_proj, ChatGLM2 dense_h_to_4h);
  * grouped: per key/value group g, [the q heads of g; k_g; v_g], head_dim rows each (InternLM2 wqkv; GPT-NeoX,
    BLOOM and ChatGLM-6B query_key_value, one head per group; Falcon query_key_value).
The fingerprint sketches each part as a tensor of its own role (attn_q, attn_k, attn_v, mlp_gate, mlp_up), so a
fused checkpoint compares role by role with a split one (and with another fused one).
"""

from __future__ import annotations

import numpy as np

#: fused roles and the roles of their parts, in stacking order
PARTS: dict[str, tuple[str, ...]] = {"attn_qkv": ("attn_q", "attn_k", "attn_v"), "mlp_gate_up": ("mlp_gate", "mlp_up")}


def part_rows(role: str, order: str, symbols: dict[str, int], rows: int) -> list[tuple[str, np.ndarray]] | None:
    """[(part role, rows of the fused [out, in] matrix in the part's own order)], or None when the config does
    not determine the split or its sizes do not add up to the matrix's `rows` (then it stays fused)."""
    if role == "mlp_gate_up":
        ffn = symbols.get("ffn")
        if not ffn or rows != 2 * ffn:
            return None
        return [("mlp_gate", np.arange(ffn)), ("mlp_up", np.arange(ffn, 2 * ffn))]
    if role != "attn_qkv":
        return None
    q, kv, hd = symbols.get("q_dim"), symbols.get("kv_dim"), symbols.get("head_dim")
    if not q or not kv or not hd or rows != q + 2 * kv or q % hd or kv % hd:
        return None
    if order == "contiguous":
        return [("attn_q", np.arange(q)), ("attn_k", q + np.arange(kv)), ("attn_v", q + kv + np.arange(kv))]
    groups = kv // hd
    if (q // hd) % groups:
        return None
    rep = q // hd // groups
    start = np.arange(groups)[:, None] * (rep + 2) * hd  # first row of each group
    span = np.arange(hd)[None, :]
    q_rows = (start[:, None, :] + np.arange(rep)[None, :, None] * hd + span[None]).reshape(-1)
    k_rows = (start + rep * hd + span).reshape(-1)
    return [("attn_q", q_rows), ("attn_k", k_rows), ("attn_v", k_rows + hd)]
