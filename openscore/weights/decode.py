"""Turn the raw bytes of a tensor (or of a run of its rows) into float32 values on a torch device.

BF16 and FP8 have no numpy dtype, so bytes are viewed with torch. GGUF block-quantised types are
dequantised with gguf-py's reference `gguf.quants.dequantize`. Integer tensors (masks, position
ids, packed int4 of GPTQ/AWQ) are not weights this module can read as values: they get content
hashes only.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from openscore.errors import InvalidCheckpoint

#: safetensors / GGUF float dtype name -> torch dtype of the stored elements
FLOAT_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


def _gguf_qtype(dtype: str):
    from gguf import GGMLQuantizationType

    try:
        return GGMLQuantizationType[dtype]
    except KeyError:
        return None


def is_readable(dtype: str | None) -> bool:
    """True when values (not only bytes) can be decoded: floats and GGUF quantised types."""
    if dtype is None:
        return False
    if dtype in FLOAT_DTYPES:
        return True
    qtype = _gguf_qtype(dtype)
    return qtype is not None and dtype not in ("I8", "I16", "I32", "I64")


#: 8-bit integer dtypes that stand for floats through a scale and zero point (records.Dequant)
INT8_DTYPES = {"I8": np.int8, "U8": np.uint8}


def _block(dtype: str) -> tuple[int, int]:
    """(elements, bytes) of the smallest unit a row is stored in: one element, or one GGUF quantisation block."""
    if dtype in FLOAT_DTYPES:
        return 1, FLOAT_DTYPES[dtype].itemsize
    if dtype in INT8_DTYPES:
        return 1, 1
    from gguf import GGML_QUANT_SIZES

    qtype = _gguf_qtype(dtype)
    if qtype is None:
        raise InvalidCheckpoint(f"unsupported tensor dtype {dtype!r}")
    return GGML_QUANT_SIZES[qtype]


def row_bytes(dtype: str, cols: int) -> int:
    """Bytes one row of `cols` elements takes; GGUF rows are whole quantisation blocks."""
    block, size = _block(dtype)
    if cols % block:
        raise InvalidCheckpoint(f"{dtype} row of {cols} elements is not a whole number of {block}-element blocks")
    return cols // block * size


def col_span(dtype: str, start: int, stop: int) -> tuple[int, int]:
    """Byte offsets within a stored row of the whole blocks that hold columns start..stop-1."""
    block, size = _block(dtype)
    return start // block * size, -(-stop // block) * size


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols): the first dimension against the rest; a vector is one row."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], math.prod(shape[1:])


def decode_rows(buf, dtype: str, rows: int, cols: int, device: str, dequant=None, first_row: int = 0) -> torch.Tensor:
    """`rows` x `cols` float32 values from `buf` (bytes-like holding exactly those rows, the first being row
    `first_row` of the tensor); an 8-bit integer tensor with a `dequant` (records.Dequant) reads as
    (q - zero_point) * scale."""
    expected = rows * row_bytes(dtype, cols)
    if len(buf) != expected:
        raise InvalidCheckpoint(f"tensor data is {len(buf)} bytes, {dtype} [{rows}, {cols}] needs {expected}")
    if dtype in INT8_DTYPES and dequant is not None:
        q = np.frombuffer(buf, dtype=INT8_DTYPES[dtype]).reshape(rows, cols).astype(np.float32)
        zero = np.asarray(dequant.zero_point, dtype=np.float32)
        scale = np.asarray(dequant.scale, dtype=np.float32)
        if scale.size > 1 and dequant.axis == 0:  # one scale per row: those of the rows held here
            scale = scale[first_row : first_row + rows, None]
            zero = zero[first_row : first_row + rows, None] if zero.size > 1 else zero
        return torch.from_numpy((q - zero) * scale).to(device)
    if dtype in FLOAT_DTYPES:
        if expected == 0:
            return torch.zeros((rows, cols), dtype=torch.float32, device=device)
        raw = torch.frombuffer(buf, dtype=torch.uint8).to(device)
        return raw.view(FLOAT_DTYPES[dtype]).reshape(rows, cols).float()
    from gguf.quants import dequantize

    packed = np.frombuffer(buf, dtype=np.uint8).reshape(rows, -1)
    values = dequantize(packed, _gguf_qtype(dtype)).reshape(rows, cols)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)
