"""Atomic, deterministic file output: a reader never sees a half-written report."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from openscore.safeio import contained


def _file_mode() -> int:
    umask = os.umask(0)  # reading the umask means setting it; done once, at import
    os.umask(umask)
    return (stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH) & ~umask


_FILE_MODE = _file_mode()


def write_bytes(path: str | os.PathLike[str], data: bytes, *, under: str | os.PathLike[str] | None = None) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename.

    With `under`, `path` must resolve inside that folder (safeio.contained), symlinks followed."""
    target = Path(path)
    if under is not None:
        contained(under, target.absolute())
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less the umask).
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text(path: str | os.PathLike[str], text: str, *, under: str | os.PathLike[str] | None = None) -> Path:
    return write_bytes(path, text.encode("utf-8"), under=under)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, fixed separators and a final newline: byte-identical for equal data."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any, *, under: str | os.PathLike[str] | None = None) -> Path:
    return write_text(path, canonical_json(obj), under=under)
