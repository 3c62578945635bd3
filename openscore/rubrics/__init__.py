"""Rubrics as data (rubrics/*.yaml), and what turns grades into scores and classes.

    load_rubric(rubric_id) -> Rubric; list_rubrics() -> [ids]
    score(rubric, grades, profile="osai-compatible") -> float | None      (graded rubrics: OSAI)
    evaluate_osaid(rubric, grades) -> ("pass" | "fail", [unmet ids])      (OSAID)
    classify_mof(rubric, {component id: ComponentStatus}) -> MofClassification   (MOF)
    statuses_from_grades(grades, licence) -> {component id: ComponentStatus}      (audit grades -> MOF)

See docs/rubrics.md for the profiles and the MOF rules.
"""

from __future__ import annotations

from openscore.rubrics.loader import list_rubrics, load_rubric, load_rubric_file, rubric_json_schema
from openscore.rubrics.mof import ComponentStatus, MofClassification, classify_mof, statuses_from_grades
from openscore.rubrics.model import GRADES, Dimension, Profile, Rubric
from openscore.rubrics.scoring import evaluate_osaid, score

__all__ = [
    "GRADES", "ComponentStatus", "Dimension", "MofClassification", "Profile", "Rubric", "classify_mof",
    "evaluate_osaid", "list_rubrics", "load_rubric", "load_rubric_file", "rubric_json_schema", "score",
    "statuses_from_grades",
]
