"""Checking a declared base against its own weights: confirmed, contradicted, or not checkable (why).

What a card, adapter config or config.json names as the base is a claim. Its fingerprint comes from
the registry (a synced or pulled entry), else the fingerprint cache, else sampled Range reads of the
Hub repo (a few % of its bytes, then cached); the model's fingerprint is compared with it. Related
means confirmed; unrelated means contradicted, together with the registry base the weights do match.
A gated, absent or unreachable base, or an inconclusive comparison, is *not checkable*, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from openscore.errors import GatedRepo, NetworkUnavailable, OpenscoreError, RepoNotFound, RevisionNotFound
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget
from openscore.report import DeclaredBaseCheck
from openscore.weights.compare import Comparison, compare
from openscore.weights.fingerprint import Fingerprint
from openscore.weights.registry import RELATED, Registry


def declared_fingerprint(name: str, registry: Registry, *, endpoint: str | None = None,
                         token: str | bool | None = None, fetch: bool = True,
                         read_budget: ReadBudget | None = DEFAULT_READ_BUDGET) -> tuple[Fingerprint | None, str]:
    """(the declared base's fingerprint, where it came from) or (None, why it could not be had).

    `fetch=False` (a local audit) looks in the registry and the fingerprint cache only; sampled reads stay within
    `read_budget`."""
    from openscore.sources import parse_hub_spec
    from openscore.sources.hub import HubSource
    from openscore.weights.cache import cached_offline, fingerprint_source, offline

    entry_id = registry.resolve(name)
    if entry_id is not None:
        return registry.fingerprint(entry_id), f"registry entry {entry_id}"
    hub = parse_hub_spec(name)
    if hub is None:
        return None, f"{name!r} is not a Hub repo id"
    if offline() or not fetch:
        found = cached_offline(*hub, sample=True, read_budget=read_budget)
        why = "offline (HF_HUB_OFFLINE)" if fetch else "a local audit reads nothing from the Hub"
        return (found, "fingerprint cache") if found is not None else (
            None, f"{why}, and {name} is neither in the registry nor in the fingerprint cache "
                  "(`openscore registry sync` or `registry pull` adds it)")
    try:
        fp = fingerprint_source(HubSource(hub[0], revision=hub[1], endpoint=endpoint, token=token), sample=True,
                                read_budget=read_budget)
    except GatedRepo:
        return None, f"{name} is gated on the Hub: its weights need a token with access"
    except (RepoNotFound, RevisionNotFound):
        return None, f"{name} is absent from the Hub (not found, or private)"
    except NetworkUnavailable as exc:
        found = cached_offline(*hub, sample=True, read_budget=read_budget)
        return (found, "fingerprint cache") if found is not None else (None, f"the Hub is unreachable ({exc})")
    except OpenscoreError as exc:
        return None, f"{name}: its weights cannot be fingerprinted ({exc})"
    return fp, f"sampled reads of {name} ({fp.bytes_read} bytes)" if fp.bytes_read else "fingerprint cache"


def check_declared(
    declared: str | None,
    own_repo: str,
    registry: Registry,
    candidate: Callable[[], Fingerprint | None],
    detected: str | None,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    fetch: bool = True,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
    compared: dict[str, Comparison] | None = None,
) -> DeclaredBaseCheck | None:
    """Compare `declared`'s weights with the model's (`candidate()`, None when they cannot be read).

    `detected` is the registry base the weights match (the lineage root), reported on contradiction;
    `compared` holds comparisons already made with registry entries (by id), not made again."""
    if not declared:
        return None

    def result(status: str, reason: str, matched: str | None = None) -> DeclaredBaseCheck:
        return DeclaredBaseCheck(status=status, reason=reason, base=declared, matched=matched)

    if declared.split("@", 1)[0].lower() == own_repo.split("@", 1)[0].lower():
        return result("not-checkable", "the declared base names the model itself")
    fp = candidate()
    if fp is None:
        return result("not-checkable", "the model's own weights could not be read")
    base_fp, origin = declared_fingerprint(declared, registry, endpoint=endpoint, token=token, fetch=fetch,
                                           read_budget=read_budget)
    if base_fp is None:
        return result("not-checkable", origin)
    declared_id = registry.resolve(declared)
    c = (compared or {}).get(declared_id) or compare(base_fp, fp)
    lineage = registry.lineage(declared_id) if declared_id else []
    other = detected if detected and detected not in lineage else None
    if c.verdict in RELATED:
        return result("confirmed", f"the weights are {c.verdict} of {declared} ({origin}): {c.reason}", declared)
    if other is not None:
        return result("contradicted", f"the weights are not from {declared} ({c.verdict}: {c.reason}); "
                                      f"they match {other}", other)
    if c.verdict in ("independent", "architecture-clone"):
        return result("contradicted", f"the weights are {c.verdict} of {declared} ({origin}): {c.reason}")
    return result("not-checkable", f"comparison with {declared} ({origin}) is inconclusive: {c.reason}")
