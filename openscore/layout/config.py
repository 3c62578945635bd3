"""One config vocabulary across families: config.json (any spelling) or GGUF metadata in, the
same fields out, so geometry can be compared between a LLaMA, a Falcon and a GGUF file."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from openscore.layout.roles import FamilySpec, RoleMap

#: fields that fix tensor shapes: two checkpoints of equal geometry agree on all of them
STRUCTURAL_FIELDS = (
    "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size",
    "vocab_size", "num_experts", "expert_intermediate_size", "shared_expert_intermediate_size", "tied_embeddings",
)


class NormalisedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None  # width of one MLP branch (per expert for MoE)
    vocab_size: int | None = None
    type_vocab_size: int | None = None
    max_positions: int | None = None
    rope_theta: float | None = None
    rope_scaling: dict[str, Any] | None = None
    tied_embeddings: bool | None = None
    norm_type: Literal["rmsnorm", "layernorm"] | None = None
    norm_eps: float | None = None
    activation: str | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    expert_intermediate_size: int | None = None  # when the experts are narrower than the dense MLP (Qwen-MoE)
    shared_expert_intermediate_size: int | None = None  # all shared experts of a block together

    def symbols(self) -> dict[str, int]:
        """The shape symbols of roles.yaml that this config determines."""
        out: dict[str, int] = {}
        pairs = {
            "hidden": self.hidden_size, "vocab": self.vocab_size, "positions": self.max_positions,
            "experts": self.num_experts, "type_vocab": self.type_vocab_size, "ffn": self.intermediate_size,
        }
        out.update({k: v for k, v in pairs.items() if v is not None})
        if self.intermediate_size is not None:
            out["ffn2"] = 2 * self.intermediate_size
        expert_ffn = self.expert_intermediate_size or self.intermediate_size
        if expert_ffn is not None:
            out["expert_ffn"] = expert_ffn
        if self.shared_expert_intermediate_size is not None:
            out["shared_ffn"] = self.shared_expert_intermediate_size
        if self.head_dim:
            out["head_dim"] = self.head_dim
        if self.num_heads and self.head_dim:
            out["q_dim"] = self.num_heads * self.head_dim
            kv = self.num_kv_heads or self.num_heads
            out["kv_dim"] = kv * self.head_dim
            out["qkv_dim"] = out["q_dim"] + 2 * out["kv_dim"]
        return out

    def structural(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in STRUCTURAL_FIELDS}


def _lookup(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _first_nested(data: dict, keys: list[str]) -> Any:
    for key in keys:
        value = _lookup(data, key)
        if value is not None:
            return value
    return None


def _first_flat(data: dict, keys: list[str], arch: str) -> Any:
    """GGUF keys contain dots but are flat: `llama.attention.head_count`."""
    for key in keys:
        value = data.get(key.replace("{arch}", arch))
        if value is not None:
            return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and math.isfinite(value) and float(value).is_integer() and value > 0:
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None  # JSON's 1e400 parses to inf: not a value a report can carry
    return float(value)


def _finite_mapping(value: Any) -> dict[str, Any] | None:
    """`rope_scaling` as given, unless it is no mapping or holds a non-finite number."""
    if not isinstance(value, dict):
        return None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


def normalise_config(
    config: dict | None,
    role_map: RoleMap,
    family: FamilySpec | None,
    gguf_metadata: dict[str, object] | None = None,
) -> NormalisedConfig:
    """Read the geometry from config.json, or from GGUF metadata when there is no config."""
    raw: dict[str, Any] = {}
    if config:
        for field, keys in role_map.spec.config_keys.items():
            raw[field] = _first_nested(config, keys)
        if raw.get("num_kv_heads") is None and (config.get("multi_query") is True):
            raw["num_kv_heads"] = 1  # falcon-7b: one shared key/value head
    elif gguf_metadata:
        arch = gguf_metadata.get("general.architecture")
        if isinstance(arch, str):
            for field, keys in role_map.spec.gguf_keys.items():
                raw[field] = _first_flat(gguf_metadata, keys, arch)

    hidden = _as_int(raw.get("hidden_size"))
    heads = _as_int(raw.get("num_heads"))
    head_dim = _as_int(raw.get("head_dim")) or (hidden // heads if hidden and heads and hidden % heads == 0 else None)
    ffn = _as_int(raw.get("intermediate_size"))
    if ffn is not None and family is not None and family.ffn_scale:
        ffn = int(ffn * family.ffn_scale)
    if ffn is None and hidden:
        ratio = _as_float(raw.get("ffn_ratio")) or (family.ffn_ratio if family else None)
        ffn = int(ratio * hidden) if ratio else None
    # class defaults fill what a config.json leaves out; GGUF files state what they mean
    defaults = family.defaults if family and config else {}
    expert_ffn = _as_int(raw.get("expert_intermediate_size"))
    shared_ffn = _as_int(raw.get("shared_expert_intermediate_size"))
    shared_count = _as_int(raw.get("num_shared_experts"))
    if shared_ffn is None and shared_count and expert_ffn:
        shared_ffn = shared_count * expert_ffn  # DeepSeek-MoE: n_shared_experts fused in one MLP
    tied = raw.get("tied_embeddings")
    rope_scaling = raw.get("rope_scaling")
    activation = raw.get("activation")
    return NormalisedConfig(
        hidden_size=hidden,
        num_layers=_as_int(raw.get("num_layers")),
        num_heads=heads,
        num_kv_heads=_as_int(raw.get("num_kv_heads")) or heads,
        head_dim=head_dim,
        intermediate_size=ffn,
        vocab_size=_as_int(raw.get("vocab_size")),
        type_vocab_size=_as_int(raw.get("type_vocab_size")),
        max_positions=_as_int(raw.get("max_positions")),
        rope_theta=_as_float(raw.get("rope_theta")) or _as_float(defaults.get("rope_theta")),
        rope_scaling=_finite_mapping(rope_scaling),
        tied_embeddings=tied if isinstance(tied, bool) else defaults.get("tied_embeddings"),
        norm_type=family.norm if family else None,
        norm_eps=_as_float(raw.get("norm_eps")),
        activation=activation if isinstance(activation, str) else (family.activation if family else None),
        num_experts=_as_int(raw.get("num_experts")),
        experts_per_token=_as_int(raw.get("experts_per_token")),
        expert_intermediate_size=expert_ffn,
        shared_expert_intermediate_size=shared_ffn,
    )
