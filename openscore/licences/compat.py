"""Comparing licences: the openness order, licence laundering and card-vs-file conflicts."""

from __future__ import annotations

from collections.abc import Mapping

from openscore.licences.catalogue import Tier, load_catalogue
from openscore.licences.identify import LicenceMatch
from openscore.report import LicenceFacts


def tier_of(facts: LicenceFacts) -> Tier:
    """The openness tier of resolved facts (looked up by id; the facts' own tier as a fallback)."""
    table = load_catalogue()
    tier = table.tier_of(facts.id)
    if tier.id == "unknown" and facts.tier in table.tiers:
        return table.tiers[facts.tier]
    return tier


def is_more_permissive(derivative: LicenceFacts, base: LicenceFacts) -> bool:
    """True when a derivative declares a licence more open than its base permits (licence laundering).

    Compares the tiers' ranks in licences.yaml (unknown < research-only < non-commercial
    < vendor-community < RAIL < open). An unknown licence on either side proves nothing: False.
    """
    derived_rank, base_rank = tier_of(derivative).rank, tier_of(base).rank
    if derived_rank == 0 or base_rank == 0:
        return False
    return derived_rank > base_rank


def conflicting_files(declared: LicenceFacts, files: Mapping[str, LicenceMatch]) -> dict[str, str]:
    """Licence files whose text is a different known licence than the one declared: {path: found id}.

    Files identified as "unknown" conflict with nothing (they may be notices or policies we cannot
    read); when the card declares nothing known, the files are the only evidence, not a conflict.
    """
    if declared.id == "unknown":
        return {}
    return {path: match.id for path, match in sorted(files.items())
            if match.id != "unknown" and match.id != declared.id}
