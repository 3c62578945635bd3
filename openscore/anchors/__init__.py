"""Compatibility with the outside openness anchors: the OSAI Index database and the Model Openness Tool."""

from __future__ import annotations

from openscore.errors import UsageError
from openscore.report import AuditReport, Grade


def reviewed_grades(report: AuditReport, rubric_id: str) -> dict[str, Grade]:
    """{dimension: Grade} of one rubric of a report; a reviewed override replaces the automatic grade
    (its reason becomes the grade's reason), since an export speaks for the reviewed audit."""
    result = report.rubrics.get(rubric_id)
    if result is None:
        raise UsageError(f"the report of {report.source.repo_id} has no {rubric_id} grades "
                         f"(it has: {', '.join(sorted(report.rubrics)) or 'none'})")
    out: dict[str, Grade] = {}
    for grade in result.grades:
        if grade.override is not None:
            grade = grade.model_copy(update={"grade": grade.override.grade,
                                             "reason": f"{grade.override.reason} (reviewed by {grade.override.reviewer})"})
        out[grade.dimension] = grade
    return out


def hub_url(report: AuditReport) -> str | None:
    """The public page of the audited repository, when it is a Hub repository."""
    return f"https://huggingface.co/{report.source.repo_id}" if report.source.kind == "hub" else None
