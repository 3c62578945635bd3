"""Atomic, deterministic file output: a reader never sees a half-written report."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from json.encoder import encode_basestring  # json's own (C) for ensure_ascii=False
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
    """JSON with sorted keys, fixed separators and a final newline: byte-identical for equal data.

    The bytes of json.dumps(sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False): plain JSON data
    (dict with str keys, list, str, int, float, bool, None; what model_dump(mode="json") gives) goes through
    _walk, twice as fast as json's Python encoder (it runs whenever indent is set: a report of 300k tensors
    is 100 MB); anything else (subclasses, tuples, other keys, NaN) is left to json, errors included."""
    parts: list[str] = []
    try:
        _walk(obj, "\n", parts.append)
    except (_Unusual, RecursionError):
        return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    parts.append("\n")
    return "".join(parts)


class _Unusual(Exception):
    """A value _walk leaves to json."""


_INF = float("inf")


def _scalar(value: Any, kind: type) -> str:
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and value == value and value not in (_INF, -_INF):
        return float.__repr__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise _Unusual


def _walk(value: Any, newline: str, out) -> None:
    """json's indented encoding of `value` at the indentation `newline` (a newline and the value's indent)."""
    inner = newline + "  "
    kind = type(value)
    if kind is dict:
        if not value:
            out("{}")
            return
        sep = "{" + inner
        for key, item in sorted(value.items()):
            if type(key) is not str:
                raise _Unusual
            item_kind = type(item)
            if item_kind is dict or item_kind is list:
                out(sep + encode_basestring(key) + ": ")
                _walk(item, inner, out)
            else:
                out(sep + encode_basestring(key) + ": " + _scalar(item, item_kind))
            sep = "," + inner
        out(newline + "}")
    elif kind is list:
        if not value:
            out("[]")
            return
        sep = "[" + inner
        for item in value:
            item_kind = type(item)
            if item_kind is dict or item_kind is list:
                out(sep)
                _walk(item, inner, out)
            else:
                out(sep + _scalar(item, item_kind))
            sep = "," + inner
        out(newline + "]")
    else:
        out(_scalar(value, kind))


def write_json(path: str | os.PathLike[str], obj: Any, *, under: str | os.PathLike[str] | None = None) -> Path:
    return write_text(path, canonical_json(obj), under=under)
