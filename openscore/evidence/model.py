"""What collectors hand to grading: observations, each pinned to where it was read.

An observation is one fact (a card field, a filled section, a link, a weight file) with the
Evidence that lets a reader find it again. Grading never re-reads files: it only looks
observations up by kind, so every grade can cite exactly what it used.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openscore.report import Evidence


class Observation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str  # "card.field.license", "card.section.training_data", "link.code", "file.weights", ...
    value: Any = None  # JSON-able: the field value, the URL, the path, {"id":..., "licence":...}
    evidence: Evidence


class CollectorOutput(BaseModel):
    """One collector's result: its version, what it observed and what it could not check."""

    model_config = ConfigDict(extra="forbid")

    extractor: str  # "name@version"
    observations: list[Observation] = Field(default_factory=list)
    searched: list[str] = Field(default_factory=list)  # what it looked for, for negative evidence
    not_checked: list[str] = Field(default_factory=list)  # e.g. dataset cards while offline


class EvidenceBundle(BaseModel):
    """Every collector's output for one `repo@sha`, keyed by collector name."""

    model_config = ConfigDict(extra="forbid")

    source: str  # "org/name@sha"
    collectors: dict[str, CollectorOutput] = Field(default_factory=dict)

    def find(self, kind: str) -> list[Observation]:
        """Observations of exactly `kind`, or of every kind under it when `kind` ends with '.'."""
        out = []
        for name in sorted(self.collectors):
            for obs in self.collectors[name].observations:
                if obs.kind == kind or (kind.endswith(".") and obs.kind.startswith(kind)):
                    out.append(obs)
        return out

    def find_prefix(self, prefix: str) -> list[Observation]:
        return [o for name in sorted(self.collectors) for o in self.collectors[name].observations
                if o.kind.startswith(prefix)]

    def first(self, kind: str) -> Observation | None:
        found = self.find(kind)
        return found[0] if found else None
