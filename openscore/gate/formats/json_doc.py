"""The GateResult as canonical JSON (sorted keys): the machine-readable record of a run."""

from __future__ import annotations

from openscore.atomic import canonical_json
from openscore.gate.result import GateResult


def render_json(result: GateResult) -> str:
    return canonical_json(result.model_dump(mode="json"))
