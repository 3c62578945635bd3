"""What a gate run decided: per model, per rule, with the policy line each result belongs to.

This is the one document every output format (text, JSON, SARIF, JUnit, GitHub, Markdown) renders;
the JSON format is exactly `GateResult.model_dump`. Versioned with GATE_RESULT_VERSION.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GATE_RESULT_VERSION = "1.0"

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_INCOMPLETE = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaiverUse(_Model):
    line: int  # policy line of the waiver
    reason: str
    expires: dt.date
    expired: bool


class CheckResult(_Model):
    rule: str  # stable rule id ("licence.deny", "rubric.mof.min-class", ...)
    status: Literal["pass", "fail", "waived"]
    message: str
    file: str  # the policy (or lock file, for lock rules) that set the rule
    line: int  # line there of the key that set the rule
    waiver: WaiverUse | None = None  # the waiver that waived it, or the expired one that no longer does


class Lineage(_Model):
    verdict: str | None = None
    declared_base: str | None = None
    detected_base: str | None = None


class ModelResult(_Model):
    source: str  # as given on the command line or in the policy
    repo_id: str | None = None
    sha: str | None = None
    status: Literal["pass", "fail", "unevaluated"]
    file: str | None = None  # policy (or lock file) naming the model, when one does
    line: int | None = None  # its line there
    checks: list[CheckResult] = Field(default_factory=list)
    error: str | None = None  # why it could not be evaluated
    #: the rule an unevaluated model is reported under: gate.audit when its audit failed, else gate.evaluation
    error_rule: str | None = None
    lineage: Lineage | None = None

    @property
    def key(self) -> str:
        """`repo@sha` when audited, else the source as given."""
        return f"{self.repo_id}@{self.sha}" if self.repo_id and self.sha else self.source

    def location(self, check: CheckResult | None = None) -> tuple[str | None, int]:
        """Where a result is shown: the line naming the model, else the rule's line (else line 1)."""
        if self.file is not None and self.line is not None:
            return self.file, self.line
        if check is not None:
            return check.file, check.line
        return None, 1


class PolicyWarning(_Model):
    """Something in the policy that had no effect on this run (a waiver matching no model gated)."""

    message: str
    file: str
    line: int


class GateResult(_Model):
    schema_version: str = GATE_RESULT_VERSION
    tool: str
    policy: str  # policy file as shown in locations
    lock: str | None = None  # lock file checked against, as shown in locations
    today: dt.date  # the date waivers were judged against
    allow_incomplete: bool
    models: list[ModelResult]
    exit_code: int
    warnings: list[PolicyWarning] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS

    def where(self, model: ModelResult, check: CheckResult | None = None) -> tuple[str, int]:
        """(file, line) a result is shown at; the policy's first line when nothing names the model."""
        file, line = model.location(check)
        return (file, line) if file is not None else (self.policy, 1)

    def counts(self) -> dict[str, int]:
        statuses = [m.status for m in self.models]
        return {s: statuses.count(s) for s in ("pass", "fail", "unevaluated")}


def decide_exit(models: list[ModelResult], allow_incomplete: bool) -> int:
    """1 when any model violates the policy; else 3 when one could not be evaluated (unless allowed); else 0."""
    if any(m.status == "fail" for m in models):
        return EXIT_VIOLATION
    if any(m.status == "unevaluated" for m in models) and not allow_incomplete:
        return EXIT_INCOMPLETE
    return EXIT_PASS
