"""Small real checkpoints written by the tests: safetensors (single, sharded), torch pickles, GGUF, adapters.

Each builder writes a folder laid out like a Hub repository, so the same folder can be read locally
and served by the fake Hub.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "num_hidden_layers": 2}


def llama_tensors(layers: int = 2, hidden: int = 16, vocab: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden), dtype=np.float32)}
    for i in range(layers):
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = rng.standard_normal((hidden, hidden), dtype=np.float32)
        tensors[f"model.layers.{i}.mlp.up_proj.weight"] = rng.standard_normal((2 * hidden, hidden)).astype(np.float16)
        tensors[f"model.layers.{i}.input_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
    return tensors


def write_config(folder: Path, config: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or CONFIG, indent=2, sort_keys=True))


def single_safetensors(folder: Path, tensors: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    tensors = tensors if tensors is not None else llama_tensors()
    write_config(folder)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return tensors


def sharded_safetensors(folder: Path, shards: int, *, rows_per_shard: int = 4, row_bytes: int = 1024,
                        seed: int = 0) -> dict[str, np.ndarray]:
    """`shards` files of about rows_per_shard*row_bytes*2 bytes each plus model.safetensors.index.json."""
    write_config(folder)
    rng = np.random.default_rng(seed)
    cols = row_bytes // 4
    weight_map, everything = {}, {}
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {
            f"model.layers.{s}.mlp.up_proj.weight": rng.standard_normal((rows_per_shard, cols), dtype=np.float32),
            f"model.layers.{s}.mlp.down_proj.weight": rng.standard_normal((rows_per_shard, cols), dtype=np.float32),
            f"model.layers.{s}.input_layernorm.weight": np.ones(cols, dtype=np.float32),
        }
        save_file(part, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
        everything.update(part)
    index = {"metadata": {"total_size": sum(a.nbytes for a in everything.values())}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return everything


def torch_bin(folder: Path, *, shards: int = 2) -> dict[str, str]:
    """A sharded `pytorch_model-*.bin` checkpoint written by torch.save (zip format) with its index."""
    import torch

    write_config(folder)
    weight_map = {}
    for s in range(shards):
        name = f"pytorch_model-{s + 1:05d}-of-{shards:05d}.bin"
        part = {f"model.layers.{s}.mlp.up_proj.weight": torch.ones(4, 4), f"model.layers.{s}.bias": torch.zeros(4)}
        torch.save(part, folder / name)
        weight_map.update({k: name for k in part})
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return weight_map


def gguf_file(path: Path, *, vocab: int = 300, rows: int = 64, token_types: bool = False) -> dict[str, np.ndarray]:
    """A small llama GGUF: an F32 norm, an F16 `rows`x32 matrix, a Q8_0 matrix and a tokenizer vocabulary
    (with `token_types`, an int32 type per token after it, as llama.cpp's converter writes)."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("tiny gguf")
    writer.add_block_count(1)
    writer.add_context_length(128)
    writer.add_license("apache-2.0")
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    if token_types:
        writer.add_token_types([1 + i % 3 for i in range(vocab)])
    rng = np.random.default_rng(1)
    tensors = {
        "blk.0.attn_norm.weight": np.ones(32, dtype=np.float32),
        "blk.0.ffn_up.weight": rng.standard_normal((rows, 32)).astype(np.float16),
    }
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    q8 = rng.standard_normal((8, 64)).astype(np.float32)
    tensors["blk.0.ffn_down.weight"] = q8
    writer.add_tensor("blk.0.ffn_down.weight", gguf.quants.quantize(q8, gguf.GGMLQuantizationType.Q8_0),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


def gguf_with_empty_tensor(path: Path) -> Path:
    """A llama GGUF whose attention bias has zero elements (F32[0]), beside a norm and an F16 matrix."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float32))
    writer.add_tensor("blk.0.ffn_up.weight", np.random.default_rng(0).standard_normal((64, 32)).astype(np.float16))
    writer.add_tensor("blk.0.attn_q.bias", np.zeros(0, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def adapter(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((4, 16), dtype=np.float32),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((16, 4), dtype=np.float32),
    }
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "peft_type": "LORA", "r": 4,
         "target_modules": ["q_proj"]}))
    return tensors


def lfs_pointer(path: Path, sha256: str, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")


def raw_safetensors(path: Path, header: dict | bytes, data: bytes = b"", *, header_len: int | None = None) -> Path:
    """A safetensors file written byte by byte, so tests can make it as wrong as they like."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if header_len is None else header_len
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", n) + raw + data)
    return path


class SystemCall:
    """Pickles into a call of os.system(command): what a malicious checkpoint does on torch.load."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def malicious_pickle(path: Path, marker: Path) -> Path:
    """A pickle (protocol 2) whose loading would create `marker`; nothing here ever loads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weight": SystemCall(f"touch {marker}")}, protocol=2))
    return path
