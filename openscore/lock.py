"""`openscore.lock`: the exact files of the models a project depends on, and checking a snapshot against it.

`lock` pins each source to its commit (`repo@sha`) with every file's size and sha256. `verify`
checks a local snapshot (a clone, a `snapshot_download`, the repository a pre-commit hook runs in)
against it: a swapped weight file, a missing file or an extra weight file fails, naming the file. A
folder of Git-LFS pointers verifies too (the pointer carries the real size and sha256), so a clone
without `git lfs pull` can be checked in seconds. Local checks never touch the network.

Format (JSON, canonical, versioned by `lock_version`; documented in docs/gate.md):
    {"lock_version": 1,
     "models": [{"source": "org/name@main", "kind": "hub", "repo_id": "org/name", "revision": "main",
                 "sha": "<commit>", "path": null,
                 "files": [{"path": "model.safetensors", "size": 123, "sha256": "<hex>"}, ...]}]}
`path` is set for local folders inside the lock file's folder, relative to it (never `..`: a folder
outside is locked without a path and verified when named as DIR).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from openscore.atomic import canonical_json, write_text
from openscore.errors import ConfigError, UsageError
from openscore.formats.pickles import PICKLE_SUFFIXES
from openscore.sources.base import Source
from openscore.sources.local import LocalSource, inventory_digest

LOCK_VERSION = 1
DEFAULT_LOCK = "openscore.lock"
#: a file with one of these suffixes that the lock does not list is a smuggled weight file
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".h5", ".msgpack", ".npz", ".tflite") + PICKLE_SUFFIXES
#: a non-LFS Hub file without a sha256 is read to hash it; anything bigger than this is refused
MAX_UNHASHED_READ = 64 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _inside(path: str | None) -> str | None:
    """A relative POSIX path that cannot leave the folder it is relative to (no `..`, no root, no drive)."""
    if path is None:
        return None
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or re.match(r"[A-Za-z]:", path) or ".." in parts or "\0" in path:
        raise ValueError(f"{path!r} is not a relative path inside the lock file's folder")
    return path


class LockedFile(_Strict):
    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    _relative = field_validator("path")(_inside)


class LockedModel(_Strict):
    source: str  # as the user named it
    kind: Literal["hub", "local", "sample"]
    repo_id: str
    revision: str | None = None
    sha: str
    path: str | None = None  # local folders: relative to the lock file's folder, POSIX separators, never above it
    files: list[LockedFile]

    _relative = field_validator("path")(_inside)


class LockFile(_Strict):
    lock_version: Literal[1] = LOCK_VERSION
    models: list[LockedModel]

    def to_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))


# --- lock ----------------------------------------------------------------------------------------


def lock_sources(specs: list[str], lock_path: str | Path = DEFAULT_LOCK, *, endpoint: str | None = None,
                 token: str | None = None, progress: Callable[[str], None] | None = None) -> LockFile:
    """Pin every source (Hub repo[@rev], folder, sample:NAME) and write the lock file atomically."""
    from openscore.sources import open_source

    if not specs:
        raise UsageError("name at least one source to lock")
    lock_path = Path(lock_path)
    models = []
    for spec in specs:
        if progress:
            progress(f"locking {spec}")
        models.append(lock_model(spec, open_source(spec, endpoint=endpoint, token=token), lock_path))
    lock = LockFile(models=models)
    write_text(lock_path, lock.to_json())
    return lock


def lock_model(spec: str, source: Source, lock_path: Path) -> LockedModel:
    inventory = source.inventory()
    ref = inventory.ref
    lock_abs = lock_path.resolve()
    entries = [e for e in inventory.files
               if not (ref.kind == "local" and (Path(ref.location) / e.path).resolve() == lock_abs)]  # not itself
    files = [LockedFile(path=e.path, size=e.size, sha256=e.sha256 or _hash_remote(source, e)) for e in entries]
    folder, sha = None, ref.sha
    if ref.kind == "local":
        # a folder's identity is its content (not the git HEAD, which moves when the lock is committed)
        folder = Path(os.path.relpath(ref.location, lock_abs.parent)).as_posix()
        if folder == ".." or folder.startswith("../"):
            folder = None  # outside the lock's folder: no recorded path, `verify` is given the folder as DIR
        sha = inventory_digest(tuple(entries))
    return LockedModel(source=spec, kind=ref.kind, repo_id=ref.repo_id, revision=ref.revision, sha=sha,
                       path=folder, files=files)


def _hash_remote(source: Source, entry) -> str:
    """sha256 of a small non-LFS file the Hub only gives a git blob id for."""
    if entry.size > MAX_UNHASHED_READ:
        raise UsageError(f"{entry.path}: {entry.size} bytes without a sha256 from the Hub; refusing to download it to hash it")
    return hashlib.sha256(source.read_range(entry.path, 0, entry.size) if entry.size else b"").hexdigest()


def load_lock(path: str | Path) -> LockFile:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the lock file: {exc.strerror or exc} (create it with `openscore lock`)") from None
    try:
        return LockFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        line = _json_line(raw, first["loc"])
        raise ConfigError(f"{path}:{line}: invalid lock file: {where}: {first['msg']}") from None


def _json_line(raw: bytes, loc: tuple) -> int:
    """Best-effort line of the last key of `loc` in a JSON text (1 when not found)."""
    keys = [k for k in loc if isinstance(k, str)]
    if keys:
        needle = f'"{keys[-1]}"'.encode()
        at = raw.find(needle)
        if at >= 0:
            return raw.count(b"\n", 0, at) + 1
    return 1


def model_line(lock_path: str | Path, model: LockedModel) -> int:
    """Line of the lock file where `model` is named (for annotations)."""
    path = Path(lock_path)
    return _source_lines(str(path), path.stat().st_mtime_ns).get(model.source, 1)


@functools.lru_cache(maxsize=4)
def _source_lines(path: str, _stamp: int) -> dict[str, int]:
    """source -> line of every model in a lock file, in one pass (a search per model was quadratic)."""
    raw = Path(path).read_bytes()
    lines: dict[str, int] = {}
    line, at = 1, 0
    for match in re.finditer(rb'"source": ("(?:[^"\\]|\\.)*")', raw):
        line += raw.count(b"\n", at, match.start())
        at = match.start()
        lines.setdefault(json.loads(match.group(1)), line)
    return lines


# --- verify --------------------------------------------------------------------------------------


class Problem(_Strict):
    path: str
    kind: Literal["modified", "missing", "extra", "moved"]
    message: str


class ModelCheck(_Strict):
    repo_id: str
    target: str  # the folder checked, or the Hub revision
    status: Literal["ok", "failed", "skipped"]
    line: int  # lock-file line naming the model
    problems: list[Problem] = Field(default_factory=list)
    note: str | None = None  # why skipped, or that weights were LFS pointers

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def verify(lock_path: str | Path = DEFAULT_LOCK, folders: list[str] | None = None, *, offline: bool = False,
           model: str | None = None, endpoint: str | None = None, token: str | None = None) -> list[ModelCheck]:
    """Check local folders (and, unless offline, the Hub revisions) against the lock.

    With `folders`, each is matched to its lock entry (by recorded path, by `model`, or the single
    entry); without, every entry is checked: local ones at their recorded path, Hub ones online.
    """
    lock_path = Path(lock_path)
    lock = load_lock(lock_path)
    if not lock.models:
        raise ConfigError(f"{lock_path}: the lock lists no models")
    checks = []
    if folders:
        for folder in folders:
            entry = _entry_for_folder(lock, lock_path, Path(folder), model)
            checks.append(verify_folder(entry, Path(folder), model_line(lock_path, entry)))
        return checks
    for entry in lock.models:
        if model and entry.repo_id != model:
            continue
        line = model_line(lock_path, entry)
        if entry.path is not None:
            checks.append(verify_folder(entry, _locked_folder(lock_path, entry, line), line))
        elif entry.kind == "local":
            checks.append(ModelCheck(repo_id=entry.repo_id, target=entry.source, status="skipped", line=line,
                                     note="not checked: the folder is outside the lock file's folder; name it as DIR"))
        elif entry.kind == "sample":  # regenerated locally from fixed seeds: no network either way
            from openscore.samples import materialize

            checks.append(verify_folder(entry, materialize(entry.source.removeprefix("sample:")), line))
        elif offline:
            checks.append(ModelCheck(repo_id=entry.repo_id, target=f"{entry.repo_id}@{entry.sha}", status="skipped",
                                     line=line, note="not checked: --offline and no local folder for this entry"))
        else:
            checks.append(_verify_remote(entry, line, endpoint=endpoint, token=token))
    if not checks:
        raise UsageError(f"{lock_path}: no model {model!r} in the lock")
    return checks


def _locked_folder(lock_path: Path, entry: LockedModel, line: int) -> Path:
    """The entry's folder, which must resolve (symbolic links followed) inside the lock file's folder."""
    root = lock_path.resolve().parent
    folder = root / entry.path
    if not folder.resolve().is_relative_to(root):
        raise ConfigError(f"{lock_path}:{line}: path {entry.path!r} resolves outside the lock file's folder")
    return folder


def _entry_for_folder(lock: LockFile, lock_path: Path, folder: Path, model: str | None) -> LockedModel:
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a directory")
    if model:
        for entry in lock.models:
            if entry.repo_id == model:
                return entry
        raise UsageError(f"{lock_path}: no model {model!r} in the lock")
    for entry in lock.models:
        if entry.path is not None and (lock_path.parent / entry.path).resolve() == folder.resolve():
            return entry
    if len(lock.models) == 1:
        return lock.models[0]
    raise UsageError(f"{folder}: the lock has {len(lock.models)} models and none is recorded at this folder; "
                     "name one with --model REPO_ID")


def verify_folder(entry: LockedModel, folder: Path, line: int) -> ModelCheck:
    """Compare a folder's files (or their LFS pointers) with the locked ones."""
    if not folder.is_dir():
        return ModelCheck(repo_id=entry.repo_id, target=str(folder), status="failed", line=line,
                          problems=[Problem(path=str(folder), kind="missing", message=f"{folder}: folder not found")])
    inventory = LocalSource(folder).inventory()
    problems = compare_files(entry.files, {f.path: (f.size, f.sha256) for f in inventory.files})
    locked = {f.path for f in entry.files}
    pointers = sum(1 for f in inventory.files if not f.present and f.path in locked)
    note = f"{pointers} file(s) are Git-LFS pointers: checked against the pointer's sha256 and size" if pointers else None
    return ModelCheck(repo_id=entry.repo_id, target=str(folder), status="failed" if problems else "ok", line=line,
                      problems=problems, note=note)


def compare_files(locked: list[LockedFile], found: dict[str, tuple[int, str | None]]) -> list[Problem]:
    """Locked files vs found ones (path -> (size, sha256 or None when unknown)): what differs, by file."""
    problems = []
    expected = {f.path: f for f in locked}
    for path, want in expected.items():
        have = found.get(path)
        if have is None:
            problems.append(Problem(path=path, kind="missing", message=f"{path}: missing (locked {want.size} bytes)"))
            continue
        size, sha256 = have
        if size != want.size:
            problems.append(Problem(path=path, kind="modified",
                                    message=f"{path}: size {size} differs from the locked {want.size}"))
        elif sha256 is not None and sha256 != want.sha256:  # the Hub has no sha256 for small files
            problems.append(Problem(path=path, kind="modified",
                                    message=f"{path}: sha256 {sha256[:16]}... differs from the locked {want.sha256[:16]}..."))
    for path in sorted(set(found) - set(expected)):
        if path.lower().endswith(WEIGHT_SUFFIXES):
            problems.append(Problem(path=path, kind="extra", message=f"{path}: weight file not in the lock"))
    return problems


def _verify_remote(entry: LockedModel, line: int, *, endpoint: str | None, token: str | None) -> ModelCheck:
    """A Hub entry online: the revision must still resolve to the locked commit with the same files."""
    from openscore.sources import open_source

    spec = f"{entry.repo_id}@{entry.revision or entry.sha}"
    inventory = open_source(spec, endpoint=endpoint, token=token).inventory()
    problems = []
    if inventory.ref.sha != entry.sha:
        problems.append(Problem(path=entry.repo_id, kind="moved",
                                message=f"{spec} is now {inventory.ref.sha[:12]}, the lock pins {entry.sha[:12]}"))
    problems += compare_files(entry.files, {f.path: (f.size, f.sha256) for f in inventory.files})
    return ModelCheck(repo_id=entry.repo_id, target=spec, status="failed" if problems else "ok", line=line,
                      problems=problems)
