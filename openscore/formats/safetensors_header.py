"""Safetensors headers: read with two small ranged reads, validated as untrusted input.

Layout: 8-byte little-endian header length N, N bytes of JSON, then the tensor data. The JSON maps
tensor names to `{dtype, shape, data_offsets}` relative to the data section. The checks here are the
ones the Rust loader makes plus the ones nobody makes (duplicate names); huggingface_hub's parser
makes almost none. The same pure functions check local files and Hub Range reads.
"""

from __future__ import annotations

import math
import operator
import struct
from dataclasses import dataclass

from openscore.errors import InvalidCheckpoint
from openscore.formats import strict_json
from openscore.formats.records import TensorRecord
from openscore.sources.base import Source

#: the Rust loader's cap; a larger header is a memory bomb, not a model
MAX_HEADER_BYTES = 100_000_000
#: first ranged read: most headers fit, so one request per file (hf reads 100 kB; 64 KiB suffices for ~600 tensors)
FIRST_READ_BYTES = 64 * 1024

#: element width in bits for every dtype safetensors 0.8 knows (sub-byte floats included)
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F8_E8M0": 8,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "U16": 16, "I16": 16, "F16": 16, "BF16": 16,
    "U32": 32, "I32": 32, "F32": 32,
    "U64": 64, "I64": 64, "F64": 64, "C64": 64,
}
_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})


@dataclass(frozen=True)
class SafetensorsHeader:
    file: str
    header_len: int
    tensors: tuple[TensorRecord, ...]  # in data order; start/end are absolute file offsets
    metadata: dict[str, str]


def header_length(prefix: bytes, file_size: int, file: str) -> int:
    """The JSON length announced by the first 8 bytes, bounded before anything is allocated."""
    if file_size < 8 or len(prefix) < 8:
        raise InvalidCheckpoint(f"{file}: {file_size} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise InvalidCheckpoint(f"{file}: header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if n > file_size - 8:
        raise InvalidCheckpoint(f"{file}: header length {n} runs past the end of the {file_size}-byte file")
    if n < 2:
        raise InvalidCheckpoint(f"{file}: header length {n} is too small for a JSON object")
    return n


def parse_header(raw: bytes, file_size: int, file: str) -> SafetensorsHeader:
    """Validate the header JSON `raw` (exactly N bytes) of a file of `file_size` bytes."""
    n = len(raw)
    if not raw.startswith(b"{"):
        raise InvalidCheckpoint(f"{file}: header does not start with '{{' (not a safetensors file)")
    doc = strict_json.loads(raw, f"{file} header")
    if not isinstance(doc, dict):
        raise InvalidCheckpoint(f"{file}: header is not a JSON object")

    metadata = doc.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidCheckpoint(f"{file}: __metadata__ must map strings to strings")

    data_start = 8 + n
    data_size = file_size - data_start
    spans = []
    for name, info in doc.items():
        spans.append((*_tensor_span(file, name, info), name, info))
    spans.sort(key=operator.itemgetter(0, 1))

    records = []
    expected = 0
    for begin, end, name, info in spans:
        if begin != expected:
            what = "overlaps the previous tensor" if begin < expected else f"leaves a gap after offset {expected}"
            raise InvalidCheckpoint(f"{file}: tensor {name!r} at data offset {begin} {what}")
        expected = end
        records.append(
            TensorRecord(name=name, file=file, dtype=info["dtype"], shape=tuple(info["shape"]),
                         start=data_start + begin, end=data_start + end)
        )
    if expected != data_size:
        if expected > data_size:
            raise InvalidCheckpoint(f"{file}: truncated: tensors need {expected} data bytes, file has {data_size}")
        raise InvalidCheckpoint(f"{file}: {data_size - expected} trailing bytes after the last tensor")
    return SafetensorsHeader(file=file, header_len=n, tensors=tuple(records), metadata=dict(metadata))


def _tensor_span(file: str, name: str, info: object) -> tuple[int, int]:
    """(begin, end) data offsets of one tensor entry, after checking its dtype and shape agree with them."""
    if not name:
        raise InvalidCheckpoint(f"{file}: empty tensor name")
    if type(info) is not dict or info.keys() != _TENSOR_KEYS:
        raise InvalidCheckpoint(f"{file}: tensor {name!r} must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if type(dtype) is not str or dtype not in DTYPE_BITS:
        raise InvalidCheckpoint(f"{file}: tensor {name!r} has unknown dtype {dtype!r}")
    if type(shape) is not list or not all(map(_is_count, shape)):
        raise InvalidCheckpoint(f"{file}: tensor {name!r} shape must be a list of non-negative integers")
    if type(offsets) is not list or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise InvalidCheckpoint(f"{file}: tensor {name!r} data_offsets must be two non-negative integers")
    begin, end = offsets
    if end < begin:
        raise InvalidCheckpoint(f"{file}: tensor {name!r} ends ({end}) before it starts ({begin})")
    bits = DTYPE_BITS[dtype] * math.prod(shape)
    if bits % 8 or bits // 8 != end - begin:
        raise InvalidCheckpoint(
            f"{file}: tensor {name!r} is {dtype}{shape} ({bits / 8:g} bytes) but its offsets span {end - begin} bytes"
        )
    return begin, end


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0  # parsed JSON: an int is an int, a bool a bool


def read_header(source: Source, path: str, file_size: int) -> tuple[SafetensorsHeader, int]:
    """Read and validate the header of `path` through `source`; returns it and the bytes read.

    One ranged read covers most headers; a larger header costs exactly one more.
    """
    first = source.read_range(path, 0, min(file_size, 8 + FIRST_READ_BYTES))
    n = header_length(first, file_size, path)
    raw = first[8 : 8 + n]
    read = len(first)
    if len(raw) < n:
        rest = source.read_range(path, 8 + len(raw), n - len(raw))
        raw += rest
        read += len(rest)
    return parse_header(raw, file_size, path), read
