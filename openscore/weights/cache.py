"""The on-disk fingerprint cache: a Hub checkpoint is fingerprinted once per commit, whoever asks.

Entries are content-addressed by repo id and commit sha (a commit never changes), one file each:
`<root>/fingerprints/<org>__<name>/<sha>.full.osfp` (or `.sample.osfp` for a sampled one, and
`.sample.budget-<key>.osfp` for one sampled within a read budget; each answers requests of its own kind, so a
budgeted subset is never served as a whole fingerprint, nor a whole one for a budgeted request). Audit,
compare, `registry add/match`, the declared-base check and `registry sync` all read and fill it.
Writes go through a temporary file and an atomic rename, so processes filling the same entry at
once each publish a whole file and a reader never sees a torn one; an unreadable file is a miss.
With HF_HUB_OFFLINE set nothing asks the Hub: a pinned commit is looked up directly, an unpinned
repo id falls back to the newest cached commit of that repo.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from openscore.atomic import write_bytes
from openscore.errors import InvalidCheckpoint
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget
from openscore.weights.fingerprint import FINGERPRINT_VERSION, Fingerprint

_SHA = re.compile(r"^[0-9A-Za-z]{7,128}$")
_SUFFIX = {False: ".full.osfp", True: ".sample.osfp"}


def _suffix(sample: bool, budget: ReadBudget | None) -> str:
    return f".sample.budget-{budget.key}.osfp" if sample and budget is not None else _SUFFIX[sample]


def cache_root() -> Path:
    """`$OPENSCORE_CACHE`, else `$HF_HOME/openscore`, else `$XDG_CACHE_HOME/openscore`, else ~/.cache/openscore."""
    if os.environ.get("OPENSCORE_CACHE"):
        return Path(os.environ["OPENSCORE_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "openscore"
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "openscore"


def slug(repo_id: str) -> str:
    """A file name for a repo id: never a path (`/` and anything unusual become `__`)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "__", repo_id)
    return "_" + name if name.startswith(".") or not name else name


def offline() -> bool:
    from openscore.sources.hub import offline_mode

    return offline_mode()


class FingerprintCache:
    """Fingerprints of Hub commits under `root` (default: cache_root()/fingerprints)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_root() / "fingerprints"

    def path(self, repo_id: str, sha: str, *, sample: bool, budget: ReadBudget | None = DEFAULT_READ_BUDGET
             ) -> Path:
        if not _SHA.match(sha):
            raise ValueError(f"not a commit sha: {sha!r}")
        return self.root / slug(repo_id) / f"{sha}{_suffix(sample, budget)}"

    def get(self, repo_id: str, sha: str, *, sample: bool, budget: ReadBudget | None = DEFAULT_READ_BUDGET
            ) -> Fingerprint | None:
        """The cached fingerprint of `repo_id@sha` of that kind (a sampled request gets a sampled one, as
        `fingerprint --sparse` promises; a full one would be larger and read differently), made within the
        same read budget."""
        if not _SHA.match(sha):
            return None
        return self._load(self.path(repo_id, sha, sample=sample, budget=budget))

    def latest(self, repo_id: str, *, sample: bool, budget: ReadBudget | None = DEFAULT_READ_BUDGET
               ) -> Fingerprint | None:
        """The most recently written fingerprint of any commit of `repo_id` (offline, unpinned)."""
        folder = self.root / slug(repo_id)
        suffix = _suffix(sample, budget)
        try:
            files = [p for p in folder.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".")]
        except OSError:
            return None
        for path in sorted(files, key=lambda p: (-p.stat().st_mtime_ns, p.name)):
            found = self._load(path)
            if found is not None:
                return found
        return None

    def put(self, repo_id: str, sha: str, fp: Fingerprint, budget: ReadBudget | None = DEFAULT_READ_BUDGET
            ) -> Path:
        """Store `fp`, made within `budget` (None: none; a budget that did not bind is still its key: the same
        request always gets the same fingerprint, whatever was cached before)."""
        return write_bytes(self.path(repo_id, sha, sample=fp.sample, budget=budget), fp.to_bytes())

    @staticmethod
    def _load(path: Path) -> Fingerprint | None:
        try:
            found = Fingerprint.load(path)  # bounded, a regular file only
        except InvalidCheckpoint:
            return None  # absent, or written by another version: a miss, refilled on the next put
        # an older version compare() still reads is a miss too: the cache serves what this version computes
        return found if found.version == FINGERPRINT_VERSION else None


def fingerprint_source(source, *, sample: bool = False, device: str | None = None, progress=None,
                       headers=None, layout=None, cache: FingerprintCache | None = None,
                       read_budget: ReadBudget | None = DEFAULT_READ_BUDGET) -> Fingerprint:
    """The fingerprint of `source`: from the cache for a Hub commit, else computed (and cached when Hub).
    A sampled one is read within `read_budget` (None: no budget)."""
    from openscore.weights.fingerprint import fingerprint

    ref = source.ref
    store = cache if cache is not None else FingerprintCache()
    hub = ref.kind == "hub"
    budget = read_budget if sample else None
    if hub:
        hit = store.get(ref.repo_id, ref.sha, sample=sample, budget=budget)
        if hit is not None:
            return hit
    if headers is None:
        from openscore.formats import read_checkpoint

        headers = read_checkpoint(source)
    if layout is None:
        from openscore.layout import build_layout

        layout = build_layout(headers)
    fp = fingerprint(source, headers, layout, device=device, sample=sample, progress=progress, read_budget=budget)
    if hub:
        try:
            store.put(ref.repo_id, ref.sha, fp, budget)
        except InvalidCheckpoint:
            pass  # too many tensors for a fingerprint file: used uncached (the next audit computes it again)
    return fp


def cached_offline(repo_id: str, revision: str | None, *, sample: bool, cache: FingerprintCache | None = None,
                   read_budget: ReadBudget | None = DEFAULT_READ_BUDGET) -> Fingerprint | None:
    """Offline lookup: the pinned commit when `revision` is a sha, else the newest cached commit."""
    store = cache if cache is not None else FingerprintCache()
    budget = read_budget if sample else None
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return store.get(repo_id, revision, sample=sample, budget=budget)
    return store.latest(repo_id, sample=sample, budget=budget)
