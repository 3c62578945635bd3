"""Bounded reads of files that strangers may control: every file openscore reads whole goes through here.

A policy, lock, report, card or config file is opened without blocking, refused unless it is a regular
file (a FIFO would block for ever, `/dev/zero` or a symlink to it never ends), and read up to a size cap
(checked on the bytes actually read, not on what `stat` claims). Errors are one line, of the type the
caller names (ConfigError for a policy, InvalidReport for a report, ...).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from openscore.errors import OpenscoreError, UsageError

#: the default cap for a file read whole (configs, cards, licences); callers pass their own when it differs
DEFAULT_MAX_BYTES = 4_000_000


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], *, error: type[OpenscoreError] = UsageError, what: str = "file"):
    """A binary file object for `path`, which must be a regular file (symlinks followed); never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path}: cannot read the {what}: {_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES, *,
                 error: type[OpenscoreError] = UsageError, what: str = "file") -> bytes:
    """The whole content of the regular file `path`, refused when it holds more than `max_bytes`."""
    with open_regular(path, error=error, what=what) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: the {what} is larger than the {max_bytes:,}-byte limit")
    return data


def is_regular(path: str | os.PathLike[str]) -> bool:
    """True when `path` is (or links to) a regular file; False for FIFOs, devices, folders, missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def contained(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """`path` (relative to `root`, or absolute) resolved, refused unless it stays under `root`.

    The one check every writer uses: a name taken from outside (a Hub sha, a repo id, a site path) must
    never make openscore write beside or above the folder the user gave."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and not target.is_relative_to(base):
        raise UsageError(f"refusing to write {os.fspath(path)!r}: it resolves outside {base}")
    return target
