"""GGUF headers (llama.cpp files) through the `gguf` package's reader, locally or by Range reads.

GGUF is untrusted input like safetensors: before `GGUFReader` sees a file, a bounded walk over the
header checks that every count and length fits in the file (the reader would otherwise loop for
billions of iterations on a forged array length) and finds where the header ends. On the Hub that
walk also says how many bytes to fetch: the header is read by Range requests into a sparse temporary
file of the real size, so the reader parses everything and the weights are never downloaded.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from dataclasses import dataclass

from openscore.errors import InvalidCheckpoint
from openscore.formats.records import TensorRecord
from openscore.sources.base import Source

GGUF_MAGIC = b"GGUF"
#: first remote read; a llama-3 header (128k-token vocab) is ~8 MB, small models far less
FIRST_READ_BYTES = 1 << 20
#: a header (KV store + tensor infos) beyond this is not a model's metadata; real ones are < 16 MB
MAX_HEADER_BYTES = 64 << 20
#: arrays up to this length are kept whole in the metadata; longer ones (vocabularies) by length only
MAX_KEPT_ARRAY = 64
#: GGUF value type -> size in bytes, for fixed-size types (8 = string, 9 = array)
_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS


@dataclass(frozen=True)
class GGUFHeader:
    file: str
    tensors: tuple[TensorRecord, ...]
    metadata: dict[str, object]
    data_offset: int


class _NeedMore(Exception):
    """The buffer ends before the header does: fetch more bytes."""


def header_extent(buf: bytes | mmap.mmap, file_size: int, file: str) -> int:
    """End offset of the KV store and tensor infos in `buf` (the file's first bytes).

    Raises InvalidCheckpoint when a count or length cannot fit in the file or the header limit,
    and _NeedMore when `buf` is shorter than the header.
    """
    limit = min(file_size, MAX_HEADER_BYTES)
    pos = 0

    def take(n: int) -> int:
        nonlocal pos
        if n < 0 or pos + n > limit:
            where = "the end of the file" if pos + n > file_size else f"the {MAX_HEADER_BYTES}-byte header limit"
            raise InvalidCheckpoint(f"{file}: GGUF header runs past {where}")
        if pos + n > len(buf):
            raise _NeedMore
        start, pos = pos, pos + n
        return start

    if len(buf) >= 4 and buf[:4] != GGUF_MAGIC:
        raise InvalidCheckpoint(f"{file}: not a GGUF file (bad magic)")
    take(4)
    (version,) = struct.unpack_from("<I", buf, take(4))
    order = "<" if version & 0xFFFF else ">"  # a big-endian file reads as version << 16 here
    u32 = struct.Struct(order + "I")
    u64 = struct.Struct(order + "Q")

    def skip_value(vtype: int, depth: int) -> None:
        if vtype in _SCALAR_SIZE:
            take(_SCALAR_SIZE[vtype])
        elif vtype == _STRING:
            take(u64.unpack_from(buf, take(8))[0])
        elif vtype == _ARRAY and depth == 0:
            itype = u32.unpack_from(buf, take(4))[0]
            count = u64.unpack_from(buf, take(8))[0]
            if itype in _SCALAR_SIZE:
                take(count * _SCALAR_SIZE[itype])
                return
            if count * 8 > limit - pos:  # every element takes at least 8 bytes
                raise InvalidCheckpoint(f"{file}: GGUF array of {count} elements cannot fit in the file")
            for _ in range(count):
                skip_value(itype, depth + 1)
        else:
            raise InvalidCheckpoint(f"{file}: GGUF value of unknown or nested type {vtype}")

    n_tensors = u64.unpack_from(buf, take(8))[0]
    n_kv = u64.unpack_from(buf, take(8))[0]
    if n_kv * 12 > limit or n_tensors * 24 > limit:
        raise InvalidCheckpoint(f"{file}: GGUF header claims {n_kv} keys and {n_tensors} tensors: cannot fit")
    for _ in range(n_kv):
        take(u64.unpack_from(buf, take(8))[0])  # key
        skip_value(u32.unpack_from(buf, take(4))[0], 0)
    for _ in range(n_tensors):
        take(u64.unpack_from(buf, take(8))[0])  # name
        n_dims = u32.unpack_from(buf, take(4))[0]
        if n_dims > _MAX_DIMS:
            raise InvalidCheckpoint(f"{file}: GGUF tensor with {n_dims} dimensions (at most {_MAX_DIMS})")
        take(8 * n_dims + 4 + 8)  # dims, type, offset
    return pos


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
                extent = header_extent(view, size, path)
            except _NeedMore:  # cannot happen on a whole file: the walk stops at its size first
                raise InvalidCheckpoint(f"{path}: truncated GGUF header") from None
            finally:
                if size:
                    view.close()
        return parse_file(local, path), extent
    fetched = b""
    want = min(file_size, FIRST_READ_BYTES)
    while True:
        fetched += source.read_range(path, len(fetched), want - len(fetched))
        try:
            header_extent(fetched, file_size, path)
            break
        except _NeedMore:
            want = min(file_size, MAX_HEADER_BYTES, 2 * len(fetched))
    with tempfile.TemporaryDirectory(prefix="openscore-gguf-") as tmp:
        sparse = os.path.join(tmp, "header.gguf")
        with open(sparse, "wb") as fh:
            fh.write(fetched)
            fh.truncate(file_size)  # the tensor data region stays a hole: never fetched
        return parse_file(sparse, path), len(fetched)
