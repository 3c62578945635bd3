"""A model's audited commits, newest first, each with what changed since the commit before it.

OSAI keeps history only in git and MOT not at all; a reader here sees, per commit, which grades,
verdicts, classes and licence moved, so an openness claim can be dated.
"""

from __future__ import annotations

from typing import Any

from openscore.report import AuditReport
from openscore.site.catalog import RubricCatalog
from openscore.site.rows import effective_grade


def _facts(report: AuditReport) -> dict[str, str | None]:
    facts: dict[str, str | None] = {"licence": report.licence.resolved.id}
    facts["provenance"] = report.provenance.verdict if report.provenance else None
    for rubric_id, result in sorted(report.rubrics.items()):
        if result.classification is not None:
            facts[f"{rubric_id} classification"] = result.classification
        for grade in result.grades:
            facts[f"{rubric_id} {grade.dimension}"] = effective_grade(grade)
    return facts


def history(reports: tuple[AuditReport, ...], catalog: RubricCatalog) -> list[dict[str, Any]]:
    """Entries newest first: sha, date, primary score per rubric, and the changes to the older one."""
    entries = []
    previous: dict[str, str | None] | None = None
    for report in reports:
        facts = _facts(report)
        changes = []
        if previous is not None:
            for key in sorted(set(previous) | set(facts)):
                if previous.get(key) != facts.get(key):
                    changes.append({"what": key, "before": previous.get(key), "after": facts.get(key)})
        entries.append(
            {
                "sha": report.source.sha,
                "committed_at": report.source.committed_at,
                "scores": {rid: catalog.primary_score(result) for rid, result in sorted(report.rubrics.items())},
                "licence": report.licence.resolved.id,
                "provenance": facts["provenance"],
                "changes": changes,
                "first": previous is None,
            }
        )
        previous = facts
    return entries[::-1]
