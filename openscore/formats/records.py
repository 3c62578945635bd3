"""What reading a checkpoint's headers yields, before any weight is loaded.

Produced by openscore.formats (safetensors, pickle index, GGUF readers); consumed by the layout
fingerprint (names, shapes, dtypes) and by the weight fingerprint (byte ranges to read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WeightFormat = Literal["safetensors", "pickle", "gguf", "onnx"]


@dataclass(frozen=True)
class Dequant:
    """How an integer tensor's values read as floats: (q - zero_point) * scale, one scale per tensor or per
    column of its stored [rows, cols] (ONNX dynamic quantisation)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 1  # the stored axis the scales run along when there are several (0: rows, 1: columns)


@dataclass(frozen=True)
class TensorRecord:
    name: str  # as stored in the file
    file: str  # repo-relative path of the file holding it
    dtype: str | None  # safetensors dtype ("F32", "BF16", "F16", "I8", ...) or GGUF type name ("Q4_0", "F16")
    shape: tuple[int, ...] | None  # None when only an index names the tensor (pickle, or pointer-only files)
    start: int | None = None  # absolute byte offset of the data in `file` (None when unknown)
    end: int | None = None  # absolute end offset (exclusive)
    dequant: Dequant | None = None  # an integer tensor that stands for floats (ONNX int8 weights)
    transposed: bool = False  # stored [in, out] whatever its name says (ONNX MatMul's B)


@dataclass(frozen=True)
class PickleScan:
    """Static scan result of one pickle-based file (never unpickled)."""

    file: str
    dangerous: tuple[str, ...]  # "module.name" globals judged dangerous (e.g. "posix.system")
    suspicious: tuple[str, ...]
    error: str | None = None  # the scanner could not parse it: treated as suspicious, never as clean


@dataclass
class CheckpointHeaders:
    """Every tensor of every weight file, plus what the repo says about itself."""

    tensors: list[TensorRecord]
    formats: list[WeightFormat]  # weight formats present, in order of preference used
    config: dict | None  # parsed config.json (None when absent)
    index: dict | None = None  # parsed *.index.json weight_map when one exists
    file_metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # safetensors __metadata__ per file
    gguf_metadata: dict[str, object] = field(default_factory=dict)  # GGUF key/values (scalars only)
    pickle_scans: list[PickleScan] = field(default_factory=list)
    weights_absent: bool = False  # weights are LFS pointers only: names/shapes from index + config
    adapter: dict | None = None  # adapter_config.json when the repo is an adapter (LoRA)
    bytes_read: int = 0  # bytes transferred to read these headers (Hub) or read from disk
