"""Declared licence -> facts: the card's `license`, `license_name` and `license_link` fields.

The Hub's `license:` is a closed list of ids, but real cards also write `other` plus a free-form
`license_name` (`gemma-terms-of-use`, `tongyi-qianwen`, `llama3`...), or leave the id out. Resolution
is conservative: whatever cannot be matched to a table entry or an SPDX id is "unknown", never open.
"""

from __future__ import annotations

import re

from openscore.licences.catalogue import load_catalogue, unknown_facts
from openscore.report import LicenceFacts

_OPERATOR_RE = re.compile(r"\s+(AND|OR)\s+", re.IGNORECASE)


def resolve(license_id: str | None, *, license_name: str | None = None,
            license_link: str | None = None) -> LicenceFacts:
    """Facts of the licence a card declares; id "unknown" when nothing identifies it."""
    table = load_catalogue()
    declared = (license_id or "").strip()
    if _OPERATOR_RE.search(declared):
        return _resolve_expression(declared)
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


def _resolve_expression(expression: str) -> LicenceFacts:
    """A flat SPDX expression ("MIT OR Apache-2.0", "Apache-2.0 AND CC-BY-NC-4.0"). With OR the user may
    pick, so the most open part counts; with AND every part binds, so the most restrictive one governs.
    An unknown part, parentheses or a mix of AND and OR give "unknown": we do not guess."""
    parts = _OPERATOR_RE.split(expression.strip())
    operands, operators = parts[0::2], {op.upper() for op in parts[1::2]}
    if len(operators) != 1 or any(ch in expression for ch in "()"):
        return unknown_facts()
    table = load_catalogue()
    ids = [_known_id(operand.strip()) for operand in operands]
    if any(i is None for i in ids):
        return unknown_facts()
    ranked = sorted(ids, key=lambda i: table.tier_of(i).rank)  # type: ignore[arg-type]
    return table.facts(ranked[-1] if operators == {"OR"} else ranked[0])  # type: ignore[arg-type]
