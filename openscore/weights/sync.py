"""`registry sync`: fingerprint the curated popular bases (known_bases.yaml `repos`) into the user registry.

Each base is fingerprinted by sampled Range reads (a few % of its bytes, through the fingerprint
cache) and added as soon as it is done, so an interrupted sync resumes where it stopped: a base
already registered at the Hub's current commit is skipped. Gated, absent or unreadable bases are
reported and skipped, never fatal; an unreachable Hub (or HF_HUB_OFFLINE) stops the sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from openscore.errors import GatedRepo, NetworkUnavailable, OpenscoreError, RepoNotFound, RevisionNotFound
from openscore.evidence.known_bases import KnownRepo, known_bases
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget
from openscore.weights.registry import Registry


@dataclass
class SyncOutcome:
    """Per base: "added", "up-to-date", "gated", "absent", "failed" or "not-reached", with a note."""

    status: dict[str, tuple[str, str]] = field(default_factory=dict)
    bytes_read: int = 0  # body bytes received from the Hub by this sync

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.status.values() if s == status)


def selected(only: tuple[str, ...] = (), families: tuple[str, ...] = ()) -> list[KnownRepo]:
    """The curated bases, filtered by repo id and family (both empty: all of them)."""
    repos = known_bases().repos
    return [r for r in repos if (not only or r.id in only) and (not families or r.family in families)]


def sync(
    registry: Registry,
    repos: list[KnownRepo],
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    refresh: bool = False,
    report: Callable[[str, str, str], None] = lambda _id, _status, _note: None,
    progress: Callable[[KnownRepo], Callable[[int, int], None] | None] = lambda _repo: None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> SyncOutcome:
    """Fingerprint `repos` into `registry` (sampled reads within `read_budget`). `report(id, status, note)` is
    called as each base is done (and once for the first base not reached when the sync stops); `progress(repo)`
    gives the (done, total) bytes callback of one base's fingerprint."""
    from openscore.sources.hub import HubSource, offline_mode
    from openscore.weights.cache import fingerprint_source

    outcome = SyncOutcome()

    def one(repo: KnownRepo, source) -> tuple[str, str]:
        ref = source.ref
        current = registry.get(repo.id)
        if current is not None and current.source == ref.key and not refresh:
            return "up-to-date", f"at {ref.sha[:12]}"
        fp = fingerprint_source(source, sample=True, progress=progress(repo), read_budget=read_budget)
        registry.add(fp, repo.id, licence=repo.licence, parent=repo.parent, allow_sample=True,
                     meta={"base_family": repo.family, "synced_bytes_read": fp.bytes_read,
                           "bytes_total": fp.bytes_total})
        note = f"{fp.bytes_read:,} of {fp.bytes_total:,} bytes read"
        return "added", note + (f", {fp.budget.coverage()}" if fp.budget else "")

    for n, repo in enumerate(repos):
        if offline_mode():
            outcome.status.update({r.id: ("not-reached", "offline (HF_HUB_OFFLINE): nothing fetched")
                                   for r in repos[n:]})
            report(repo.id, *outcome.status[repo.id])
            break
        source = HubSource(repo.id, endpoint=endpoint, token=token)
        try:
            outcome.status[repo.id] = one(repo, source)
        except GatedRepo:
            outcome.status[repo.id] = ("gated", "gated on the Hub: pass a token with access")
        except (RepoNotFound, RevisionNotFound):
            outcome.status[repo.id] = ("absent", "not found on the Hub")
        except NetworkUnavailable as exc:
            outcome.status.update({r.id: ("not-reached", f"{exc}; stopped (a later sync resumes here)")
                                   for r in repos[n:]})
        except OpenscoreError as exc:
            outcome.status[repo.id] = ("failed", str(exc))
        finally:
            outcome.bytes_read += source.bytes_transferred
        report(repo.id, *outcome.status[repo.id])
        if outcome.status[repo.id][0] == "not-reached":
            break
    return outcome
