"""The licence engine: declared licence ids and licence texts -> licence facts, and their order.

    resolve(license_id, license_name=..., license_link=...) -> LicenceFacts   (card metadata)
    identify_text(text) -> LicenceMatch                                       (LICENSE-like files)
    is_more_permissive(derivative, base) -> bool                              (licence laundering)
    conflicting_files(declared, {path: LicenceMatch}) -> {path: id}           (card vs. file)
    facts(licence_id) -> LicenceFacts                                         (facts of a known id)

The facts live in openscore/data/licences.yaml and mof_licences.yaml; see docs/licences.md.
"""

from __future__ import annotations

from openscore.licences.catalogue import load_catalogue
from openscore.licences.compat import conflicting_files, is_more_permissive, tier_of
from openscore.licences.identify import LicenceMatch, identify_text
from openscore.licences.resolve import resolve
from openscore.report import LicenceFacts


def facts(licence_id: str) -> LicenceFacts:
    """Facts of a licence id as resolve() returns them ("unknown" facts for an unknown id)."""
    return load_catalogue().facts(licence_id)


__all__ = ["LicenceMatch", "conflicting_files", "facts", "identify_text", "is_more_permissive", "resolve", "tier_of"]
