"""Turn per-dimension grades into a score (graded rubrics) or a verdict (OSAID).

Two scoring profiles ship with the OSAI rubrics (their numbers live in the rubric YAML):
  osai-compatible  open 1, partial 0.5, closed 0; N/A and unknown count as 0 and stay in the
                   denominator, exactly as the osai-index.eu site computes its total.
  strict           the same values, but N/A dimensions leave the denominator (a dimension that
                   does not apply cannot make a model less open); unknown still counts as 0,
                   since "we could not tell" must never raise a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from openscore.errors import UsageError
from openscore.rubrics.model import GRADES, Rubric

OsaidVerdict = Literal["pass", "fail"]


def score(rubric: Rubric, grades: Mapping[str, str], profile: str = "osai-compatible") -> float | None:
    """Weighted mean of the grade values in [0, 1]; None when no dimension is left to count.

    A dimension absent from `grades` counts as "unknown". Grades for ids the rubric does not
    define are a caller error, not something to ignore silently.
    """
    _check_grades(rubric, grades)
    chosen = rubric.profile(profile)
    total = weight_sum = 0.0
    for dim in rubric.dimensions:
        grade = grades.get(dim.id, "unknown")
        if grade in chosen.values:
            value = chosen.values[grade]
        elif (grade == "n/a" and chosen.na == "exclude") or (grade == "unknown" and chosen.unknown == "exclude"):
            continue
        else:
            value = 0.0
        total += dim.weight * value
        weight_sum += dim.weight
    return total / weight_sum if weight_sum else None


def evaluate_osaid(rubric: Rubric, grades: Mapping[str, str]) -> tuple[OsaidVerdict, list[str]]:
    """OSAID 1.0 is binary: "pass" only when every required element is graded open.

    Returns the verdict and the ids of the unmet requirements, in rubric order. Partial, closed,
    N/A and unknown all leave a requirement unmet: the definition grants no partial credit.
    """
    if rubric.kind != "osaid":
        raise UsageError(f"rubric {rubric.id} is a {rubric.kind} rubric, not an OSAID rubric")
    _check_grades(rubric, grades)
    unmet = [d.id for d in rubric.dimensions if d.required and grades.get(d.id, "unknown") != "open"]
    return ("fail" if unmet else "pass"), unmet


def _check_grades(rubric: Rubric, grades: Mapping[str, str]) -> None:
    known = set(rubric.dimension_ids)
    stray = sorted(set(grades) - known)
    if stray:
        raise UsageError(f"rubric {rubric.id} has no dimension {', '.join(map(repr, stray))}")
    bad = sorted(f"{dim}={grade!r}" for dim, grade in grades.items() if grade not in GRADES)
    if bad:
        raise UsageError(f"invalid grade {', '.join(bad)} (grades are {', '.join(GRADES)})")
