"""A whole registry as static files: `registry export DIR` writes it, `registry pull URL-or-DIR` fetches it.

One machine's `registry sync` then serves every CI job. The export is `index.yaml` (the registry index,
each entry with the sha256 of its fingerprint file) beside the `.osfp` files, servable by any static
web server (the leaderboard site publishes its registry under `registry/`). A pull trusts nothing it
reads: the index is size-bounded and validated, every file name is ours (the entry id's slug, never a
path from the index), each fingerprint is fetched within a size and time bound, checked against its
sha256 and parsed before anything is written; the pulled entries then replace user entries of the
same id, index last, each file written atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from openscore.atomic import write_bytes
from openscore.errors import ConfigError, UsageError
from openscore.safeio import read_bounded
from openscore.sources.fetch import bounded_get
from openscore.sources.limits import Deadline
from openscore.weights.fingerprint import Fingerprint
from openscore.weights.registry import (
    _ID, INDEX_FILE, MAX_INDEX_BYTES, Registry, RegistryEntry, _read_index, _slug, parse_index, write_index,
)

#: bounds of a pull: the index, one fingerprint file, all of them, and the wall clock of the whole pull
MAX_FINGERPRINT_BYTES = 64 << 20
MAX_TOTAL_BYTES = 2 << 30
PULL_DEADLINE_S = 600.0
READ_TIMEOUT_S = 30.0


def export(registry: Registry, dest: Path) -> list[RegistryEntry]:
    """Write every entry of `registry` (shipped and user) with its sha256 into `dest`."""
    out = []
    for entry in registry.entries():
        data = registry.fingerprint(entry.id).to_bytes()
        name = f"{_slug(entry.id)}.osfp"
        write_bytes(dest / name, data)
        out.append(entry.model_copy(update={"fingerprint": name, "sha256": hashlib.sha256(data).hexdigest()}))
    write_index(dest, out)
    return out


class _Fetcher:
    """Bounded reads from a folder or an http(s) URL, all within one deadline."""

    def __init__(self, origin: str):
        self.deadline = Deadline(PULL_DEADLINE_S, "registry pull")
        self.total = 0
        scheme = urlsplit(origin).scheme
        if scheme in ("http", "https"):
            self.base, self.folder = origin.rstrip("/") + "/", None
        elif scheme in ("", "file") and Path(origin.removeprefix("file://")).is_dir():
            self.base, self.folder = None, Path(origin.removeprefix("file://"))
        else:
            raise UsageError(f"registry pull {origin!r}: give an http(s) URL or an existing folder")

    def read(self, name: str, limit: int) -> bytes:
        if self.folder is not None:  # a regular file only (a FIFO would block), `limit` bytes at most
            data = read_bounded(self.folder / name, limit, error=ConfigError, what="registry file")
        else:
            data = self._get(urljoin(self.base, name), limit)
        self.total += len(data)
        if self.total > MAX_TOTAL_BYTES:
            raise ConfigError(f"registry larger than {MAX_TOTAL_BYTES:,} bytes in all; refusing it")
        return data

    def _get(self, url: str, limit: int) -> bytes:
        status, _, body = bounded_get(url, deadline=self.deadline, timeout=READ_TIMEOUT_S, max_bytes=limit)
        if status != 200:
            raise ConfigError(f"{url}: HTTP {status}")
        if len(body) > limit:
            raise ConfigError(f"{url}: the registry file is larger than the {limit:,}-byte limit")
        return body


def pull(origin: str, registry: Registry) -> list[RegistryEntry]:
    """Fetch the registry published at `origin` into `registry`'s user folder; returns the entries pulled."""
    fetch = _Fetcher(origin)
    index = parse_index(fetch.read(INDEX_FILE, MAX_INDEX_BYTES), f"{origin}: {INDEX_FILE}")
    staged: list[tuple[RegistryEntry, bytes]] = []
    for entry in index.entries:
        if not _ID.match(entry.id):
            raise ConfigError(f"{origin}: invalid registry id {entry.id[:80]!r}")
        if not entry.sha256:  # (its file name is checked by RegistryEntry: a plain name beside the index)
            raise ConfigError(f"{origin}: entry {entry.id!r} lacks a sha256; export it with `openscore registry "
                              "export`")
        data = fetch.read(entry.fingerprint, MAX_FINGERPRINT_BYTES)
        got = hashlib.sha256(data).hexdigest()
        if got != entry.sha256:
            raise ConfigError(f"{origin}: {entry.fingerprint} has sha256 {got}, the index says {entry.sha256}")
        Fingerprint.from_bytes(data, f"{origin}: {entry.fingerprint}")  # a valid fingerprint, or InvalidCheckpoint
        staged.append((entry.model_copy(update={"fingerprint": f"{_slug(entry.id)}.osfp", "sha256": None}), data))
    user = registry.user_dir
    for entry, data in staged:
        write_bytes(user / entry.fingerprint, data)
    pulled = {e.id for e, _ in staged}
    write_index(user, [e for e in _read_index(user).entries if e.id not in pulled] + [e for e, _ in staged])
    return [e for e, _ in staged]
