"""The rubric as data: what a rubric YAML file in `rubrics/` may say, validated by pydantic.

One schema for the three kinds of framework openscore speaks: graded rubrics (OSAI: each dimension
open/partial/closed, aggregated by a scoring profile), the MOF (components included under a licence of
the right content type, cumulative classes) and the OSAID (pass only when every requirement is met).
The JSON schema shipped in openscore/schemas/rubric.schema.json is generated from these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from openscore.report import GradeValue

GRADES: tuple[GradeValue, ...] = ("open", "partial", "closed", "n/a", "unknown")

ContentType = Literal["code", "data", "document"]
RubricKind = Literal["graded", "mof", "osaid"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Criteria(_Strict):
    """What earns each grade, in words a reviewer can apply by hand."""

    open: str
    partial: str | None = None  # None: the dimension has no partial grade (OSAID requirements)
    closed: str


class Dimension(_Strict):
    id: Slug
    title: str
    group: str | None = None  # OSAI: availability / documentation / access
    description: str
    criteria: Criteria
    weight: float = Field(default=1.0, ge=0)
    required: bool = True  # False: optional (MOF components 17, 20, 22)
    content_type: ContentType | None = None  # MOF: what kind of licence fits it
    mof_class: Literal[1, 2, 3] | None = Field(default=None, alias="class")  # MOF: the class that introduces it
    replaces: str | None = None  # MOF: this component may stand in for another one (research paper -> report)
    upstream_id: str | int | None = None  # the key or id the source framework uses (MOT component id, OSAI key)
    upstream_name: str | None = None  # the name the source framework uses ("Model parameters (Final)")


class Profile(_Strict):
    """How grades become one number: value per grade, and which grades leave the denominator."""

    id: Slug
    title: str
    description: str
    values: dict[Literal["open", "partial", "closed"], float]
    na: Literal["zero", "exclude"]  # "zero": N/A counts as a closed grade (the OSAI site); "exclude": left out
    unknown: Literal["zero", "exclude"] = "zero"
    #: dimensions that count at most partial in this profile when the licence governing them is not
    #: open (weights published under a non-open licence: OSAI's criteria grade only availability)
    licence_caps: list[str] = Field(default_factory=list)
    #: dimension -> the fewest of the model's parts (weights, training code, training data) under open licences
    #: for a partial grade to count partial in this profile; with fewer it counts closed (OSAI `licenses`:
    #: "at least two (partially or fully) of model weights, training code, and training data")
    min_open_parts: dict[str, Annotated[int, Field(ge=1, le=3)]] = Field(default_factory=dict)

    @field_validator("values")
    @classmethod
    def _all_grades_valued(cls, values: dict[str, float]) -> dict[str, float]:
        missing = {"open", "partial", "closed"} - set(values)
        if missing:
            raise ValueError(f"values must give open, partial and closed (missing {', '.join(sorted(missing))})")
        for grade, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"value of {grade!r} must lie in [0, 1], got {value}")
        return values


class RubricClass(_Strict):
    """A MOF class: reaching it needs every required component of it and of the easier classes."""

    level: Literal[1, 2, 3]
    label: str  # "Class I"
    title: str  # "Open Science Model"
    description: str


class Attribution(_Strict):
    text: str
    licence: str  # licence of the rubric's criteria text, e.g. CC-BY-4.0
    url: str
    citation: str | None = None
    doi: str | None = None


class Rubric(_Strict):
    id: Slug
    version: str
    title: str
    kind: RubricKind
    description: str
    source_url: str
    attribution: Attribution | None = None
    dimensions: list[Dimension] = Field(min_length=1)
    profiles: list[Profile] = Field(default_factory=list)
    default_profile: str | None = None
    classes: list[RubricClass] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        ids = [d.id for d in self.dimensions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate dimension ids: {', '.join(duplicates)}")
        profile_ids = [p.id for p in self.profiles]
        if len(set(profile_ids)) != len(profile_ids):
            raise ValueError("duplicate profile ids")
        if self.kind == "graded" and not self.profiles:
            raise ValueError("a graded rubric needs at least one scoring profile")
        if self.default_profile is not None and self.default_profile not in profile_ids:
            raise ValueError(f"default_profile {self.default_profile!r} is not one of the profiles")
        for profile in self.profiles:
            stray = sorted(d for d in {*profile.licence_caps, *profile.min_open_parts} if d not in ids)
            if stray:
                raise ValueError(f"profile {profile.id!r} names unknown dimensions: {', '.join(stray)}")
        for dim in self.dimensions:
            if dim.replaces is not None and dim.replaces not in ids:
                raise ValueError(f"dimension {dim.id!r} replaces unknown dimension {dim.replaces!r}")
        if self.kind == "mof":
            incomplete = [d.id for d in self.dimensions if d.mof_class is None or d.content_type is None]
            if incomplete:
                raise ValueError(f"MOF components need a class and a content_type: {', '.join(incomplete)}")
            if sorted(c.level for c in self.classes) != [1, 2, 3]:
                raise ValueError("a MOF rubric defines exactly the classes 1, 2 and 3")
        return self

    def dimension(self, dimension_id: str) -> Dimension:
        for dim in self.dimensions:
            if dim.id == dimension_id:
                return dim
        raise KeyError(dimension_id)

    def profile(self, profile_id: str) -> Profile:
        for profile in self.profiles:
            if profile.id == profile_id:
                return profile
        from openscore.errors import UsageError

        known = ", ".join(p.id for p in self.profiles) or "none"
        raise UsageError(f"rubric {self.id} has no scoring profile {profile_id!r} (known: {known})")

    @property
    def dimension_ids(self) -> list[str]:
        return [d.id for d in self.dimensions]
