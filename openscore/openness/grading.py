"""Grades for every dimension of a rubric, from collected evidence, plus scores and classifications.

The mapping from checks to grades is data (openscore/data/grading/<rubric>.yaml); this module only
runs it. Every grade carries evidence: the records the deciding checks used (rule ids
`<rubric>/<dimension>/<check>`), and a closed or unknown grade also lists what was searched.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from openscore.errors import ConfigError
from openscore.openness.checks import CheckOutcome, GradingContext, open_parts, run_check
from openscore.openness.rules import CheckCall, GradingMap, grading_path, load_grading
from openscore.report import Evidence, Grade, Override, RubricResult

if TYPE_CHECKING:
    from openscore.rubrics.model import Profile

#: most evidence records kept per grade (the rest are summarised by the first ones)
MAX_EVIDENCE = 8


def _key(call: CheckCall) -> str:
    return call.check + json.dumps(call.args, sort_keys=True)


class _Runner:
    """Runs each (check, args) once per audit and remembers the outcome."""

    def __init__(self, ctx: GradingContext):
        self.ctx = ctx
        self.cache: dict[str, CheckOutcome] = {}

    def __call__(self, call: CheckCall) -> CheckOutcome:
        key = _key(call)
        if key not in self.cache:
            self.cache[key] = run_check(call.check, self.ctx, call.args)
        return self.cache[key]


def _relabel(evidence: list[Evidence], rule: str) -> list[Evidence]:
    return _dedupe([ev.model_copy(update={"rule": rule}) for ev in evidence])


def grade_dimension(rubric_id: str, dimension: str, grading: GradingMap, run: _Runner) -> Grade:
    searched: list[str] = []
    for rule in grading.dimensions[dimension]:
        rule_evidence: list[Evidence] = []
        matched = True
        for call in rule.when:
            outcome = run(call)
            searched.extend(s for s in outcome.searched if s not in searched)
            if outcome.hit == call.negate:
                matched = False
                break
            rule_evidence.extend(_relabel(outcome.evidence, f"{rubric_id}/{dimension}/{call.label}"))
        if not matched:
            continue
        if rule.same_as is not None:
            other = grade_dimension(rubric_id, rule.same_as, grading, run)
            return Grade(
                dimension=dimension, grade=other.grade,
                reason=f"{rule.reason} {other.reason}" if rule.reason else other.reason,
                evidence=_relabel(rule_evidence + other.evidence, f"{rubric_id}/{dimension}/same-as-{rule.same_as}")[
                    :MAX_EVIDENCE],
                searched=other.searched,
            )
        if not rule.when:  # the fallback: cite everything that was looked at
            for call in (c for r in grading.dimensions[dimension] for c in r.when):
                rule_evidence.extend(_relabel(run(call).evidence, f"{rubric_id}/{dimension}/{call.label}"))
        evidence = _dedupe(rule_evidence)
        closed_like = rule.grade in ("closed", "unknown")
        return Grade(dimension=dimension, grade=rule.grade, reason=rule.reason,
                     evidence=evidence[:MAX_EVIDENCE], searched=searched if closed_like or not rule.when else [])
    raise ConfigError(f"{grading_path(rubric_id)}:1: {dimension}: no rule matched (the last rule must be a fallback)")


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    seen, out = set(), []
    for ev in evidence:
        key = (ev.file, ev.locator, ev.snippet, ev.url, ev.rule)
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


def grade_rubric(
    rubric_id: str, ctx: GradingContext, overrides: Mapping[str, Override] | None = None
) -> RubricResult:
    """All dimensions of `rubric_id` graded, scored under each profile, classified (MOF/OSAID)."""
    from openscore import rubrics

    rubric = rubrics.load_rubric(rubric_id)
    grading = load_grading(rubric_id)
    missing = [d for d in rubric.dimension_ids if d not in grading.dimensions]
    stray = [d for d in grading.dimensions if d not in rubric.dimension_ids]
    if missing or stray:
        raise ConfigError(
            f"{grading_path(rubric_id)}:1: grading map does not match rubric {rubric_id}"
            + (f"; missing {', '.join(missing)}" if missing else "") + (f"; unknown {', '.join(stray)}" if stray else ""))
    run = _Runner(ctx)
    grades = [grade_dimension(rubric_id, dim, grading, run) for dim in rubric.dimension_ids]
    if ctx.inherited is not None and (grading.inherit_from_base or grading.fill_from_base):
        _inherit(rubric_id, grades, grading, ctx)
    for grade in grades:
        if overrides and grade.dimension in overrides:
            grade.override = overrides[grade.dimension]
    auto = {g.dimension: g.grade for g in grades}
    reviewed = {g.dimension: (g.override.grade if g.override else g.grade) for g in grades}
    result = RubricResult(rubric=rubric.id, version=rubric.version, grades=grades, scores={})
    for profile in rubric.profiles:
        result.scores[profile.id] = rubrics.score(rubric, _capped(auto, profile, ctx), profile.id)
        if reviewed != auto:
            result.scores[f"{profile.id}+overrides"] = rubrics.score(
                rubric, _capped(reviewed, profile, ctx), profile.id)
    if rubric.kind == "mof":
        _classify_mof(rubric, grades, ctx, result)
    elif rubric.kind == "osaid":
        verdict, unmet = rubrics.evaluate_osaid(rubric, auto)
        result.classification = verdict
        result.unmet = list(unmet)
    return result


def _inherit(rubric_id: str, grades: list[Grade], grading: GradingMap, ctx: GradingContext) -> None:
    """Grades taken from the declared base's card, each saying so (its reason starts with where the card came
    from, its first evidence record cites it with the date it was read): for a copy that documents nothing, the
    `inherit_from_base` dimensions graded on the base's card; for a derivative, the `fill_from_base` ones its
    own card leaves closed, partial when the base's card has them (they cover the base, not the derivative)."""
    inherited = ctx.inherited
    assert inherited is not None
    run = _Runner(dataclasses.replace(ctx, bundle=inherited.view(ctx.bundle)))
    for n, grade in enumerate(grades):
        dim = grade.dimension
        if inherited.copy and dim in grading.inherit_from_base:
            got = grade_dimension(rubric_id, dim, grading, run)
            reason = (f"Inherited from the declared base {inherited.base}'s card (this repository has no documentation "
                      f"of its own): {got.reason}")
        elif not inherited.copy and dim in grading.fill_from_base and grade.grade == "closed":
            got = grade_dimension(rubric_id, dim, grading, run)
            if got.grade not in ("open", "partial"):
                continue
            got = got.model_copy(update={"grade": "partial"})
            reason = (f"Inherited from the declared base {inherited.base}'s card, which covers the base and not this "
                      f"model's own training, so partial (this repository's card links none of its own): {got.reason}")
        else:
            continue
        note = inherited.note(ctx.bundle.source, f"{rubric_id}/{dim}/inherited-from-base")
        grades[n] = got.model_copy(update={"reason": reason, "evidence": [note, *got.evidence][:MAX_EVIDENCE]})


def _capped(grades: dict[str, str], profile: Profile, ctx: GradingContext) -> dict[str, str]:
    """A profile's licence caps: an open grade counts partial when its licence is not open (the base's
    licence for base-model dimensions of a derivative, else the model's; for training data, the licences
    of the datasets the card names, each read from its dataset card); a partial grade counts closed when
    fewer of weights, training code and training data are under open licences than `min_open_parts` asks."""
    out = dict(grades)
    for dim in profile.licence_caps:
        if out.get(dim) == "open" and not _licence_open(dim, ctx):
            out[dim] = "partial"
    for dim, least in profile.min_open_parts.items():
        if out.get(dim) == "partial" and len(open_parts(ctx)) < least:
            out[dim] = "closed"
    return out


def _licence_open(dim: str, ctx: GradingContext) -> bool:
    base = "basemodel" in dim and ctx.base is not None
    if dim.startswith("datasources_"):
        if base:
            return True  # graded from the known base's data (known_bases.yaml), not from dataset cards
        named = [o.value["id"] for o in ctx.bundle.find("dataset")]
        return bool(named) and all((facts := ctx.dataset_licences.get(i)) is not None and facts.open for i in named)
    if base and ctx.base.licence is not None:  # type: ignore[union-attr]
        return bool(ctx.base.licence.open)  # type: ignore[union-attr]
    return bool(ctx.licence.resolved.open)


def _classify_mof(rubric, grades: Sequence[Grade], ctx: GradingContext, result: RubricResult) -> None:
    """MOF: a component counts when included (graded open or partial) under an open licence."""
    from openscore import rubrics

    licence = ctx.licence.resolved.id
    components = {
        g.dimension: rubrics.ComponentStatus(included=g.grade in ("open", "partial"),
                                             licence=licence if g.grade in ("open", "partial") else None)
        for g in grades
    }
    mof = rubrics.classify_mof(rubric, components)
    result.classification = mof.classification
    result.unmet = list(mof.unmet)
    result.warnings = list(mof.warnings)
    unknown = [g.dimension for g in grades if g.grade == "unknown"]
    if unknown:  # MOF has no "unknown": not met, but listed apart from what is known to be missing
        result.warnings.append("not established from this input (counted as not met): " + ", ".join(unknown))
