"""What every source of model files (Hub repo, local folder) offers the rest of openscore.

The interface is deliberately small: an inventory, ranged byte reads and small-text reads.
Everything downstream (layout, weights, evidence) works through it, so Hub and local reads
share one code path after this point.
"""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


_MISSING = object()


class cached_property(functools.cached_property):  # noqa: N801 - a drop-in for functools' decorator
    """functools.cached_property without the lock Python 3.11 shares between *every* instance of a
    class: with it, sixteen sources fetching their model info at once would do it one after another.
    A source is used by one thread at a time, so a per-instance cache needs no lock."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__.get(self.attrname, _MISSING)
        if value is _MISSING:
            value = instance.__dict__[self.attrname] = self.func(instance)
        return value


@dataclass(frozen=True)
class SourceRef:
    """Where the files come from, pinned: `repo_id@sha` is the key of an audit."""

    kind: Literal["hub", "local", "sample"]
    repo_id: str  # "org/name" on the Hub; for a local folder "local/<folder name>" unless the card/config says more
    revision: str | None  # what the user asked for (branch, tag, sha), None = default
    sha: str  # resolved commit sha (Hub) or a content digest of the inventory (local)
    location: str  # URL of the endpoint or absolute path of the folder
    committed_at: str | None = None  # ISO 8601 date of the commit (Hub lastModified, git commit date)

    @property
    def key(self) -> str:
        return f"{self.repo_id}@{self.sha}"


@dataclass(frozen=True)
class FileEntry:
    """One file of the repository, as the inventory knows it before reading it."""

    path: str  # repo-relative, POSIX separators
    size: int  # real size (from LFS metadata or pointer when the file is LFS)
    sha256: str | None = None  # LFS oid / computed for small local files when cheap, else None
    lfs: bool = False
    present: bool = True  # False when only a Git-LFS pointer is here (weights absent)
    blob_id: str | None = None  # git blob sha1 when known


@dataclass(frozen=True)
class Inventory:
    ref: SourceRef
    files: tuple[FileEntry, ...]
    refs: tuple[str, ...] = ()  # other branches and tags (e.g. "step1000"), when the source knows them
    gated: str | bool = False  # Hub gating: False, "auto" or "manual"
    card_data: dict = field(default_factory=dict)  # Hub cardData when the source provides it

    def get(self, path: str) -> FileEntry | None:
        for entry in self.files:
            if entry.path == path:
                return entry
        return None

    @property
    def weights_absent(self) -> bool:
        return any(not f.present for f in self.files)


class Source(abc.ABC):
    """A pinned, read-only view of one model repository."""

    ref: SourceRef

    @abc.abstractmethod
    def inventory(self) -> Inventory:
        """Every file with size and (when known) sha256; one API call on the Hub."""

    @abc.abstractmethod
    def read_range(self, path: str, start: int, length: int) -> bytes:
        """`length` bytes of `path` from byte `start` (an HTTP Range request on the Hub).

        Raises EntryNotFound when the file is absent, InvalidCheckpoint on a short read."""

    @abc.abstractmethod
    def read_text(self, path: str, max_bytes: int = 4_000_000) -> str | None:
        """A small text file (card, config, LICENSE) decoded as UTF-8, or None if absent."""

    def local_path(self, path: str) -> Path | None:
        """The file on local disk when it is there in full (for memory-mapping), else None."""
        return None
