"""GGUF headers (llama.cpp files) through the `gguf` package's reader, locally or by Range reads.

GGUF is untrusted input like safetensors: before `GGUFReader` sees a file, a bounded walk over the
header checks that every count and length fits in the file (the reader would otherwise loop for
billions of iterations on a forged array length) and finds where the header ends. On the Hub that
walk also says what to fetch: it reads the header by Range requests sized by what it already knows,
into a sparse temporary file of the real size, so the reader parses everything and the weights are
never downloaded. A small model's header is a real share of its file (SmolLM2-135M's Q4_1 GGUF: a
1.79 MB header, 1.8 %, mostly the vocabulary and merges as string arrays, which the walk must read to
find each next length), so the walk steps over the long fixed-size arrays it keeps by length only.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from openscore.errors import InvalidCheckpoint
from openscore.formats.records import TensorRecord
from openscore.sources.base import Source

GGUF_MAGIC = b"GGUF"
#: the least a remote read asks for: the first read (magic, counts, the small keys) and every read the walk
#: cannot size from what it knows; at most this much past the header is fetched
MIN_READ_BYTES = 16 << 10
#: a header (KV store + tensor infos) beyond this is not a model's metadata; real ones are < 16 MB
MAX_HEADER_BYTES = 64 << 20
#: arrays up to this length are kept whole in the metadata; longer ones (vocabularies) by length only
MAX_KEPT_ARRAY = 64
#: GGUF value type -> size in bytes, for fixed-size types (8 = string, 9 = array)
_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
#: the least bytes a tensor info takes: name length, n_dims, type, offset
_MIN_TENSOR_INFO = 8 + 4 + 4 + 8


@dataclass(frozen=True)
class GGUFHeader:
    file: str
    tensors: tuple[TensorRecord, ...]
    metadata: dict[str, object]
    data_offset: int


#: `read(pos, n, ahead)` -> (buffer, offset): bytes pos..pos+n of the file are buffer[offset:offset+n];
#: `ahead` is how many bytes from `pos` on the walk already knows it will read (a remote read fetches them at once)
Read = Callable[[int, int, int], tuple["bytes | bytearray | mmap.mmap", int]]


def header_extent(read: Read, file_size: int, file: str) -> int:
    """End offset of the KV store and tensor infos of the file `read` gives bytes of.

    Raises InvalidCheckpoint when a count or length cannot fit in the file or the header limit. Arrays
    of fixed-size values longer than MAX_KEPT_ARRAY (a vocabulary's token types and scores) are stepped
    over without being read: the metadata keeps their length only.
    """
    limit = min(file_size, MAX_HEADER_BYTES)
    pos = 0

    def step(n: int) -> int:
        """Advance over `n` bytes (checked against the file and the limit) without reading them."""
        nonlocal pos
        start = pos
        if n < 0 or start + n > limit:
            where = "the end of the file" if start + n > file_size else f"the {MAX_HEADER_BYTES}-byte header limit"
            raise InvalidCheckpoint(f"{file}: GGUF header runs past {where}")
        pos = start + n
        return start

    def take(n: int, ahead: int = 0) -> tuple[bytes | bytearray | mmap.mmap, int]:
        """The next `n` bytes as (buffer, offset); `ahead` bytes from here on are known to be read."""
        return read(step(n), n, ahead if ahead > n else n)

    def unpack(fmt: struct.Struct, ahead: int = 0) -> int:
        buf, offset = read(step(fmt.size), fmt.size, ahead if ahead > fmt.size else fmt.size)
        return fmt.unpack_from(buf, offset)[0]

    magic, at = take(4)
    if magic[at : at + 4] != GGUF_MAGIC:
        raise InvalidCheckpoint(f"{file}: not a GGUF file (bad magic)")
    version = unpack(struct.Struct("<I"))
    order = "<" if version & 0xFFFF else ">"  # a big-endian file reads as version << 16 here
    u32 = struct.Struct(order + "I")
    u64 = struct.Struct(order + "Q")

    def skip_value(vtype: int, depth: int, ahead: int = 0) -> None:
        if vtype in _SCALAR_SIZE:
            take(_SCALAR_SIZE[vtype], ahead)
        elif vtype == _STRING:
            n = unpack(u64, ahead)
            take(n, n + ahead - 8)
        elif vtype == _ARRAY and depth == 0:
            itype = unpack(u32)
            count = unpack(u64)
            if itype in _SCALAR_SIZE:
                (take if count <= MAX_KEPT_ARRAY else step)(count * _SCALAR_SIZE[itype])
                return
            if count * 8 > limit - pos:  # every element takes at least 8 bytes
                raise InvalidCheckpoint(f"{file}: GGUF array of {count} elements cannot fit in the file")
            for i in range(count):
                skip_value(itype, depth + 1, 8 * (count - i))
        else:
            raise InvalidCheckpoint(f"{file}: GGUF value of unknown or nested type {vtype}")

    n_tensors = unpack(u64)
    n_kv = unpack(u64)
    if n_kv * 12 > limit or n_tensors * _MIN_TENSOR_INFO > limit:
        raise InvalidCheckpoint(f"{file}: GGUF header claims {n_kv} keys and {n_tensors} tensors: cannot fit")
    for _ in range(n_kv):
        take(unpack(u64))  # key
        skip_value(unpack(u32), 0)
    for i in range(n_tensors):
        ahead = _MIN_TENSOR_INFO * (n_tensors - i)
        n = unpack(u64, ahead)
        take(n, n + ahead - 8)  # name
        n_dims = unpack(u32)
        if n_dims > _MAX_DIMS:
            raise InvalidCheckpoint(f"{file}: GGUF tensor with {n_dims} dimensions (at most {_MAX_DIMS})")
        take(8 * n_dims + 4 + 8)  # dims, type, offset
    return pos


class _RangeWindow:
    """The header's bytes fetched by Range reads as the walk reaches them, each read sized by what the walk
    knows it will read (an array of N strings takes at least 8*N more bytes), never doubling past the header.
    A stretch the walk steps over is left unfetched (a hole in the sparse copy) when it is at least
    MIN_READ_BYTES; a smaller one is read through: it costs less than another request."""

    def __init__(self, source: Source, path: str, file_size: int):
        self.source, self.path, self.file_size = source, path, file_size
        self.pieces: list[tuple[int, bytearray]] = []  # (file offset, bytes), in file order
        self.fetched = 0

    def __call__(self, pos: int, n: int, ahead: int) -> tuple[bytearray, int]:
        # the walk checked that pos + n fits in the file and the limit; `ahead` (>= n) in them too
        want = min(self.file_size, MAX_HEADER_BYTES, pos + max(ahead, MIN_READ_BYTES))
        if self.pieces:
            start, data = self.pieces[-1]
            stop = start + len(data)
            if pos + n <= stop:
                return data, pos - start
            if pos - stop < MIN_READ_BYTES:  # the walk only moves on: extend the current piece
                self._fetch(data, stop, want)
                return data, pos - start
        start, data = pos, bytearray()
        self.pieces.append((start, data))
        self._fetch(data, start, want)
        return data, 0

    def _fetch(self, data: bytearray, stop: int, want: int) -> None:
        data += self.source.read_range(self.path, stop, want - stop)
        self.fetched += want - stop


def parse_file(disk_path: str | os.PathLike[str], file: str) -> GGUFHeader:
    """Parse the GGUF file at `disk_path` (named `file` in the repository), header bounds already checked."""
    from gguf import GGUFReader, GGUFValueType

    try:
        reader = GGUFReader(disk_path)
        tensors = tuple(
            TensorRecord(
                name=t.name,
                file=file,
                dtype=t.tensor_type.name,
                shape=tuple(int(d) for d in reversed(t.shape.tolist())),  # GGUF stores ne0 first: PyTorch order
                start=int(t.data_offset),
                end=int(t.data_offset) + int(t.n_bytes),
            )
            for t in reader.tensors
        )
        metadata: dict[str, object] = {}
        for key, field in reader.fields.items():
            if field.types and field.types[0] == GGUFValueType.ARRAY and len(field.data) > MAX_KEPT_ARRAY:
                metadata[key] = {"array_length": len(field.data)}
            elif field.types:
                metadata[key] = field.contents()
        data_offset = int(reader.data_offset)
    except Exception as exc:  # the reader raises ValueError/KeyError/IndexError/... on malformed input
        raise InvalidCheckpoint(f"{file}: not a readable GGUF file ({type(exc).__name__}: {exc})") from None
    _check_ranges(tensors, data_offset, os.path.getsize(disk_path), file)
    return GGUFHeader(file=file, tensors=tensors, metadata=metadata, data_offset=data_offset)


def _check_ranges(tensors: tuple[TensorRecord, ...], data_offset: int, file_size: int, file: str) -> None:
    """Tensor data lies in the data section, in the file, without overlaps (alignment gaps are normal)."""
    previous_end, previous = data_offset, None
    for t in sorted(tensors, key=lambda t: (t.start, t.end)):
        if t.start < previous_end:
            what = f"overlaps {previous!r}" if previous else "starts inside the header"
            raise InvalidCheckpoint(f"{file}: GGUF tensor {t.name!r} {what}")
        if t.end > file_size:
            raise InvalidCheckpoint(f"{file}: GGUF tensor {t.name!r} ends at {t.end}, past the end of the file")
        previous_end, previous = t.end, t.name


def read_header(source: Source, path: str, file_size: int) -> tuple[GGUFHeader, int]:
    """The header of `path`; returns it and the header bytes read (never the weights)."""
    local = source.local_path(path)
    if local is not None:
        size = os.path.getsize(local)
        with open(local, "rb") as fh:
            view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            try:
                extent = header_extent(lambda pos, n, ahead: (view, pos), size, path)
            finally:
                if size:
                    view.close()
        return parse_file(local, path), extent
    window = _RangeWindow(source, path, file_size)
    header_extent(window, file_size, path)
    with tempfile.TemporaryDirectory(prefix="openscore-gguf-") as tmp:
        sparse = os.path.join(tmp, "header.gguf")
        with open(sparse, "wb") as fh:
            for start, data in window.pieces:
                fh.seek(start)
                fh.write(data)
            fh.truncate(file_size)  # the tensor data region (and arrays kept by length only) stay holes
        return parse_file(sparse, path), window.fetched
