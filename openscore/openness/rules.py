"""How openscore's checks map onto a rubric's dimensions: openscore/data/grading/<rubric>.yaml.

Per dimension an ordered list of rules; the first rule whose checks all hit gives the grade and
its reason. The last rule has no `when` (the fallback). A rule may say `same_as: <dimension>`
instead of a grade (OSAI: base-model dimensions mirror the end model when there is no base), and
`reuse:` maps a dimension onto another map's rules (osai-v1 shares most of osai-v3's).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openscore.errors import ConfigError
from openscore.yamlconfig import load_yaml_model
from openscore.openness.checks import CHECKS
from openscore.report import GradeValue
from openscore.resources import package_data


class CheckCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    args: dict[str, Any] = Field(default_factory=dict)
    negate: bool = False

    @field_validator("check")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in CHECKS:
            raise ValueError(f"unknown check {name!r} (known: {', '.join(sorted(CHECKS))})")
        return name

    @property
    def label(self) -> str:
        return ("not-" if self.negate else "") + self.check


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: list[CheckCall] = Field(default_factory=list)
    grade: GradeValue | None = None
    same_as: str | None = None
    reason: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """`when: [weights_published, "!gated"]` is shorthand for check calls without arguments."""
        out = []
        for item in value or []:
            if isinstance(item, str):
                negate = item.startswith("!")
                out.append({"check": item.lstrip("!"), "negate": negate})
            else:
                out.append(item)
        return out

    @model_validator(mode="after")
    def _grade_or_mirror(self) -> "Rule":
        if (self.grade is None) == (self.same_as is None):
            raise ValueError("a rule gives either `grade` (with `reason`) or `same_as` (reason optional: a prefix)")
        if self.grade is not None and not self.reason:
            raise ValueError("a rule with a grade needs a `reason`")
        return self


class GradingMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rubric: str
    version: str  # version of this mapping; recorded in each grade's evidence rule ids
    dimensions: dict[str, list[Rule]]
    #: dimension -> "other-rubric/dimension": reuse that map's rules unchanged (resolved at load)
    reuse: dict[str, str] = Field(default_factory=dict)
    #: documentation dimensions a repository without documentation of its own grades on its declared base's card
    #: (`--linked`, openscore.evidence.inherited)
    inherit_from_base: list[str] = Field(default_factory=list)
    #: dimensions a derivative whose own card leaves them closed grades partial when its base's card has them
    fill_from_base: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _well_formed(self) -> "GradingMap":
        both = sorted(set(self.dimensions) & set(self.reuse))
        if both:
            raise ValueError(f"dimensions both given and reused: {', '.join(both)}")
        stray = sorted(set(self.inherit_from_base + self.fill_from_base) - set(self.dimensions) - set(self.reuse))
        if stray:
            raise ValueError(f"inherit_from_base / fill_from_base name no dimension of this map: {', '.join(stray)}")
        for dim, rules in self.dimensions.items():
            if not rules or rules[-1].when:
                raise ValueError(f"{dim}: the last rule must have no `when` (the fallback grade)")
            if any(not r.when for r in rules[:-1]):
                raise ValueError(f"{dim}: only the last rule may omit `when`")
            for r in rules:
                if r.same_as is not None and (r.same_as not in {*self.dimensions, *self.reuse} or r.same_as == dim):
                    raise ValueError(f"{dim}: same_as {r.same_as!r} is not another dimension of this map")
        mirrors = {d: {r.same_as for r in rules if r.same_as} for d, rules in self.dimensions.items()}
        for start in mirrors:
            chain, todo = set(), list(mirrors[start])
            while todo:
                step = todo.pop()
                if step == start:
                    raise ValueError(f"{start}: same_as rules form a cycle")
                if step not in chain:
                    chain.add(step)
                    todo += mirrors.get(step, ())
        return self


def grading_path(rubric_id: str):
    return package_data("grading", f"{rubric_id}.yaml")


@lru_cache(maxsize=16)
def load_grading(rubric_id: str) -> GradingMap:
    path = grading_path(rubric_id)
    if not path.is_file():
        raise ConfigError(f"{path}:1: no grading map for rubric {rubric_id!r}")
    grading, _ = load_yaml_model(GradingMap, path)
    if grading.rubric != rubric_id:
        raise ConfigError(f"{path}:1: rubric {grading.rubric!r} differs from the file name {rubric_id!r}")
    for dim, reference in grading.reuse.items():
        grading.dimensions[dim] = _borrowed(path, dim, reference)
    return grading


def _borrowed(path, dim: str, reference: str) -> list[Rule]:
    """The rules of `other-rubric/dimension`; they must not mirror (`same_as`) another dimension."""
    other_id, _, other_dim = reference.partition("/")
    other = load_grading(other_id) if other_id else None
    rules = other.dimensions.get(other_dim) if other else None
    if not isinstance(rules, list):
        raise ConfigError(f"{path}:1: {dim}: {reference!r} names no dimension of another grading map")
    if any(r.same_as for r in rules):
        raise ConfigError(f"{path}:1: {dim}: {reference!r} mirrors another dimension and cannot be reused")
    return rules
