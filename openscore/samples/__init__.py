"""Embedded sample models, generated on demand so a fresh machine can run a full audit offline.

The weights are produced from fixed seeds (byte-identical on every machine); cards and licences are
shipped as package data beside this module. `tiny-llama` is an honest small base model;
`tiny-llama-shell` is its weights with two tensor kinds renamed, re-released under another licence
and claimed as trained from scratch: the case openscore exists to catch.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from openscore.atomic import write_bytes

SAMPLE_NAMES = ("tiny-llama", "tiny-llama-shell")

_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 172,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 4,
    "vocab_size": 512,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}

_RENAMES = {"input_layernorm": "ln1", "post_attention_layernorm": "ln2"}


def _llama_tensors(seed: int) -> dict[str, np.ndarray]:
    c = _CONFIG
    h, inter, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    head_dim = h // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * head_dim
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    tensors = {"model.embed_tokens.weight": mat(v, h), "lm_head.weight": mat(v, h)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors[p + "self_attn.q_proj.weight"] = mat(h, h)
        tensors[p + "self_attn.k_proj.weight"] = mat(kv, h)
        tensors[p + "self_attn.v_proj.weight"] = mat(kv, h)
        tensors[p + "self_attn.o_proj.weight"] = mat(h, h)
        tensors[p + "mlp.gate_proj.weight"] = mat(inter, h)
        tensors[p + "mlp.up_proj.weight"] = mat(inter, h)
        tensors[p + "mlp.down_proj.weight"] = mat(h, inter)
        tensors[p + "input_layernorm.weight"] = (1 + 0.05 * rng.standard_normal(h)).astype(np.float32)
        tensors[p + "post_attention_layernorm.weight"] = (1 + 0.05 * rng.standard_normal(h)).astype(np.float32)
    tensors["model.norm.weight"] = np.ones(h, dtype=np.float32)
    return tensors


def _write_sample(name: str, dest: Path) -> None:
    tensors = _llama_tensors(seed=20231105)
    config = dict(_CONFIG)
    if name == "tiny-llama-shell":
        tensors = {_rename(k): v for k, v in tensors.items()}
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, dest / "model.safetensors")
    write_bytes(dest / "config.json", (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    shipped = resources.files(__package__) / name
    for item in shipped.iterdir():
        if item.is_file():
            write_bytes(dest / item.name, item.read_bytes())


def _rename(key: str) -> str:
    for old, new in _RENAMES.items():
        key = key.replace(f".{old}.", f".{new}.")
    return key


def cache_dir() -> Path:
    base = os.environ.get("OPENSCORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "openscore"
    )
    return Path(base) / "samples"


def materialize(name: str, root: Path | None = None) -> Path:
    """Write sample `name` (if not already there) and return its folder."""
    if name not in SAMPLE_NAMES:
        from openscore.errors import UsageError

        raise UsageError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLE_NAMES)}")
    dest = (root or cache_dir()) / name
    marker = dest / ".complete"
    if not marker.exists():
        staging = dest.with_name(f".{name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        _write_sample(name, staging)
        (staging / ".complete").write_text("1\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(staging, dest)
    return dest
