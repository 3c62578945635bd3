"""Git-LFS pointer files: what a clone without `git lfs pull` holds in place of the weights.

A pointer is three short lines (`version`, `oid sha256:<hex>`, `size <n>`); it carries the real file's
sha256 and size, which is all the inventory needs. Parsing is strict so an ordinary small text file is
never mistaken for a pointer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LFS_VERSION_LINE = "version https://git-lfs.github.com/spec/v1"
#: suffix used by ../shared/data/realcards (and some mirrors) for pointers kept beside real names
POINTER_SUFFIX = ".lfs-pointer"
#: a pointer is ~130 bytes; anything larger is not one (avoids reading big files to check)
MAX_POINTER_BYTES = 1024

_OID = re.compile(r"^oid sha256:([0-9a-f]{64})$")
_SIZE = re.compile(r"^size (\d+)$")


@dataclass(frozen=True)
class LfsPointer:
    sha256: str
    size: int


def parse_pointer(data: bytes) -> LfsPointer | None:
    """The pointer described by `data`, or None if `data` is not a Git-LFS pointer."""
    if len(data) > MAX_POINTER_BYTES or not data.startswith(LFS_VERSION_LINE.encode()):
        return None
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    sha = size = None
    for line in lines[1:]:
        if m := _OID.match(line):
            sha = m.group(1)
        elif m := _SIZE.match(line):
            size = int(m.group(1))
    if sha is None or size is None:
        return None
    return LfsPointer(sha256=sha, size=size)


def read_pointer(path: Path, size: int) -> LfsPointer | None:
    """Parse `path` as a pointer when its size allows it, without reading large files."""
    if size > MAX_POINTER_BYTES:
        return None
    with open(path, "rb") as fh:
        return parse_pointer(fh.read(MAX_POINTER_BYTES + 1))
