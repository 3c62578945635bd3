"""Run the gate: get a report per source, check it against the policy, apply waivers, decide the exit.

A source is anything `openscore audit` takes (Hub repo id[@rev], folder, `sample:NAME`) or a report
JSON saved earlier. "Could not evaluate" (network, rate limit, gated repo) is kept apart from
"evaluated and bad": the first gives exit 3 (or a warning with allow_incomplete), the second exit 1.
Each model is isolated: one that cannot be audited at all (an invalid report, an unexpected error) is
reported under rule gate.audit as not evaluated, and every other model is still gated.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openscore import __version__
from openscore.errors import InvalidCheckpoint, OpenscoreError, UsageError
from openscore.gate.lookup import NameIndex, WaiverIndex, split_spec
from openscore.gate.policy import GovernedModel, LoadedPolicy, Waiver, display_path
from openscore.gate.result import (
    CheckResult,
    GateResult,
    Lineage,
    ModelResult,
    PolicyWarning,
    WaiverUse,
    decide_exit,
)
from openscore.gate.rules import AUDIT_RULE, LOCK_RULE, PINNED_RULE, RuleOutcome, evaluate_report
from openscore.lock import LockedModel, LockFile, compare_files, load_lock, model_line
from openscore.report import AuditReport, load_report


@dataclass(frozen=True)
class _Run:
    """What every model of one gate run is judged with."""

    policy: LoadedPolicy
    today: dt.date
    lock: LockFile | None
    lock_file: str | None  # the lock as shown in locations
    endpoint: str | None
    token: str | None
    weights: bool
    linked: bool  # also read what the cards link (openscore.evidence.linked)
    progress: Callable[[str], None] | None
    governed: NameIndex  # policy `models:` entries: (index, GovernedModel)
    locked: NameIndex  # lock entries: LockedModel
    waivers: WaiverIndex  # policy waivers: Waiver


def run_gate(
    policy: LoadedPolicy,
    sources: list[str] | None = None,
    *,
    today: dt.date | None = None,
    allow_incomplete: bool = False,
    lock_path: str | Path | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    weights: bool = True,
    linked: bool = False,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """Gate `sources` (default: the models the policy lists) and return the decision.

    With `lock_path`, a model the lock pins must have been audited at the locked commit with the locked
    files (rule lock.files), and a model the policy does not list is located at its lock-file line.
    `linked` audits with linked evidence, as `audit(..., linked=True)` does (a saved report is read as is).
    Raises UsageError/ConfigError for bad input (exit 2); evaluation failures are recorded, not raised.
    """
    wanted = list(sources) if sources else [m.spec for m in policy.policy.models]
    if not wanted:
        raise UsageError("no models to gate: name sources on the command line or list them under 'models:' in the policy")
    lock = load_lock(lock_path) if lock_path else None
    run = _Run(policy=policy, today=today or dt.date.today(), lock=lock,
               lock_file=display_path(Path(lock_path)) if lock_path else None,
               endpoint=endpoint, token=token, weights=weights, linked=linked, progress=progress,
               governed=NameIndex(([m.spec, split_spec(m.spec)[0]], (), (i, m))
                                  for i, m in enumerate(policy.policy.models)),
               locked=NameIndex(([e.source, split_spec(e.source)[0]], [e.repo_id], e) for e in (lock.models if lock else [])),
               waivers=WaiverIndex((w.model, w) for w in policy.policy.waivers))
    for spec in wanted:  # a typo in a source costs nothing: refused before any audit
        _check_spec(spec)
    models = []
    for spec in wanted:
        if progress:
            progress(f"gating {spec}")
        models.append(_isolated(spec, run))
    return GateResult(
        tool=f"openscore@{__version__}",
        policy=policy.file,
        lock=run.lock_file,
        today=run.today,
        allow_incomplete=allow_incomplete,
        models=models,
        exit_code=decide_exit(models, allow_incomplete),
        warnings=unmatched_waivers(policy, models),
    )


def unmatched_waivers(policy: LoadedPolicy, models: list[ModelResult]) -> list[PolicyWarning]:
    """Waivers whose model matches no model of the run, or whose rules match no check of the models
    they name: a waiver for `tiiuae/falcon-40b` against a folder audited as `local/falcon` does nothing,
    and nobody would notice."""
    index = WaiverIndex((w.model, w) for w in policy.policy.waivers)
    named: dict[int, list[ModelResult]] = {}
    for model in models:  # one index lookup per model: linear in models and waivers
        for position, _ in index.for_names(_names(model)):
            named.setdefault(position, []).append(model)
    warnings = []
    for position, waiver in enumerate(policy.policy.waivers):
        line = policy.line_of("waivers", position)
        if position not in named:
            gated = ", ".join(sorted({m.repo_id or m.source for m in models})[:5])
            warnings.append(PolicyWarning(file=policy.file, line=line, message=(
                f"waiver for {waiver.model!r} matches no model gated ({gated}); is the model named by its repo id?")))
        elif not any(fnmatch.fnmatchcase(c.rule, pattern)
                     for m in named[position] for c in m.checks for pattern in waiver.rules):
            warnings.append(PolicyWarning(file=policy.file, line=line, message=(
                f"waiver for {waiver.model!r}: its rules ({', '.join(waiver.rules)}) match no check of that model")))
    return warnings


def _names(model: ModelResult) -> set[str]:
    return {model.source, split_spec(model.source)[0]} | ({model.repo_id} if model.repo_id else set())


def is_report_path(spec: str) -> bool:
    return spec.endswith(".json") and Path(spec).is_file()


def _check_spec(spec: str) -> None:
    """A UsageError when `spec` is no report file, folder, sample name or Hub repo id (no I/O beyond stat)."""
    from openscore.sources import SAMPLE_PREFIX, check_path_length, parse_hub_spec

    check_path_length(spec)
    if not (is_report_path(spec) or Path(spec).is_dir() or spec.startswith(SAMPLE_PREFIX) or parse_hub_spec(spec)):
        raise UsageError(f"{spec!r} is neither a saved report (.json), nor an existing folder, nor `sample:<name>`, "
                         "nor a Hub repo id `org/name[@revision]`")


def _isolated(spec: str, run: _Run) -> ModelResult:
    """`_gate_one`, where any failure but a rejected checkpoint leaves this model unevaluated (exit 3)."""
    try:
        return _gate_one(spec, run)
    except OpenscoreError as exc:
        error, rule = str(exc), None if exc.evaluation_failure else AUDIT_RULE
    except Exception as exc:  # noqa: BLE001 - one model's unexpected failure must not abort the others
        error, rule = f"the audit failed unexpectedly: {type(exc).__name__}: {' '.join(str(exc).split())}", AUDIT_RULE
    file, line = _model_location(run, spec, None)
    return ModelResult(source=spec, status="unevaluated", file=file, line=line, error=error, error_rule=rule)


def _gate_one(spec: str, run: _Run) -> ModelResult:
    where = _model_location(run, spec, None)
    try:
        report = _obtain_report(spec, run)
    except InvalidCheckpoint as exc:  # evaluated: the checkpoint is malformed or hostile
        outcome = RuleOutcome(AUDIT_RULE, (), False, f"the audit rejected the checkpoint: {exc}")
        return _judge(spec, None, [outcome], run, where)
    where = _model_location(run, spec, report)
    gated = _gated_without_token(spec, report, run.token)
    if gated:
        return ModelResult(source=spec, repo_id=report.source.repo_id, sha=report.source.sha, status="unevaluated",
                           file=where[0], line=where[1], error=gated)
    outcomes = evaluate_report(report, run.policy.policy)
    governed = _governing_entry(spec, run) or _governing_entry(report.source.repo_id, run)
    if governed is not None:
        outcomes.extend(_pinned_revision(report, governed))
    locked = _lock_entry(run, spec, report.source.repo_id)
    if locked is not None:
        outcomes.append(_locked_files(report, locked, run))
    return _judge(spec, report, outcomes, run, where)


def _model_location(run: _Run, spec: str, report: AuditReport | None) -> tuple[str | None, int | None]:
    """The policy line naming the model, else its lock-file line, else nothing (rules' own lines)."""
    names = [spec] + ([report.source.repo_id] if report is not None else [])
    for name in names:
        governed = _governing_entry(name, run)
        if governed is not None:
            return run.policy.file, run.policy.line_of("models", governed[0])
    for name in names:
        entry = _lock_entry(run, name, name)
        if entry is not None:
            return run.lock_file, model_line(run.lock_file, entry)
    return None, None


def _lock_entry(run: _Run, spec: str, repo_id: str) -> LockedModel | None:
    return run.locked.find([spec, split_spec(spec)[0]], [repo_id])


def _locked_files(report: AuditReport, entry: LockedModel, run: _Run) -> RuleOutcome:
    files = {f["path"]: (f["size"], f.get("sha256")) for f in report.inventory.get("files", [])}
    problems = [p.message for p in compare_files(entry.files, files)]
    if entry.kind == "hub" and report.source.sha != entry.sha:
        problems.insert(0, f"audited commit {report.source.sha[:12]} is not the locked {entry.sha[:12]}")
    where = (run.lock_file, model_line(run.lock_file, entry))
    text = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "") if problems \
        else f"{len(entry.files)} files match the lock"
    return RuleOutcome(LOCK_RULE, (), not problems, text, location=where)


def _obtain_report(spec: str, run: _Run) -> AuditReport:
    """The saved report, or a fresh audit (at the policy's pinned revision when `spec` names none)."""
    if is_report_path(spec):
        return load_report(spec)
    from openscore.audit import audit  # heavy imports (torch) only when an audit is needed

    governed = _governing_entry(spec, run)
    if governed is not None and split_spec(spec)[1] is None:
        spec = governed[1].spec
    rubrics = sorted(run.policy.policy.rubrics) or None
    return audit(spec, endpoint=run.endpoint, token=run.token, weights=run.weights, rubrics=rubrics,
                 linked=run.linked, progress=run.progress, identity=governed[1].id if governed is not None else None)


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


def _governing_entry(spec: str, run: _Run) -> tuple[int, GovernedModel] | None:
    """The policy's `models:` entry naming this source (with or without a revision), if any."""
    return run.governed.find([spec, split_spec(spec)[0]])


def _pinned_revision(report: AuditReport, governed: tuple[int, GovernedModel]) -> list[RuleOutcome]:
    index, entry = governed
    _, pinned = split_spec(entry.spec)
    if pinned is None:
        return []
    src = report.source
    matches = src.revision == pinned or (len(pinned) >= 7 and src.sha.lower().startswith(pinned.lower()))
    text = (f"audited revision {src.sha[:12]} is the pinned {pinned}" if matches
            else f"audited revision {src.revision or src.sha[:12]} ({src.sha[:12]}) is not the pinned {pinned}")
    return [RuleOutcome(PINNED_RULE, ("models", index), matches, text)]


def _judge(spec: str, report: AuditReport | None, outcomes: list[RuleOutcome], run: _Run,
           where: tuple[str | None, int | None]) -> ModelResult:
    names = {spec, split_spec(spec)[0]}
    if report is not None:
        names.add(report.source.repo_id)
    waivers = run.waivers.for_names(names)
    checks = [_apply_waivers(o, waivers, run) for o in outcomes]
    lineage = None
    if report is not None and report.provenance is not None:
        p = report.provenance
        lineage = Lineage(verdict=p.verdict, declared_base=p.declared_base, detected_base=p.base)
    return ModelResult(
        source=spec,
        repo_id=report.source.repo_id if report else None,
        sha=report.source.sha if report else None,
        status="fail" if any(c.status == "fail" for c in checks) else "pass",
        file=where[0],
        line=where[1],
        checks=checks,
        lineage=lineage,
    )


def _apply_waivers(outcome: RuleOutcome, waivers: list[tuple[int, Waiver]], run: _Run) -> CheckResult:
    """`waivers`: the ones naming this model, in policy order."""
    policy = run.policy
    file, line = outcome.location or (policy.file, policy.line_of(*outcome.policy_path) if outcome.policy_path else 1)
    base = {"rule": outcome.rule, "file": file, "line": line}
    if outcome.passed:
        return CheckResult(**base, status="pass", message=outcome.message)
    matching = [(i, w) for i, w in waivers if any(fnmatch.fnmatchcase(outcome.rule, p) for p in w.rules)]
    active = [(i, w) for i, w in matching if w.expires >= run.today]
    chosen = active[0] if active else (matching[0] if matching else None)
    if chosen is None:
        return CheckResult(**base, status="fail", message=outcome.message)
    index, waiver = chosen
    use = WaiverUse(line=policy.line_of("waivers", index), reason=waiver.reason, expires=waiver.expires,
                    expired=waiver.expires < run.today)
    if use.expired:
        message = f"{outcome.message} (waiver expired on {waiver.expires.isoformat()})"
        return CheckResult(**base, status="fail", message=message, waiver=use)
    return CheckResult(**base, status="waived", message=outcome.message, waiver=use)
