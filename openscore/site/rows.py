"""One model's current state as plain JSON data: a leaderboard row and an `api/models.json` entry.

The row is built once and read by the leaderboard table, the compare page, the CSV, the badges and
the JSON API, so every view shows the same numbers. Grades in a row are the *effective* grades (a
reviewed override wins over the automatic grade); the automatic grade stays in `overrides`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from openscore.report import AuditReport, Grade
from openscore.site.catalog import RubricCatalog
from openscore.site.store import AuditedModel


def effective_grade(grade: Grade) -> str:
    return grade.override.grade if grade.override else grade.grade


def repo_of(reference: str | None) -> str | None:
    """`org/name` of a registry reference `org/name@sha` (the form provenance uses for bases)."""
    return reference.split("@", 1)[0] if reference else None


#: A card listing more bases than this is noise (or hostile); the site shows the first ones.
MAX_DECLARED_BASES = 8


def declared_bases(report: AuditReport) -> list[str]:
    """Bases the model claims: provenance's declared base, else the card's `base_model` (str or list).

    An audit without weights has no provenance, but the card still names its base; the lineage
    page draws that claim either way. Front matter is untrusted: only strings are taken.
    """
    if report.provenance is not None and report.provenance.declared_base:
        return [report.provenance.declared_base]
    front = report.card.get("front_matter") if isinstance(report.card, dict) else None
    value = front.get("base_model") if isinstance(front, dict) else None
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v.strip() for v in values if isinstance(v, str) and v.strip()][:MAX_DECLARED_BASES]


def model_links(model: AuditedModel) -> dict[str, str]:
    """Site-relative paths of the model's page, API document and badge."""
    return {
        "page": f"models/{model.path}.html",
        "api": f"api/models/{model.path}.json",
        "badge": f"badges/{model.path}.svg",
    }


def model_row(model: AuditedModel, catalog: RubricCatalog) -> dict[str, Any]:
    report = model.latest
    rubrics = {}
    for rubric_id in sorted(report.rubrics):
        result = report.rubrics[rubric_id]
        rubrics[rubric_id] = {
            "version": result.version,
            "profile": catalog.primary_profile(result),
            "score": catalog.primary_score(result),
            "scores": dict(sorted(result.scores.items())),
            "classification": result.classification,
            "grades": {g.dimension: effective_grade(g) for g in result.grades},
            "overrides": {
                g.dimension: {"automatic": g.grade, "override": g.override.grade}
                for g in result.grades
                if g.override is not None
            },
        }
    provenance = report.provenance
    severities = Counter(f.severity for f in report.findings)
    return {
        "repo_id": model.repo_id,
        "sha": report.source.sha,
        "committed_at": report.source.committed_at,
        "source_kind": report.source.kind,
        "audits": len(model.history),
        "links": model_links(model),
        "declared_bases": declared_bases(report),
        "rubrics": rubrics,
        "licence": {
            "declared": report.licence.declared,
            "id": report.licence.resolved.id,
            "name": report.licence.resolved.name,
            "open": report.licence.resolved.open,
            "osi_approved": report.licence.resolved.osi_approved,
        },
        "provenance": None
        if provenance is None
        else {
            "verdict": provenance.verdict,
            "base": provenance.base,
            "base_repo": repo_of(provenance.base),
            "declared_base": provenance.declared_base,
            "confidence": provenance.confidence,
        },
        "findings": {severity: severities.get(severity, 0) for severity in ("error", "warning", "info")},
    }
