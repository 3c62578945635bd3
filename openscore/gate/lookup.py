"""Finding a model's policy entry, lock entry and waivers by name, in constant time per name.

Gating N sources against a policy of N models and N waivers used to compare every pair (statting both
paths each time): quadratic in the size of the policy. The names are indexed once per run instead:
case-insensitive ids, and the resolved path of every name that is an existing file or folder, so
`./models/m` and `models/m` still find each other.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
_WILDCARDS = ("*", "?", "[")


def split_spec(spec: str) -> tuple[str, str | None]:
    """`name@rev` -> (name, rev); folders and sample names may not contain '@' revisions."""
    if "@" in spec and not Path(spec).exists():
        name, rev = spec.rsplit("@", 1)
        return name, rev or None
    return spec, None


def _keys(names: Iterable[str]) -> set[str]:
    keys = set()
    for name in names:
        keys.add("id:" + name.lower())
        path = Path(name)
        if path.exists():
            keys.add("path:" + str(path.resolve()))
    return keys


class NameIndex(Generic[T]):
    """Items, each known by some names (and exact extra keys); `find` gives the first item in order."""

    def __init__(self, items: Iterable[tuple[Iterable[str], Iterable[str], T]]):
        self._by_key: dict[str, tuple[int, T]] = {}
        for position, (names, exact, item) in enumerate(items):
            for key in _keys(names) | {"exact:" + e for e in exact}:
                self._by_key.setdefault(key, (position, item))

    def find(self, names: Iterable[str], exact: Iterable[str] = ()) -> T | None:
        hits = [self._by_key[k] for k in _keys(names) | {"exact:" + e for e in exact} if k in self._by_key]
        return min(hits, key=lambda hit: hit[0])[1] if hits else None


class WaiverIndex(Generic[T]):
    """Waivers by the model they name: exact names in a dict, wildcard patterns matched one by one."""

    def __init__(self, waivers: Iterable[tuple[str, T]]):
        self._exact: dict[str, list[tuple[int, T]]] = {}
        self._patterns: list[tuple[int, str, T]] = []
        for position, (model, waiver) in enumerate(waivers):
            model = model.lower()
            if any(c in model for c in _WILDCARDS):
                self._patterns.append((position, model, waiver))
            else:
                self._exact.setdefault(model, []).append((position, waiver))

    def for_names(self, names: Iterable[str]) -> list[tuple[int, T]]:
        """Every waiver naming one of `names`, in policy order, with its position."""
        lowered = {n.lower() for n in names}
        found = {pos: w for n in lowered for pos, w in self._exact.get(n, ())}
        for position, pattern, waiver in self._patterns:
            if any(fnmatch.fnmatchcase(n, pattern) for n in lowered):
                found[position] = waiver
        return sorted(found.items(), key=lambda item: item[0])
