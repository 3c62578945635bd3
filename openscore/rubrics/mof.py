"""Model Openness Framework classification, with the rules of the Model Openness Tool's evaluator.

For each class (III, then II, then I) the required components of that class and of every easier class
are bucketed: included (present under an open licence), unlicensed (present, no licence), invalid
(present under a licence that is not open) or missing. An open licence that does not fit the
component's content type still counts, with a warning. The research paper may stand in for the
technical report. A class's progress is 0 while an easier class is incomplete, else included/required
(MOT's getProgress); the classification is the best class at 100 %.

Unlike MOT we also report `coverage`: included/required of each class on its own, whatever the easier
classes, because MOT's gated number hides how far a model is from a class (MOT issue #81); and we
keep missing, unlicensed and invalid apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from openscore.errors import UsageError
from openscore.licences.catalogue import load_catalogue
from openscore.rubrics.model import Rubric

UNCLASSIFIED = "Unclassified"


@dataclass(frozen=True)
class ComponentStatus:
    """One MOF component of a release: is it published, and under which licence (None: no licence)."""

    included: bool
    licence: str | None = None


@dataclass
class ClassEvaluation:
    """The buckets of one class's cumulative component set, in rubric order."""

    included: list[str] = field(default_factory=list)
    unlicensed: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    licences: dict[str, str | None] = field(default_factory=dict)


@dataclass
class MofClassification:
    classification: str  # "Class I" / "Class II" / "Class III" / "Unclassified"
    level: int  # 1, 2, 3, or 0 when unclassified
    progress: dict[str, float]  # MOT-compatible progress per class label, in percent
    coverage: dict[str, float]  # included / required per class, ignoring the easier classes, in percent
    classes: dict[str, ClassEvaluation]  # per class label
    unmet: list[str]  # components that keep the release from Class I (missing, unlicensed or invalid)
    warnings: list[str]  # licence type-appropriateness

    @property
    def label(self) -> str:
        return self.classification

    @property
    def total_progress(self) -> float:
        """Mean of the three class progress values: MOT ranks models by it."""
        return sum(self.progress.values()) / len(self.progress)


def statuses_from_grades(grades: Mapping[str, str], licence: str | None) -> dict[str, ComponentStatus]:
    """Component statuses from an audit's MOF grades: open or partial = included, under the release's
    licence (None when it is unknown: the component then counts as unlicensed, never as open)."""
    licence = None if licence in (None, "unknown") else licence
    return {dim: ComponentStatus(included=grade in ("open", "partial"), licence=licence if grade in ("open", "partial") else None)
            for dim, grade in grades.items()}


def classify_mof(rubric: Rubric, components: Mapping[str, ComponentStatus]) -> MofClassification:
    """Classify a release from the status of its components (keyed by the rubric's component ids)."""
    if rubric.kind != "mof":
        raise UsageError(f"rubric {rubric.id} is a {rubric.kind} rubric, not a MOF rubric")
    stray = sorted(set(components) - set(rubric.dimension_ids))
    if stray:
        raise UsageError(f"rubric {rubric.id} has no component {', '.join(map(repr, stray))}")
    labels = {c.level: c.label for c in rubric.classes}
    table = load_catalogue()
    warnings: list[str] = []
    evaluations: dict[int, ClassEvaluation] = {}
    for level in (3, 2, 1):
        evaluation = ClassEvaluation()
        for dim in rubric.dimensions:
            if dim.mof_class < level:  # type: ignore[operator]
                continue
            status = components.get(dim.id, ComponentStatus(included=False))
            if not status.included:
                if dim.required:
                    evaluation.missing.append(dim.id)
                continue
            licence = _canonical(status.licence)
            evaluation.licences[dim.id] = licence
            if licence is None:
                evaluation.unlicensed.append(dim.id)
            elif not table.mof.is_open(licence):
                evaluation.invalid.append(dim.id)
            else:
                if dim.required:
                    evaluation.included.append(dim.id)
                if not table.mof.is_type_appropriate(licence, dim.content_type):  # type: ignore[arg-type]
                    message = (f"{dim.title} ({dim.content_type}) is under {licence}: an open licence, "
                               f"but not a type-appropriate {dim.content_type} licence")
                    if message not in warnings:
                        warnings.append(message)
        evaluations[level] = evaluation
    _substitute_replacements(rubric, evaluations)

    required = {level: sum(1 for d in rubric.dimensions if d.required and d.mof_class == level) for level in (1, 2, 3)}
    progress = {labels[level]: _progress(level, evaluations, required, rubric) for level in (3, 2, 1)}
    coverage = {labels[level]: _coverage(level, evaluations, required, rubric) for level in (3, 2, 1)}
    reached = [level for level in (1, 2, 3) if progress[labels[level]] == 100.0]
    level = reached[0] if reached else 0
    class_one = evaluations[1]
    blocking = set(class_one.missing) | set(class_one.unlicensed) | set(class_one.invalid)
    unmet = [d.id for d in rubric.dimensions if d.id in blocking and d.required]
    return MofClassification(
        classification=labels[level] if level else UNCLASSIFIED,
        level=level,
        progress=progress,
        coverage=coverage,
        classes={labels[lv]: evaluations[lv] for lv in (3, 2, 1)},
        unmet=unmet,
        warnings=warnings,
    )


def _canonical(licence: str | None) -> str | None:
    """SPDX spelling of a licence id ("apache-2.0" -> "Apache-2.0"); "unlicensed"/empty -> None."""
    if licence is None or not licence.strip() or licence.strip().lower() == "unlicensed":
        return None
    table = load_catalogue()
    entry = table.by_id(licence) or table.by_hub_id(licence)
    if entry is not None:
        return table.spdx_id(entry.spdx or entry.id) or entry.id
    return table.spdx_id(licence) or licence.strip()


def _substitute_replacements(rubric: Rubric, evaluations: dict[int, ClassEvaluation]) -> None:
    """A component that `replaces` another (research paper -> technical report) stands in for it when
    the replaced one is not included: the replaced one stops being missing, and the replacement's
    status counts in the easier classes too (MOT ModelEvaluator::evaluate)."""
    for dim in rubric.dimensions:
        if dim.replaces is None:
            continue
        replaced = rubric.dimension(dim.replaces)
        if replaced.id in evaluations[replaced.mof_class].included:  # type: ignore[index]
            continue
        own = evaluations[dim.mof_class]  # type: ignore[index]
        bucket = next((name for name in ("included", "invalid", "unlicensed") if dim.id in getattr(own, name)), None)
        if bucket is None:
            continue
        for level, evaluation in evaluations.items():
            if replaced.id in evaluation.missing:
                evaluation.missing.remove(replaced.id)
            if level > dim.mof_class and dim.id not in getattr(evaluation, bucket):  # type: ignore[operator]
                getattr(evaluation, bucket).append(dim.id)
                evaluation.licences[dim.id] = own.licences.get(dim.id)


def _stand_in(rubric: Rubric, evaluation: ClassEvaluation) -> int:
    """How many required components are replaced by an included stand-in (lowers Class I's total)."""
    return sum(1 for d in rubric.dimensions
               if d.replaces and d.id in evaluation.included and d.replaces not in evaluation.included)


def _progress(level: int, evaluations: dict[int, ClassEvaluation], required: dict[int, int], rubric: Rubric) -> float:
    total = 0
    for easier in range(3, level - 1, -1):
        total += required[easier]
        included = len(evaluations[easier].included)
        if included < total:
            if easier > level:
                return 0.0
            break
    if level == 1:
        total -= _stand_in(rubric, evaluations[1])
    return min(100.0, included / total * 100) if total else 0.0


def _coverage(level: int, evaluations: dict[int, ClassEvaluation], required: dict[int, int], rubric: Rubric) -> float:
    total = sum(required[lv] for lv in range(level, 4))
    if level == 1:
        total -= _stand_in(rubric, evaluations[1])
    return min(100.0, len(evaluations[level].included) / total * 100) if total else 0.0
