"""The reference registry: fingerprints of known base models a candidate is matched against.

Two layers, read in this order (a user entry replaces a shipped one with the same id):
  * shipped entries in openscore/data/registry/ (index.yaml + one fingerprint file per entry);
  * the user's registry folder, `$OPENSCORE_REGISTRY`, else `$OPENSCORE_CACHE/registry`, else
    `~/.cache/openscore/registry`, where `openscore registry add` writes.
Each entry keeps the sha256 of the weight files it was computed from, so a repository whose LFS
hashes equal an entry's is recognised as identical without reading any weight.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openscore.atomic import write_text
from openscore.errors import ConfigError, UsageError
from openscore.resources import package_data
from openscore.weights.compare import Comparison, compare
from openscore.weights.fingerprint import Fingerprint

INDEX_FILE = "index.yaml"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(@[A-Za-z0-9._-]+)?$")
#: how strongly each verdict ties a candidate to an entry (ranking of matches)
_RANK = {
    "identical": 0, "renamed-copy": 1, "recast-copy": 2, "derived": 3, "partially-derived": 4,
    "inconclusive": 5, "architecture-clone": 6, "independent": 7,
}
RELATED = frozenset({"identical", "renamed-copy", "recast-copy", "derived", "partially-derived"})


class RegistryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # "org/name" or "org/name@revision"
    fingerprint: str  # file name beside the index
    licence: str | None = None
    source: str  # repo@sha the fingerprint was computed from
    family: str | None = None
    files: dict[str, str | None] = Field(default_factory=dict)  # weight file -> sha256
    meta: dict = Field(default_factory=dict)


class RegistryIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    entries: list[RegistryEntry] = Field(default_factory=list)


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    licence: str | None = None
    comparison: Comparison


def user_registry_dir() -> Path:
    if os.environ.get("OPENSCORE_REGISTRY"):
        return Path(os.environ["OPENSCORE_REGISTRY"])
    cache = os.environ.get("OPENSCORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "openscore"
    )
    return Path(cache) / "registry"


def _read_index(folder: Path) -> RegistryIndex:
    path = folder / INDEX_FILE
    if not path.is_file():
        return RegistryIndex()
    try:
        return RegistryIndex.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid registry index ({str(exc).splitlines()[0]})") from None


def _slug(entry_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", entry_id)


class Registry:
    """Shipped plus user entries; fingerprints are loaded on first use."""

    def __init__(self, folders: list[Path], user_dir: Path):
        self.user_dir = user_dir
        self._entries: dict[str, tuple[RegistryEntry, Path]] = {}
        for folder in folders:
            for entry in _read_index(folder).entries:
                self._entries[entry.id] = (entry, folder)
        self._loaded: dict[str, Fingerprint] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        """The shipped entries plus the user registry at `path` (default: user_registry_dir())."""
        user = Path(path) if path is not None else user_registry_dir()
        return cls([package_data("registry"), user], user)

    def entries(self) -> list[RegistryEntry]:
        return [entry for entry, _ in sorted(self._entries.values(), key=lambda item: item[0].id)]

    def get(self, entry_id: str) -> RegistryEntry | None:
        item = self._entries.get(entry_id)
        return item[0] if item else None

    def fingerprint(self, entry_id: str) -> Fingerprint:
        if entry_id not in self._loaded:
            entry, folder = self._entries[entry_id]
            self._loaded[entry_id] = Fingerprint.load(folder / entry.fingerprint)
        return self._loaded[entry_id]

    def add(self, fingerprint: Fingerprint, id: str, *, licence: str | None = None, meta: dict | None = None) -> RegistryEntry:  # noqa: A002
        """Store `fingerprint` under `id` in the user registry (replacing an entry of that id)."""
        if not _ID.match(id):
            raise UsageError(f"registry id {id!r}: use `org/name` or `org/name@revision` (letters, digits, . _ -)")
        if fingerprint.sample:
            raise UsageError("a sampled fingerprint cannot be a registry entry: fingerprint the full checkpoint")
        entry = RegistryEntry(
            id=id, fingerprint=f"{_slug(id)}.osfp", licence=licence, source=fingerprint.source,
            family=fingerprint.family, files=dict(fingerprint.files), meta=meta or {},
        )
        fingerprint.save(self.user_dir / entry.fingerprint)
        index = _read_index(self.user_dir)
        index.entries = sorted([e for e in index.entries if e.id != id] + [entry], key=lambda e: e.id)
        write_text(self.user_dir / INDEX_FILE, yaml.safe_dump(index.model_dump(mode="json"), sort_keys=True))
        self._entries[id] = (entry, self.user_dir)
        self._loaded[id] = fingerprint
        return entry

    def match(self, fp: Fingerprint, top: int = 3) -> list[Match]:
        """The `top` entries most strongly related to `fp`, strongest first."""
        found = []
        for entry in self.entries():
            comparison = compare(self.fingerprint(entry.id), fp)
            found.append(Match(id=entry.id, licence=entry.licence, comparison=comparison))
        found.sort(key=lambda m: (_RANK[m.comparison.verdict], -(m.comparison.max_z or 0), -m.comparison.score, m.id))
        return found[:top]

    def match_files(self, files: dict[str, str | None]) -> RegistryEntry | None:
        """The entry whose weight files have exactly these sha256s (an identical re-upload), if any."""
        wanted = {sha for sha in files.values() if sha}
        if not wanted or len(wanted) != len(files):
            return None
        for entry in self.entries():
            known = {sha for sha in entry.files.values() if sha}
            if known and len(known) == len(entry.files) and known == wanted:
                return entry
        return None
