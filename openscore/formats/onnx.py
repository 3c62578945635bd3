"""ONNX initializers as tensor records, by a bounded protobuf walk (no `onnx` package, no graph executed).

An ONNX file is one protobuf `ModelProto`; its weights are the `initializer` TensorProtos of the graph,
each with a name, dims, a data type and its bytes inline (`raw_data`, or packed `float_data`) or in an
external file (`external_data`: location, offset, length). This reader walks only those fields, by
ranged reads through a small window, and records where each tensor's bytes are: nothing is decoded here
and the graph's nodes are skipped by their length. Every length is checked against its enclosing
message and the file, names and counts are capped, and external data must stay in the model's folder.

Exporters name linear weights after the graph (`onnx::MatMul_470`, `val_49`): the nodes are read too
(inputs, outputs, op type, Gemm's transB) to give such a weight the name of the bias its MatMul output is
added to (`...query.bias` -> `...query.weight`) and to mark MatMul's B as stored [in, out].
Integer initializers from quantisation (`W_quantized` / `W_q` with `W_scale` and, when asymmetric,
`W_zero_point`) carry their scales, so the fingerprint reads (q - zero_point) * scale.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import numpy as np

from openscore.errors import InvalidCheckpoint
from openscore.formats.records import Dequant, TensorRecord
from openscore.sources.base import Source

#: TensorProto.data_type -> dtype name (safetensors spelling)
DTYPES = {1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL", 10: "F16", 11: "F64",
          12: "U32", 13: "U64", 16: "BF16"}
_ITEMSIZE = {"F32": 4, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "I32": 4, "I64": 8, "BOOL": 1, "F16": 2, "F64": 8,
             "U32": 4, "U64": 8, "BF16": 2}
#: caps on what a file may declare (a real model has a few thousand initializers)
MAX_INITIALIZERS = 200_000
MAX_NAME_BYTES = 4096
MAX_DIMS = 8
MAX_NODES = 1_000_000
#: ops a weight passes through between its initializer and the MatMul that uses it
_PASS_THROUGH = frozenset({"DequantizeLinear", "Cast", "Mul", "Identity", "Reshape", "Transpose"})
#: scales and zero points up to this size are read, so quantised weights can be read as floats
SMALL_TENSOR_BYTES = 1 << 20
_QUANT_PARAMS = ("_scale", "_zero_point", "_zp")
#: bytes fetched per window of the walk
WINDOW = 1 << 16

_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_INITIALIZER = 7, 1, 5
_T_DIMS, _T_TYPE, _T_FLOAT, _T_NAME, _T_RAW, _T_EXTERNAL, _T_LOCATION = 1, 2, 4, 8, 9, 13, 14


@dataclass(frozen=True)
class ONNXHeader:
    file: str
    tensors: tuple[TensorRecord, ...]
    metadata: dict[str, object]


class _Walker:
    """Protobuf fields of one message, read through a window of ranged reads."""

    def __init__(self, source: Source, path: str, size: int):
        self.source, self.path, self.size = source, path, size
        self.bytes_read = 0
        self._base, self._buf = 0, b""

    def bytes(self, start: int, length: int) -> bytes:
        if start < 0 or length < 0 or start + length > self.size:
            raise InvalidCheckpoint(f"{self.path}: ONNX field runs past the end of the file")
        if not (self._base <= start and start + length <= self._base + len(self._buf)):
            want = max(length, min(WINDOW, self.size - start))
            self._buf = self.source.read_range(self.path, start, want)
            self._base = start
            self.bytes_read += len(self._buf)
            if len(self._buf) != want:
                raise InvalidCheckpoint(f"{self.path}: short read at byte {start}")
        return self._buf[start - self._base : start - self._base + length]

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        value = shift = 0
        for i in range(10):
            if pos + i >= end:
                raise InvalidCheckpoint(f"{self.path}: truncated varint at byte {pos}")
            byte = self.bytes(pos + i, 1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, pos + i + 1
            shift += 7
        raise InvalidCheckpoint(f"{self.path}: varint longer than 10 bytes at byte {pos}")

    def fields(self, start: int, end: int):
        """(field number, wire type, value or (offset, length)) of every field in [start, end)."""
        pos = start
        while pos < end:
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield number, wire, value
            elif wire == 1 or wire == 5:
                width = 8 if wire == 1 else 4
                if pos + width > end:
                    raise InvalidCheckpoint(f"{self.path}: truncated fixed-width field at byte {pos}")
                yield number, wire, (pos, width)
                pos += width
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if pos + length > end:
                    raise InvalidCheckpoint(f"{self.path}: field {number} runs past its message at byte {pos}")
                yield number, wire, (pos, length)
                pos += length
            else:
                raise InvalidCheckpoint(f"{self.path}: not an ONNX model (protobuf wire type {wire} at byte {pos})")


def _packed_ints(walker: _Walker, start: int, length: int) -> list[int]:
    out, pos, end = [], start, start + length
    while pos < end:
        value, pos = walker.varint(pos, end)
        out.append(value - (1 << 64) if value >= 1 << 63 else value)
        if len(out) > MAX_DIMS:
            break
    return out


@dataclass
class _Init:
    name: str
    dims: list[int]
    dtype: str | None
    file: str
    start: int | None
    length: int | None


def _initializer(walker: _Walker, start: int, length: int, folder: str) -> _Init:
    name, dims, dtype, data, external, location = "", [], None, None, {}, 0
    for number, wire, value in walker.fields(start, start + length):
        if number == _T_DIMS:
            dims += _packed_ints(walker, *value) if wire == 2 else [value]
        elif number == _T_TYPE and wire == 0:
            dtype = DTYPES.get(value, f"onnx-type-{value}")
        elif number == _T_NAME and wire == 2:
            if value[1] > MAX_NAME_BYTES:
                raise InvalidCheckpoint(f"{walker.path}: initializer name longer than {MAX_NAME_BYTES} bytes")
            name = walker.bytes(*value).decode("utf-8", "replace")
        elif number in (_T_RAW, _T_FLOAT) and wire == 2:
            data = value  # packed float_data is little-endian F32, like raw_data
        elif number == _T_EXTERNAL and wire == 2:
            key = val = ""
            for n, w, v in walker.fields(*[value[0], value[0] + value[1]]):
                if w == 2 and v[1] <= MAX_NAME_BYTES and n in (1, 2):
                    text = walker.bytes(*v).decode("utf-8", "replace")
                    key, val = (text, val) if n == 1 else (key, text)
            external[key] = val
        elif number == _T_LOCATION and wire == 0:
            location = value
        if len(dims) > MAX_DIMS:
            raise InvalidCheckpoint(f"{walker.path}: initializer {name!r} has more than {MAX_DIMS} dimensions")
    if any(d < 0 for d in dims):
        raise InvalidCheckpoint(f"{walker.path}: initializer {name!r} has a negative dimension")
    if location == 1 or external:
        return _external(walker.path, folder, name, dims, dtype, external)
    start, length = data if data is not None else (None, None)
    return _Init(name, dims, dtype, walker.path, start, length)


def _external(path: str, folder: str, name: str, dims: list[int], dtype: str | None, ext: dict) -> _Init:
    """An initializer whose bytes live in another file of the model's folder (never outside it)."""
    location = ext.get("location", "")
    if not location or location.startswith("/") or "\\" in location or ".." in location.split("/"):
        raise InvalidCheckpoint(f"{path}: initializer {name!r}: external data location {location!r} leaves the model folder")
    try:
        offset = int(ext.get("offset", "0") or 0)
        length = int(ext["length"]) if "length" in ext else None
    except ValueError:
        raise InvalidCheckpoint(f"{path}: initializer {name!r}: external data offset/length not integers") from None
    if offset < 0 or (length is not None and length < 0):
        raise InvalidCheckpoint(f"{path}: initializer {name!r}: negative external data offset or length")
    return _Init(name, dims, dtype, posixpath.normpath(posixpath.join(folder, location)), offset, length)


def read_header(source: Source, path: str, size: int) -> tuple[ONNXHeader, int]:
    """Every initializer of the ONNX model at `path` as a TensorRecord, and the bytes read."""
    walker = _Walker(source, path, size)
    folder = posixpath.dirname(path)
    inits: list[_Init] = []
    graph = None
    meta: dict[str, object] = {}
    for number, wire, value in walker.fields(0, size):
        if number == _MODEL_GRAPH and wire == 2:
            graph = value
        elif number == 1 and wire == 0:
            meta["ir_version"] = value
        elif number == 2 and wire == 2 and value[1] <= MAX_NAME_BYTES:
            meta["producer_name"] = walker.bytes(*value).decode("utf-8", "replace")
    if graph is None:
        raise InvalidCheckpoint(f"{path}: not an ONNX model (no graph)")
    nodes: list[_Node] = []
    for number, wire, value in walker.fields(graph[0], graph[0] + graph[1]):
        if number == _GRAPH_INITIALIZER and wire == 2:
            inits.append(_initializer(walker, *value, folder))
            if len(inits) > MAX_INITIALIZERS:
                raise InvalidCheckpoint(f"{path}: more than {MAX_INITIALIZERS} initializers")
        elif number == _GRAPH_NODE and wire == 2:
            nodes.append(_node(walker, *value))
            if len(nodes) > MAX_NODES:
                raise InvalidCheckpoint(f"{path}: more than {MAX_NODES} nodes")
    names, stored_in_out = _weight_names(nodes, {i.name for i in inits})
    sizes = {f.path: f.size for f in source.inventory().files}
    records = []
    small: dict[str, np.ndarray] = {}
    for init in inits:
        record = _record(init, sizes, path)
        if record is None:
            continue
        if (record.end - record.start <= SMALL_TENSOR_BYTES and record.dtype in ("F32", "U8", "I8")
                and record.name.endswith(_QUANT_PARAMS)):
            raw = source.read_range(record.file, record.start, record.end - record.start)
            walker.bytes_read += len(raw)
            small[record.name] = np.frombuffer(raw, dtype={"F32": "<f4", "U8": "u1", "I8": "i1"}[record.dtype])
        records.append(record)
    records = [(r.name, _with_dequant(r, small)) for r in records]
    # scales and zero points folded into a weight's values are not tensors of their own
    folded = {r.name + suffix for _, r in records if r.dequant is not None for suffix in _QUANT_PARAMS}
    records = [(stored, r) for stored, r in records if stored not in folded]
    records = [TensorRecord(name=names.get(stored, r.name), file=r.file, dtype=r.dtype, shape=r.shape, start=r.start,
                            end=r.end, dequant=r.dequant, transposed=stored in stored_in_out) for stored, r in records]
    meta["initializers"] = len(records)
    return ONNXHeader(path, tuple(records), meta), walker.bytes_read


@dataclass
class _Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    trans_b: int = 0


def _node(walker: _Walker, start: int, length: int) -> _Node:
    node = _Node("", [], [])
    for number, wire, value in walker.fields(start, start + length):
        if wire != 2 or value[1] > MAX_NAME_BYTES:
            continue
        if number in (1, 2, 4):
            text = walker.bytes(*value).decode("utf-8", "replace")
            (node.inputs if number == 1 else node.outputs if number == 2 else [node]).append(text) if number != 4 \
                else setattr(node, "op", text)
        elif number == 5:  # AttributeProto: name 1, i 3
            name, i = "", 0
            for n, w, v in walker.fields(value[0], value[0] + value[1]):
                if n == 1 and w == 2 and v[1] <= MAX_NAME_BYTES:
                    name = walker.bytes(*v).decode("utf-8", "replace")
                elif n == 3 and w == 0:
                    i = v
            if name == "transB":
                node.trans_b = i
    return node


def _weight_names(nodes: list[_Node], initializers: set[str]) -> tuple[dict[str, str], set[str]]:
    """(initializer -> name of the weight it is, initializers stored [in, out]).

    A MatMul's B (or a Gemm's B without transB) is [in, out]; followed back through quantisation and cast
    nodes to its initializer. Its name comes from the bias initializer the MatMul's output is added to."""
    producer = {out: n for n in nodes for out in n.outputs}
    consumers: dict[str, list[_Node]] = {}
    for n in nodes:
        for name in n.inputs:
            consumers.setdefault(name, []).append(n)

    def source(value: str, flips: int = 0, depth: int = 0) -> tuple[str | None, int]:
        if value in initializers:
            return value, flips
        node = producer.get(value)
        if node is None or node.op not in _PASS_THROUGH or depth > 8:
            return None, flips
        for name in node.inputs:  # the weight is the large input; scales and zero points are initializers too
            found, f = source(name, flips + (node.op == "Transpose"), depth + 1)
            if found is not None and not found.endswith(("_scale", "_zero_point", "_zp")):
                return found, f
        return None, flips

    names: dict[str, str] = {}
    in_out: set[str] = set()
    for n in nodes:
        if n.op not in ("MatMul", "MatMulInteger", "Gemm") or len(n.inputs) < 2:
            continue
        weight, flips = source(n.inputs[1])
        if weight is None:
            continue
        if (n.op != "Gemm" or not n.trans_b) != bool(flips % 2):
            in_out.add(weight)
        bias = n.inputs[2] if n.op == "Gemm" and len(n.inputs) > 2 else next(
            (i for c in consumers.get(n.outputs[0] if n.outputs else "", []) if c.op == "Add"
             for i in c.inputs if i in initializers and i.endswith(".bias")), None)
        if bias is not None and bias.endswith(".bias"):
            names[weight] = bias[: -len(".bias")] + ".weight"
    return names, in_out


def _record(init: _Init, sizes: dict[str, int], path: str) -> TensorRecord | None:
    if init.start is None or init.dtype not in _ITEMSIZE:
        return None  # no bytes (typed data we do not read, strings), or an unknown type
    expected = int(np.prod(init.dims, dtype=np.int64)) * _ITEMSIZE[init.dtype] if init.dims else _ITEMSIZE[init.dtype]
    length = expected if init.length is None else init.length
    if length != expected:
        raise InvalidCheckpoint(f"{path}: initializer {init.name!r}: {length} bytes do not hold {init.dtype} {init.dims}")
    if init.file not in sizes:
        raise InvalidCheckpoint(f"{path}: initializer {init.name!r}: external data file {init.file!r} is not in the repository")
    if init.start + length > sizes[init.file]:
        raise InvalidCheckpoint(f"{init.file}: truncated: initializer {init.name!r} ends at byte {init.start + length}")
    return TensorRecord(name=init.name, file=init.file, dtype=init.dtype, shape=tuple(init.dims),
                        start=init.start, end=init.start + length)


def _with_dequant(record: TensorRecord, small: dict[str, np.ndarray]) -> TensorRecord:
    """An integer `X_quantized` / `X_q` initializer with `X_scale` (and `X_zero_point`) beside it reads as
    floats (one scale, one per row, or one per column), under the name X."""
    if record.dtype not in ("U8", "I8") or len(record.shape or ()) != 2:
        return record
    stem = next((record.name[: -len(s)] for s in ("_quantized", "_q") if record.name.endswith(s)), None)
    if stem is None:
        return record
    scale = small.get(stem + "_scale")
    zero = small.get(stem + "_zero_point", small.get(stem + "_zp", np.zeros(1, dtype=np.int64)))
    rows, cols = record.shape
    if scale is None or scale.dtype != np.float32 or scale.size not in (1, rows, cols) or zero.size not in (1, scale.size):
        return record
    axis = 1 if scale.size == cols and scale.size != 1 and (scale.ndim < 2 or scale.shape[-1] == cols) else 0
    quant = Dequant(scale=tuple(float(s) for s in scale.ravel()), zero_point=tuple(int(z) for z in zero.ravel()),
                    axis=axis)
    return TensorRecord(name=stem, file=record.file, dtype=record.dtype, shape=record.shape,
                        start=record.start, end=record.end, dequant=quant)

