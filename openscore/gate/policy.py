"""The gate policy (`openscore.yaml`): which models are governed, what they must meet, what is waived.

A policy is data a team reviews in pull requests, so it is strict: unknown keys, wrong types and
impossible values are configuration errors reported at their line (see openscore.yamlconfig),
never silently ignored. The format is documented in docs/gate.md; `examples/openscore.yaml` is a
complete, commented example.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openscore.errors import ConfigError
from openscore.yamlconfig import LoadedYaml, load_yaml_model
from openscore.report import Verdict

POLICY_VERSION = 1

#: grades a dimension rule may ask for, weakest first ("at least partial" = partial or open)
MinGrade = Literal["closed", "partial", "open"]
MofClass = Literal["III", "II", "I"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RubricRules(_Strict):
    """Minimums for one rubric of the audit report (keyed by rubric id: osai-v3, mof, osaid, ...)."""

    min_score: Fraction | None = None
    #: scoring profile whose score `min_score` reads; the rubric's default profile when left out
    profile: str | None = None
    #: MOF-style classification: "III" means Class III or better (II, I)
    min_class: MofClass | None = None
    #: OSAID-style pass/fail classification must be "pass"
    require_pass: bool = False
    #: dimension id -> weakest acceptable grade
    dimensions: dict[str, MinGrade] = Field(default_factory=dict)
    #: most dimensions this rubric may leave "unknown"
    max_unknown: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _profile_needs_score(self) -> RubricRules:
        if self.profile is not None and self.min_score is None:
            raise ValueError("'profile' only selects the score for 'min_score'; set min_score too")
        return self


class LicenceRules(_Strict):
    """Rules on the resolved licence (LicenceFacts) and on licence findings."""

    #: licence ids (case-insensitive, shell-style wildcards allowed: "llama*"); anything else fails
    allow: list[str] | None = None
    #: licence ids that fail (same matching as `allow`)
    deny: list[str] = Field(default_factory=list)
    require_commercial_use: bool = False
    #: fail when the licence caps users below this many monthly active users
    min_user_cap: Annotated[int, Field(ge=1)] | None = None
    require_open: bool = False
    forbid_unknown: bool = False
    forbid_laundering: bool = False
    forbid_conflict: bool = False


class ProvenanceRules(_Strict):
    """Rules on where the weights come from and in what format they are shipped."""

    #: the base named in the card must be the base the weights were matched to
    require_declared_base_match: bool = False
    #: a model derived from (or copying) a known base must declare it
    forbid_undeclared_derivative: bool = False
    forbid_verdicts: list[Verdict] = Field(default_factory=list)
    require_safetensors: bool = False
    forbid_pickle: bool = False


class GovernedModel(_Strict):
    """A model the policy governs, optionally pinned; a plain string is accepted as `source`."""

    source: str = Field(min_length=1)
    revision: str | None = None
    #: the repo id (`org/name[@rev]`) a local folder `source` stands for, so waivers and reports use it
    id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"source": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_revision(self) -> GovernedModel:
        if self.revision is not None and "@" in self.source:
            raise ValueError("give the revision either in 'source' (name@rev) or in 'revision', not both")
        return self

    @property
    def spec(self) -> str:
        """What to audit: `source@revision` when pinned."""
        return f"{self.source}@{self.revision}" if self.revision else self.source


class Waiver(_Strict):
    """An accepted exception: a model, the rules waived, why, and until when."""

    model: str = Field(min_length=1)  # repo id, policy source or spec; shell-style wildcards allowed
    rules: list[str] = Field(min_length=1)  # rule ids, shell-style wildcards allowed ("licence.*")
    reason: str = Field(min_length=3)
    expires: dt.date

    @field_validator("reason")
    @classmethod
    def _meaningful_reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a waiver needs a reason")
        return value.strip()


class Policy(_Strict):
    version: Literal[1] = POLICY_VERSION
    models: list[GovernedModel] = Field(default_factory=list)
    rubrics: dict[str, RubricRules] = Field(default_factory=dict)
    licence: LicenceRules = Field(default_factory=LicenceRules)
    provenance: ProvenanceRules = Field(default_factory=ProvenanceRules)
    waivers: list[Waiver] = Field(default_factory=list)


class LoadedPolicy:
    """A validated policy and where each of its parts was written (for SARIF/annotation locations)."""

    def __init__(self, policy: Policy, source: LoadedYaml):
        self.policy = policy
        self.file = source.file
        self._source = source

    def line_of(self, *path: str | int) -> int:
        return self._source.line_of(tuple(path))


def load_policy(path: str | Path) -> LoadedPolicy:
    """Read and validate a policy file; errors raise ConfigError as `file:line: message` (exit 2).

    Rubric ids, profiles and dimension ids are checked against the rubrics openscore grades with, so a
    misspelt dimension is a configuration error, not a rule that fails on every model.
    """
    policy, source = load_yaml_model(Policy, path, display_name=display_path(Path(path)))
    rubrics = {rid: _checked_rubric_rules(rid, rules, source) for rid, rules in policy.rubrics.items()}
    policy = policy.model_copy(update={"rubrics": rubrics})
    _check_waived_rules(policy, source)
    return LoadedPolicy(policy, source)


def _check_waived_rules(policy: Policy, source: LoadedYaml) -> None:
    """Every rule pattern of a waiver must name a rule this policy can fail: a typo would waive nothing."""
    from openscore.gate.rules import AUDIT_RULE, LOCK_RULE, PINNED_RULE, policy_rule_ids

    known = policy_rule_ids(policy) + [AUDIT_RULE, PINNED_RULE, LOCK_RULE]
    for i, waiver in enumerate(policy.waivers):
        for j, pattern in enumerate(waiver.rules):
            if not any(fnmatch.fnmatchcase(rule, pattern) for rule in known):
                line = source.line_of(("waivers", i, "rules", j))
                raise ConfigError(f"{source.file}:{line}: waiver rule {pattern!r} matches no rule this policy sets"
                                  f"{_suggest(pattern, known)}")


def _checked_rubric_rules(rubric_id: str, rules: RubricRules, source: LoadedYaml) -> RubricRules:
    """`rules` checked against rubric `rubric_id`, with its default profile filled in for min_score."""
    from openscore.rubrics import list_rubrics, load_rubric

    def error(path: tuple, message: str) -> ConfigError:
        return ConfigError(f"{source.file}:{source.line_of(('rubrics', rubric_id) + path)}: {message}")

    known = list_rubrics()
    if rubric_id not in known:
        raise error((), f"unknown rubric {rubric_id!r}{_suggest(rubric_id, known)}")
    rubric = load_rubric(rubric_id)
    profiles = [p.id for p in rubric.profiles]
    if rules.min_score is not None and not profiles:
        raise error(("min_score",), f"rubric {rubric_id!r} has no scores (it is a {rubric.kind} rubric); use its class rules")
    if rules.min_class is not None and rubric.kind != "mof":
        raise error(("min_class",), f"min_class applies to MOF rubrics; {rubric_id!r} is a {rubric.kind} rubric")
    if rules.require_pass and rubric.kind != "osaid":
        raise error(("require_pass",), f"require_pass applies to OSAID rubrics; {rubric_id!r} is a {rubric.kind} rubric")
    if rules.profile is not None and rules.profile not in profiles:
        raise error(("profile",), f"rubric {rubric_id!r} has no profile {rules.profile!r}{_suggest(rules.profile, profiles)}")
    for dimension in rules.dimensions:
        if dimension not in rubric.dimension_ids:
            raise error(("dimensions", dimension),
                        f"rubric {rubric_id!r} has no dimension {dimension!r}{_suggest(dimension, rubric.dimension_ids)}")
    if rules.min_score is not None and rules.profile is None:
        return rules.model_copy(update={"profile": rubric.default_profile or profiles[0]})
    return rules


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(choices)})"


def display_path(path: Path) -> str:
    """The path as CI systems want it in annotations: relative to the working folder when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()
