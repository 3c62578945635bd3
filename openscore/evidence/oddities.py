"""Card fields of the wrong type (`base_model: 12`, `datasets: 7`): kept as evidence of what was found.

A card is written by strangers. A field whose type makes no sense is neither used nor a crash: the
collector records it (kind `card.invalid-field`, the value found and its type, the card line) and
notes it as not checked, so the grade that needed it stays unknown and says why.
"""

from __future__ import annotations

import json

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

KIND = "card.invalid-field"


def describe(value) -> str:
    """`7 (int)`: the value as JSON, clipped, and its type."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):  # a YAML date, a set: anything json cannot write
        text = repr(value)
    return f"{text[:80]}{'...' if len(text) > 80 else ''} ({type(value).__name__})"


def record_invalid(out: CollectorOutput, ctx: CollectContext, card: str | None, key: str, value, wanted: str,
                   extractor: str) -> None:
    """Note that the card's `key` holds `value`, which is not `wanted`."""
    found = describe(value)
    line = _key_line(ctx, card, key)
    out.observations.append(Observation(
        kind=KIND, value={"field": key, "found": found, "expected": wanted},
        evidence=ctx.cite(rule=f"collect/card/invalid/{key}", extractor=extractor, file=card, line=line,
                          snippet=f"{key}: {found}"),
    ))
    out.not_checked.append(f"card `{key}:` is {found}, not {wanted}: ignored")


def _key_line(ctx: CollectContext, card: str | None, key: str) -> int | None:
    text = ctx.read_text(card) if card else None
    for number, line in enumerate((text or "").splitlines()[:1000], start=1):
        if line.startswith(f"{key}:"):
            return number
    return None
