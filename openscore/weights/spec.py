"""Fingerprints from what a user names on the command line: a fingerprint file or a checkpoint."""

from __future__ import annotations

from pathlib import Path

from openscore.errors import NetworkUnavailable
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget
from openscore.weights.fingerprint import Fingerprint, Progress, is_fingerprint_file


def fingerprint_spec(
    spec: str,
    *,
    sample: bool = False,
    device: str | None = None,
    progress: Progress | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> Fingerprint:
    """Load `spec` when it is a fingerprint file, else fingerprint the checkpoint it names.

    A Hub checkpoint goes through the fingerprint cache (openscore.weights.cache); offline
    (HF_HUB_OFFLINE), an unreachable Hub id is answered from the cache when it holds that repo."""
    if is_fingerprint_file(Path(spec)):
        return Fingerprint.load(spec)
    from openscore.sources import open_source, parse_hub_spec
    from openscore.weights.cache import cached_offline, fingerprint_source, offline

    source = open_source(spec, endpoint=endpoint, token=token)
    try:
        return fingerprint_source(source, sample=sample, device=device, progress=progress, read_budget=read_budget)
    except NetworkUnavailable:
        hub = parse_hub_spec(spec)
        found = (cached_offline(hub[0], hub[1], sample=sample, read_budget=read_budget) if hub and offline()
                 else None)
        if found is None:
            raise
        return found
