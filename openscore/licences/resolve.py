"""Declared licence -> facts: the card's `license`, `license_name` and `license_link` fields.

The Hub's `license:` is a closed list of ids, but real cards also write `other` plus a free-form
`license_name` (`gemma-terms-of-use`, `tongyi-qianwen`, `llama3`...), or leave the id out. Resolution
is conservative: whatever cannot be matched to a table entry or an SPDX id is "unknown", never open.
"""

from __future__ import annotations

from openscore.licences.catalogue import load_catalogue, unknown_facts
from openscore.report import LicenceFacts


def resolve(license_id: str | None, *, license_name: str | None = None,
            license_link: str | None = None) -> LicenceFacts:
    """Facts of the licence a card declares; id "unknown" when nothing identifies it."""
    table = load_catalogue()
    declared = (license_id or "").strip()
    if declared and declared.lower() not in table.table.ambiguous_hub_ids:
        entry_id = _known_id(declared)
        if entry_id is not None:
            return table.facts(entry_id)
    if license_name and license_name.strip():
        entry_id = _known_id(license_name.strip())
        if entry_id is not None:
            return table.facts(entry_id)
    if license_link and license_link.strip():
        entry = table.by_link(license_link)
        if entry is not None:
            return table.facts(entry.id)
    return unknown_facts()


def _known_id(value: str) -> str | None:
    """A Hub id, licence id, SPDX id or known licence name -> the catalogue id, else None."""
    table = load_catalogue()
    entry = table.by_hub_id(value) or table.by_id(value) or table.by_name(value)
    if entry is not None:
        return entry.id
    return table.spdx_id(value)
