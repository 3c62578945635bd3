"""A local folder laid out like a Hub repository (a clone, a `snapshot_download`, an export).

Weights may be absent: a clone without `git lfs pull` holds Git-LFS pointers, and the reference data
beside the project stores them as `<file>.lfs-pointer`. Both become entries with the real name, size
and sha256 and `present=False`, so the rest of openscore sees the same inventory as on the Hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from openscore.errors import EntryNotFound, InvalidCheckpoint, UsageError
from openscore.sources.base import FileEntry, Inventory, Source, SourceRef, cached_property
from openscore.sources.lfs import POINTER_SUFFIX, read_pointer

#: folders that belong to tools, not to the model (git metadata, huggingface_hub's local_dir cache)
SKIPPED_DIRS = frozenset({".git", ".cache", "__pycache__"})
_CHUNK = 1 << 20
#: the Hub's size limit for a file kept in git rather than LFS (10 MiB)
BLOB_SHA1_MAX_BYTES = 10 * 1024 * 1024

#: (absolute path, size, mtime_ns) -> (sha256, git blob sha1 or None); files are hashed once per process
_digest_cache: dict[tuple[str, int, int], tuple[str, str | None]] = {}


def file_digests(path: Path) -> tuple[str, str | None]:
    """(sha256, git blob sha1) of a file, streamed, cached by (path, size, mtime).

    Both in one pass: sha256 is what LFS and lock files use, the blob sha1 is what the Hub reports
    for small (non-LFS) files. A file over BLOB_SHA1_MAX_BYTES gets no blob sha1: the Hub stores such
    files in LFS and reports the pointer's blob id, which a content sha1 never equals (and it cost as
    much as the sha256).
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _digest_cache.get(key)
    if cached is None:
        sha256 = hashlib.sha256()
        blob = hashlib.sha1(b"blob %d\0" % st.st_size) if st.st_size <= BLOB_SHA1_MAX_BYTES else None
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha256.update(chunk)
                if blob is not None:
                    blob.update(chunk)
        cached = _digest_cache[key] = (sha256.hexdigest(), blob.hexdigest() if blob is not None else None)
    return cached


def prefetch_digests(paths: list[Path]) -> None:
    """Hash several files at once (hashlib releases the GIL): a sharded checkpoint uses every core."""
    todo = [p for p in paths if p.stat().st_size > _CHUNK]
    if len(todo) > 1:
        with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
            list(pool.map(file_digests, todo))


def inventory_digest(files: tuple[FileEntry, ...]) -> str:
    """A content digest of an inventory: same paths, sizes and hashes give the same value."""
    rows = [[f.path, f.size, f.sha256] for f in sorted(files, key=lambda f: f.path)]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def git_head(folder: Path) -> tuple[str, str] | None:
    """(HEAD commit, its ISO 8601 commit date) when `folder` itself is the root of a git checkout."""
    if not (folder / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "log", "-1", "--format=%H %cI", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha, _, date = out.stdout.strip().partition(" ")
    return (sha, date) if out.returncode == 0 and len(sha) in (40, 64) and date else None


class LocalSource(Source):
    """Files of a local folder; LFS pointers stand for absent weights."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        kind: Literal["local", "sample"] = "local",
        repo_id: str | None = None,
        ignore: frozenset[str] = frozenset(),
        revision: str | None = None,
        sha: str | None = None,
        links_within: str | os.PathLike[str] | None = None,
    ):
        root = Path(folder).resolve()
        if not root.is_dir():
            raise UsageError(f"{folder}: not a directory")
        self.root = root
        self._kind = kind
        self._repo_id = repo_id or f"local/{root.name}"
        self._ignore = ignore  # repo-relative paths that are not part of the model (e.g. a marker file)
        self._revision, self._sha = revision, sha  # an identity the user (or the cache layout) gave the folder
        # symlinks may lead here and no further: the folder itself, or a Hub cache repo whose blobs it links to
        self._links_within = Path(links_within).resolve() if links_within is not None else root

    @cached_property
    def _entries(self) -> dict[str, tuple[FileEntry, Path]]:
        """repo path -> (entry, file on disk); sorted by path for deterministic output."""
        files: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            for name in sorted(filenames):
                disk = Path(dirpath) / name
                rel = disk.relative_to(self.root).as_posix()
                if rel in self._ignore or not disk.is_file() or not self._inside(disk):
                    continue
                files.append((rel, disk))
        prefetch_digests([disk for _, disk in files])
        found: dict[str, tuple[FileEntry, Path]] = {}
        for rel, disk in files:
            entry = self._entry(rel, disk)
            if entry.path in found and found[entry.path][0].present:
                continue  # a real file and its `.lfs-pointer`: keep the real file
            found[entry.path] = (entry, disk)
        return dict(sorted(found.items()))

    def _inside(self, disk: Path) -> bool:
        """False for a symlink leading out of the folder: a cloned repo must not make us read ~/.ssh."""
        return not disk.is_symlink() or disk.resolve().is_relative_to(self._links_within)

    def _entry(self, rel: str, disk: Path) -> FileEntry:
        size = disk.stat().st_size
        pointer = read_pointer(disk, size)
        if pointer is not None:
            real = rel[: -len(POINTER_SUFFIX)] if rel.endswith(POINTER_SUFFIX) else rel
            _, blob = file_digests(disk)
            return FileEntry(real, pointer.size, pointer.sha256, lfs=True, present=False, blob_id=blob)
        sha256, blob = file_digests(disk)
        return FileEntry(rel, size, sha256, lfs=False, present=True, blob_id=blob)

    @cached_property
    def ref(self) -> SourceRef:  # type: ignore[override]
        head = None if self._sha else git_head(self.root)
        sha, committed_at = head or (self._sha or inventory_digest(tuple(e for e, _ in self._entries.values())), None)
        return SourceRef(kind=self._kind, repo_id=self._repo_id, revision=self._revision, sha=sha,
                         location=str(self.root), committed_at=committed_at)

    def inventory(self) -> Inventory:
        return Inventory(ref=self.ref, files=tuple(e for e, _ in self._entries.values()))

    def _present(self, path: str) -> tuple[FileEntry, Path]:
        item = self._entries.get(path)
        if item is None:
            raise EntryNotFound(f"{path}: no such file in {self.root}")
        if not item[0].present:
            raise EntryNotFound(f"{path}: only a Git-LFS pointer is present in {self.root} (run `git lfs pull`)")
        return item

    def read_range(self, path: str, start: int, length: int) -> bytes:
        entry, disk = self._present(path)
        if start < 0 or length < 0:
            raise ValueError(f"bad range {start}+{length}")
        with open(disk, "rb") as fh:
            fh.seek(start)
            data = fh.read(length)
        if len(data) != length:
            raise InvalidCheckpoint(f"{path}: truncated: wanted bytes {start}..{start + length}, file has {entry.size}")
        return data

    def read_text(self, path: str, max_bytes: int = 4_000_000) -> str | None:
        item = self._entries.get(path)
        if item is None or not item[0].present:
            return None
        entry, disk = item
        if entry.size > max_bytes:
            raise InvalidCheckpoint(f"{path}: {entry.size} bytes, over the {max_bytes}-byte limit for a text file")
        return disk.read_bytes().decode("utf-8", errors="replace")

    def local_path(self, path: str) -> Path | None:
        item = self._entries.get(path)
        return item[1] if item is not None and item[0].present else None
