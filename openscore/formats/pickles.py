"""Pickle-based weight files (`pytorch_model*.bin`, `*.pt`, `*.pth`, `*.ckpt`): scanned, never loaded.

Unpickling runs code chosen by the file's author, so openscore only walks the opcode stream and reports
the globals it would import, classified with picklescan's lists (dangerous / known safe / anything else:
suspicious). The walk is our own and streaming because the file is hostile: zip members are inflated
through a cap on decompressed bytes, the number of opcodes is capped, and only a few recent opcodes are
kept, so memory stays bounded whatever the archive claims. A file that cannot be parsed, or that runs
past a cap, gets `error` set: reported as `unscannable-pickle`, never as clean.
"""

from __future__ import annotations

import logging
import os
import pickletools
import zipfile
from collections import deque
from typing import IO

from openscore.errors import OpenscoreError, UnsafePickle
from openscore.formats.records import CheckpointHeaders, PickleScan
from openscore.safeio import open_regular
from openscore.sources.base import FileEntry, Source

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: remote pickles up to this size are downloaded and scanned here; larger ones rely on the Hub's scan
REMOTE_SCAN_MAX_BYTES = 50_000_000
NOT_SCANNED_REMOTE = "not scanned (remote file too large and the Hub reports no scan)"
#: pickle bytes walked per file (after inflation): torch's data.pkl of a 70B model is a few MB
MAX_PICKLE_BYTES = 32 << 20
#: opcodes walked per file
MAX_OPCODES = 2_000_000
#: zip members looked at per file (a torch zip has one per storage, plus a handful)
MAX_ZIP_MEMBERS = 100_000
#: distinct globals kept per file; the memo keeps at most this many strings
MAX_GLOBALS = 10_000
MAX_MEMO = 100_000
#: what torch's legacy (pre-1.6, non-zip) format starts with: this integer, pickled
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_PICKLE_EXTENSIONS = (".pkl", ".data", ".dat", ".pickle", ".joblib")
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "UNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING",
                         "SHORT_BINSTRING"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})

# picklescan logs every finding as a warning; openscore reports them itself, in one place
logging.getLogger("picklescan").setLevel(logging.CRITICAL)


class _OverCap(Exception):
    """The file went past one of the scan caps."""


class _Budget:
    """Caps shared by every pickle of one file."""

    def __init__(self) -> None:
        self.bytes = 0
        self.opcodes = 0

    def take(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_PICKLE_BYTES:
            raise _OverCap(f"more than {MAX_PICKLE_BYTES:,} bytes of pickle data (after decompression)")

    def tick(self) -> None:
        self.opcodes += 1
        if self.opcodes > MAX_OPCODES:
            raise _OverCap(f"more than {MAX_OPCODES:,} pickle opcodes")


class _Capped:
    """A read-only stream that charges every byte read to the budget (what genops needs: read, readline)."""

    def __init__(self, raw: IO[bytes], budget: _Budget):
        self._raw, self._budget, self._pos = raw, budget, 0
        self._pushed = b""

    def at_end(self) -> bool:
        """True when no byte is left (one byte is read ahead and kept)."""
        if not self._pushed:
            self._pushed = self._raw.read(1)
        return not self._pushed

    def read(self, n: int = -1) -> bytes:
        room = MAX_PICKLE_BYTES - self._budget.bytes + 1  # an opcode claiming 4 GB reads no more than this
        n = room if n is None or n < 0 else min(n, room)
        head, self._pushed = self._pushed[:n], self._pushed[n:]
        data = self._raw.read(n - len(head)) if n > len(head) else b""
        if head:
            data = head + data
        self._budget.take(len(data))
        self._pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        # text opcodes end with a newline; a line is read a byte at a time so no cap can be skipped
        out = bytearray()
        while limit < 0 or len(out) < limit:
            byte = self.read(1)
            out += byte
            if byte in (b"", b"\n"):
                break
        return bytes(out)

    def tell(self) -> int:
        return self._pos


def _walk(stream: _Capped, budget: _Budget, found: set[tuple[str, str]]) -> object:
    """Walk one pickle, adding the globals it imports to `found`; returns the first opcode's argument
    after PROTO. Raises ValueError (from pickletools) when it is not a well-formed pickle."""
    memo: dict[object, str] = {}
    memo_count = 0
    recent: deque[tuple[str, object]] = deque(maxlen=16)  # non-memo opcodes, for STACK_GLOBAL
    first_arg: object = None
    for opcode, arg, _ in pickletools.genops(stream):
        budget.tick()
        name = opcode.name
        if first_arg is None and name != "PROTO":
            first_arg = arg
        if name in _MEMO_PUTS:
            key = memo_count if name == "MEMOIZE" else arg
            memo_count += 1
            if recent and recent[-1][0] in _STRING_OPS and len(memo) < MAX_MEMO:
                memo[key] = str(recent[-1][1])
            continue
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            _add(found, module, attr)
        elif name == "STACK_GLOBAL":
            values = []
            for prev_name, prev_arg in reversed(recent):
                if prev_name in _MEMO_GETS:
                    values.append(memo.get(prev_arg, "unknown"))
                elif prev_name in _STRING_OPS:
                    values.append(str(prev_arg))
                else:
                    values.append("unknown")  # built by other opcodes: cannot be named statically
                if len(values) == 2:
                    break
            while len(values) < 2:
                values.append("unknown")
            _add(found, values[1], values[0])
        recent.append((name, arg[:1000] if isinstance(arg, str) else arg if name in _MEMO_GETS else None))
    return first_arg


def _add(found: set[tuple[str, str]], module: str, name: str) -> None:
    if len(found) >= MAX_GLOBALS:
        raise _OverCap(f"more than {MAX_GLOBALS:,} distinct globals")
    found.add((module, name))


def _scan_stream(raw: IO[bytes], budget: _Budget, found: set[tuple[str, str]], *, legacy_ok: bool) -> None:
    """Every pickle in `raw`, one after another, until its end.

    torch's legacy format is five pickles (magic number first) followed by raw storage bytes: with
    `legacy_ok`, the walk stops after those five. Anything else must be pickles to the last byte."""
    stream = _Capped(raw, budget)
    count, legacy = 0, False
    while not stream.at_end():
        first = _walk(stream, budget, found)
        count += 1
        if count == 1 and legacy_ok and first == TORCH_LEGACY_MAGIC:
            legacy = True
        if legacy and count == 5:
            return


def _scan_zip(fh: IO[bytes], budget: _Budget, found: set[tuple[str, str]]) -> None:
    with zipfile.ZipFile(fh) as archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise _OverCap(f"more than {MAX_ZIP_MEMBERS:,} zip members")
        for member in members:
            if member.is_dir():
                continue
            with archive.open(member) as inner:
                magic = inner.read(2)
            if not (member.filename.lower().endswith(_PICKLE_EXTENSIONS) or _is_pickle_magic(magic)):
                continue  # tensor storage: raw numbers, nothing to import
            with archive.open(member) as inner:
                _scan_stream(inner, budget, found, legacy_ok=False)


def _is_pickle_magic(head: bytes) -> bool:
    return len(head) == 2 and head[0] == 0x80 and head[1] <= 5


def _classify(found: set[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dangerous, suspicious) "module.name" lists, by picklescan's lists; what is neither safe nor
    dangerous is suspicious (e.g. importlib.import_module, code.InteractiveInterpreter)."""
    from picklescan.scanner import SafetyLevel, _build_scan_result_from_raw_globals

    result = _build_scan_result_from_raw_globals(found, "pickle")
    dangerous = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous})
    suspicious = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Suspicious})
    return tuple(dangerous), tuple(suspicious)


def scan_path(disk_path: str | os.PathLike[str], file: str) -> PickleScan:
    """Statically scan one local file: the globals its pickles would import, within the caps."""
    found: set[tuple[str, str]] = set()
    budget = _Budget()
    error = None
    try:
        with open_regular(disk_path, what="pickle file") as fh:
            if zipfile.is_zipfile(fh):
                fh.seek(0)
                _scan_zip(fh, budget, found)
            else:
                fh.seek(0)
                _scan_stream(fh, budget, found, legacy_ok=True)
            if budget.opcodes == 0:
                error = "no pickle data found"
    except _OverCap as exc:
        error = f"not fully scanned: {exc}"
    except OpenscoreError as exc:  # not a regular file
        error = str(exc)
    except (ValueError, EOFError, zipfile.BadZipFile, NotImplementedError, OSError, RuntimeError) as exc:
        # pickletools raises ValueError on anything malformed; zipfile a BadZipFile or zlib/lzma errors
        error = f"could not be parsed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    except Exception as exc:  # noqa: BLE001 - zlib.error and friends: the file is not known clean, say so
        error = f"could not be parsed: {type(exc).__name__}"
    dangerous, suspicious = _classify(found)
    return PickleScan(file=file, dangerous=dangerous, suspicious=suspicious, error=error)


def is_pickle_file(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


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
            with source.fetch(entry.path, REMOTE_SCAN_MAX_BYTES) as tmp:
                return scan_path(tmp, entry.path)
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
