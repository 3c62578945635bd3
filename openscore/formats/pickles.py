"""Pickle-based weight files (`pytorch_model*.bin`, `*.pt`, `*.pth`, `*.ckpt`): scanned, never loaded.

Unpickling runs code chosen by the file's author, so openscore only disassembles the opcode stream
(picklescan, which also opens torch's zip format) and reports the globals it imports. A file the
scanner cannot parse is reported with `error` set: suspicious, never clean.
"""

from __future__ import annotations

import logging
import os

from openscore.errors import UnsafePickle
from openscore.formats.records import CheckpointHeaders, PickleScan
from openscore.sources.base import FileEntry, Source

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: remote pickles up to this size are downloaded and scanned here; larger ones rely on the Hub's scan
REMOTE_SCAN_MAX_BYTES = 50_000_000
NOT_SCANNED_REMOTE = "not scanned (remote file too large and the Hub reports no scan)"

# picklescan logs every finding as a warning; openscore reports them itself, in one place
logging.getLogger("picklescan").setLevel(logging.CRITICAL)


def is_pickle_file(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def scan_path(disk_path: str | os.PathLike[str], file: str) -> PickleScan:
    """Statically scan one local file: the globals its pickles would import."""
    from picklescan.scanner import SafetyLevel, scan_file_path

    try:
        result = scan_file_path(os.fspath(disk_path))
    except Exception as exc:  # malformed zip/pickle: the scanner gave up, so the file is not known clean
        return PickleScan(file=file, dangerous=(), suspicious=(), error=f"scanner failed: {type(exc).__name__}: {exc}")
    dangerous = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous})
    suspicious = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Suspicious})
    error = "scanner could not parse the whole file" if result.scan_err else None
    return PickleScan(file=file, dangerous=tuple(dangerous), suspicious=tuple(suspicious), error=error)


def scan_entry(source: Source, entry: FileEntry) -> PickleScan | None:
    """Scan result for one pickle file of `source`; None when only its LFS pointer is there."""
    if not entry.present:
        return None
    local = source.local_path(entry.path)
    if local is not None:
        return scan_path(local, entry.path)
    from openscore.sources.hub import HubSource

    if isinstance(source, HubSource):
        if entry.size <= REMOTE_SCAN_MAX_BYTES:
            return scan_path(source.download(entry.path), entry.path)
        hub_scan = source.hub_pickle_scan(entry.path)
        if hub_scan is not None:
            return hub_scan
    return PickleScan(file=entry.path, dangerous=(), suspicious=(), error=NOT_SCANNED_REMOTE)


def assert_safe(headers: CheckpointHeaders, *, strict: bool = False) -> None:
    """Raise UnsafePickle when a scanned pickle imports a dangerous global.

    With `strict`, also when a pickle imports unknown (suspicious) globals or could not be scanned:
    what a CI gate wants, where "not known to be safe" is not good enough.
    """
    for scan in headers.pickle_scans:
        if scan.dangerous:
            raise UnsafePickle(f"{scan.file}: pickle imports dangerous globals: {', '.join(scan.dangerous)}")
    if strict:
        for scan in headers.pickle_scans:
            if scan.error:
                raise UnsafePickle(f"{scan.file}: pickle could not be verified: {scan.error}")
            if scan.suspicious:
                raise UnsafePickle(f"{scan.file}: pickle imports unknown globals: {', '.join(scan.suspicious)}")
