"""JSON parsing for untrusted repository files: one-line errors, no NaN, no duplicate keys.

Python's json module accepts NaN/Infinity and lets a repeated key silently win; a checkpoint that
relies on either is malformed or hostile, so both are refused here for every format reader.
"""

from __future__ import annotations

import json

from openscore.errors import InvalidCheckpoint
from openscore.sources.base import Source


def loads(text: str | bytes, file: str) -> object:
    """Parse `text` (from `file`) or raise InvalidCheckpoint("<file>: <what is wrong>")."""

    def unique(pairs: list[tuple[str, object]]) -> dict:
        out = dict(pairs)  # in C: a header of 300k tensors has 300k objects
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise InvalidCheckpoint(f"{file}: duplicate key {key!r}")
                seen.add(key)
        return out

    def no_constants(name: str):
        raise InvalidCheckpoint(f"{file}: contains {name}, which is not JSON")

    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=unique, parse_constant=no_constants)
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{file}: not UTF-8") from None
    except RecursionError:
        raise InvalidCheckpoint(f"{file}: JSON nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise InvalidCheckpoint(f"{file}: not valid JSON ({exc})") from None


def load_file(source: Source, path: str, max_bytes: int = 4_000_000) -> object | None:
    """Parse a small JSON file of the repository, or None when it is absent; invalid JSON is an error."""
    text = source.read_text(path, max_bytes=max_bytes)
    return None if text is None else loads(text, path)
