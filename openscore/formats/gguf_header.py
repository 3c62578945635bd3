"""GGUF headers (llama.cpp files) through the `gguf` package's reader, locally or by Range reads.

`GGUFReader` needs a file path. For a Hub file the header is fetched with Range requests into a
sparse temporary file of the real size, grown until the reader's tensor-data offset lies inside the
bytes actually fetched: the KV store and tensor infos are parsed, the weights never downloaded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from openscore.errors import InvalidCheckpoint
from openscore.formats.records import TensorRecord
from openscore.sources.base import Source

GGUF_MAGIC = b"GGUF"
#: first remote read; a llama-3 header (128k-token vocab) is ~8 MB, small models far less
FIRST_READ_BYTES = 1 << 20
#: a header beyond this is not a model's metadata
MAX_HEADER_BYTES = 256 << 20
#: arrays up to this length are kept whole in the metadata; longer ones (vocabularies) by length only
MAX_KEPT_ARRAY = 64


@dataclass(frozen=True)
class GGUFHeader:
    file: str
    tensors: tuple[TensorRecord, ...]
    metadata: dict[str, object]
    data_offset: int


def parse_file(disk_path: str | os.PathLike[str], file: str) -> GGUFHeader:
    """Parse the GGUF file at `disk_path` (named `file` in the repository)."""
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
            if not field.types:
                continue
            if field.types[0] == GGUFValueType.ARRAY:
                length = len(field.data)
                metadata[key] = field.contents() if length <= MAX_KEPT_ARRAY else {"array_length": length}
            else:
                metadata[key] = field.contents()
        data_offset = int(reader.data_offset)
    except InvalidCheckpoint:
        raise
    except Exception as exc:  # the reader raises ValueError/KeyError/IndexError/... on malformed input
        raise InvalidCheckpoint(f"{file}: not a readable GGUF file ({type(exc).__name__}: {exc})") from None
    return GGUFHeader(file=file, tensors=tensors, metadata=metadata, data_offset=data_offset)


def read_header(source: Source, path: str, file_size: int) -> tuple[GGUFHeader, int]:
    """The header of `path`; returns it and the bytes read (the header part, never the weights)."""
    local = source.local_path(path)
    if local is not None:
        header = parse_file(local, path)
        return header, min(file_size, header.data_offset)
    fetched = b""
    want = min(file_size, FIRST_READ_BYTES)
    with tempfile.TemporaryDirectory(prefix="openscore-gguf-") as tmp:
        sparse = os.path.join(tmp, "header.gguf")
        while True:
            fetched += source.read_range(path, len(fetched), want - len(fetched))
            if not fetched.startswith(GGUF_MAGIC):
                raise InvalidCheckpoint(f"{path}: not a GGUF file (bad magic)")
            with open(sparse, "wb") as fh:
                fh.write(fetched)
                fh.truncate(file_size)  # the tensor data region stays a hole: never fetched
            complete = len(fetched) >= min(file_size, MAX_HEADER_BYTES)
            try:
                header = parse_file(sparse, path)
            except InvalidCheckpoint:
                if complete:
                    raise
                header = None  # may only mean the header is longer than what was fetched so far
            if header is not None and header.data_offset <= len(fetched):
                return header, len(fetched)
            if complete:
                raise InvalidCheckpoint(f"{path}: GGUF header larger than {MAX_HEADER_BYTES} bytes")
            want = min(file_size, MAX_HEADER_BYTES, max(2 * len(fetched), header.data_offset if header else 0))
