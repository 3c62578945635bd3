"""Run the gate: get a report per source, check it against the policy, apply waivers, decide the exit.

A source is anything `openscore audit` takes (Hub repo id[@rev], folder, `sample:NAME`) or a report
JSON saved earlier. "Could not evaluate" (network, rate limit, gated repo) is kept apart from
"evaluated and bad": the first gives exit 3 (or a warning with allow_incomplete), the second exit 1.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from openscore import __version__
from openscore.errors import InvalidReport, OpenscoreError, UsageError
from openscore.gate.policy import GovernedModel, LoadedPolicy, Waiver
from openscore.gate.result import CheckResult, GateResult, Lineage, ModelResult, WaiverUse, decide_exit
from openscore.gate.rules import RuleOutcome, evaluate_report
from openscore.report import AuditReport

#: rule id for a model the audit rejected outright (malformed or hostile checkpoint)
AUDIT_RULE = "gate.audit"
#: rule id for a report whose revision is not the one the policy pins
PINNED_RULE = "policy.pinned-revision"
#: rule id under which a model that could not be evaluated is reported
EVALUATION_RULE = "gate.evaluation"


def run_gate(
    policy: LoadedPolicy,
    sources: list[str] | None = None,
    *,
    today: dt.date | None = None,
    allow_incomplete: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    weights: bool = True,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """Gate `sources` (default: the models the policy lists) and return the decision.

    Raises UsageError/ConfigError for bad input (exit 2); evaluation failures are recorded, not raised.
    """
    today = today or dt.date.today()
    wanted = list(sources) if sources else [m.spec for m in policy.policy.models]
    if not wanted:
        raise UsageError("no models to gate: name sources on the command line or list them under 'models:' in the policy")
    models = [_gate_one(spec, policy, today, endpoint=endpoint, token=token, weights=weights, progress=progress)
              for spec in wanted]
    return GateResult(
        tool=f"openscore@{__version__}",
        policy=policy.file,
        today=today,
        allow_incomplete=allow_incomplete,
        models=models,
        exit_code=decide_exit(models, allow_incomplete),
    )


def load_report(path: str | Path) -> AuditReport:
    """A report saved by `openscore audit -o`; anything else is a usage error."""
    try:
        return AuditReport.model_validate_json(Path(path).read_bytes())
    except OSError as exc:
        raise InvalidReport(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InvalidReport(f"{path}: not an openscore audit report: {where}: {first['msg']}") from None


def is_report_path(spec: str) -> bool:
    return spec.endswith(".json") and Path(spec).is_file()


def _gate_one(spec: str, policy: LoadedPolicy, today: dt.date, *, endpoint, token, weights, progress) -> ModelResult:
    governed = _governing_entry(spec, policy)
    line = policy.line_of("models", governed[0]) if governed else None
    if progress:
        progress(f"gating {spec}")
    try:
        report = _obtain_report(spec, policy, endpoint=endpoint, token=token, weights=weights)
    except OpenscoreError as exc:
        if isinstance(exc, UsageError):
            raise
        if exc.evaluation_failure:
            return ModelResult(source=spec, status="unevaluated", line=line, error=str(exc))
        outcome = RuleOutcome(AUDIT_RULE, (), False, f"the audit rejected the checkpoint: {exc}")
        return _judge(spec, None, [outcome], policy, today, line)
    gated = _gated_without_token(spec, report, token)
    if gated:
        return ModelResult(source=spec, repo_id=report.source.repo_id, sha=report.source.sha, status="unevaluated",
                           line=line, error=gated)
    if governed is None:  # a report or folder named differently on the command line: match by repo id
        governed = _governing_entry(report.source.repo_id, policy)
        line = policy.line_of("models", governed[0]) if governed else None
    outcomes = evaluate_report(report, policy.policy)
    if governed is not None:
        outcomes.extend(_pinned_revision(report, governed))
    return _judge(spec, report, outcomes, policy, today, line)


def _obtain_report(spec: str, policy: LoadedPolicy, *, endpoint, token, weights) -> AuditReport:
    if is_report_path(spec):
        return load_report(spec)
    from openscore.audit import audit  # heavy imports (torch) only when an audit is needed

    rubrics = sorted(policy.policy.rubrics) or None
    return audit(spec, endpoint=endpoint, token=token, weights=weights, rubrics=rubrics)


def _gated_without_token(spec: str, report: AuditReport, token: str | None) -> str | None:
    """Why a fresh audit of a gated Hub repo made without any token cannot be judged, else None.

    The audit goes on with what a gated repository shows everyone (API card data), so its grades are
    not the model's: judging them would fail (or pass) the model on missing files, not on its terms.
    """
    gated = report.inventory.get("gated")
    if report.source.kind != "hub" or not gated or is_report_path(spec):
        return None
    from huggingface_hub import get_token

    if token or get_token():
        return None
    return (f"{report.source.repo_id} is a gated repository ({gated} approval) and no Hub token was given: "
            "only its public metadata could be read (pass --token or set HF_TOKEN)")


def _split_spec(spec: str) -> tuple[str, str | None]:
    """`name@rev` -> (name, rev); folders and sample names may not contain '@' revisions."""
    if "@" in spec and not Path(spec).exists():
        name, rev = spec.rsplit("@", 1)
        return name, rev or None
    return spec, None


def _same_source(a: str, b: str) -> bool:
    if a.lower() == b.lower():
        return True
    pa, pb = Path(a), Path(b)
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def _governing_entry(spec: str, policy: LoadedPolicy) -> tuple[int, GovernedModel] | None:
    """The policy's `models:` entry naming this source (with or without a revision), if any."""
    name, _ = _split_spec(spec)
    for index, entry in enumerate(policy.policy.models):
        entry_name, _ = _split_spec(entry.spec)
        if _same_source(spec, entry.spec) or _same_source(name, entry_name):
            return index, entry
    return None


def _pinned_revision(report: AuditReport, governed: tuple[int, GovernedModel]) -> list[RuleOutcome]:
    index, entry = governed
    _, pinned = _split_spec(entry.spec)
    if pinned is None:
        return []
    src = report.source
    matches = src.revision == pinned or (len(pinned) >= 7 and src.sha.lower().startswith(pinned.lower()))
    text = (f"audited revision {src.sha[:12]} is the pinned {pinned}" if matches
            else f"audited revision {src.revision or src.sha[:12]} ({src.sha[:12]}) is not the pinned {pinned}")
    return [RuleOutcome(PINNED_RULE, ("models", index), matches, text)]


def _judge(spec: str, report: AuditReport | None, outcomes: list[RuleOutcome], policy: LoadedPolicy,
           today: dt.date, line: int | None) -> ModelResult:
    names = {spec, _split_spec(spec)[0]}
    if report is not None:
        names.add(report.source.repo_id)
    checks = [_apply_waivers(o, names, policy, today) for o in outcomes]
    lineage = None
    if report is not None and report.provenance is not None:
        p = report.provenance
        lineage = Lineage(verdict=p.verdict, declared_base=p.declared_base, detected_base=p.base)
    return ModelResult(
        source=spec,
        repo_id=report.source.repo_id if report else None,
        sha=report.source.sha if report else None,
        status="fail" if any(c.status == "fail" for c in checks) else "pass",
        line=line,
        checks=checks,
        lineage=lineage,
    )


def _apply_waivers(outcome: RuleOutcome, names: set[str], policy: LoadedPolicy, today: dt.date) -> CheckResult:
    line = policy.line_of(*outcome.policy_path) if outcome.policy_path else 1
    if outcome.passed:
        return CheckResult(rule=outcome.rule, status="pass", message=outcome.message, line=line)
    matching = [(i, w) for i, w in enumerate(policy.policy.waivers) if _waives(w, outcome.rule, names)]
    active = [(i, w) for i, w in matching if w.expires >= today]
    chosen = active[0] if active else (matching[0] if matching else None)
    if chosen is None:
        return CheckResult(rule=outcome.rule, status="fail", message=outcome.message, line=line)
    index, waiver = chosen
    use = WaiverUse(line=policy.line_of("waivers", index), reason=waiver.reason, expires=waiver.expires,
                    expired=waiver.expires < today)
    if use.expired:
        message = f"{outcome.message} (waiver expired on {waiver.expires.isoformat()})"
        return CheckResult(rule=outcome.rule, status="fail", message=message, line=line, waiver=use)
    return CheckResult(rule=outcome.rule, status="waived", message=outcome.message, line=line, waiver=use)


def _waives(waiver: Waiver, rule: str, names: set[str]) -> bool:
    model_ok = any(fnmatch.fnmatchcase(n.lower(), waiver.model.lower()) for n in names)
    return model_ok and any(fnmatch.fnmatchcase(rule, pattern) for pattern in waiver.rules)
