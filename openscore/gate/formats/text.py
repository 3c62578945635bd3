"""Human-readable text: failures first, one line each, then the verdict and the exit code."""

from __future__ import annotations

from openscore.gate.result import GateResult, ModelResult
from openscore.textstyle import Paint, pad, unpainted

#: exit code -> (headline, its style); model status -> its style (openscore.cli.console.STYLES "gate.*")
_HEADLINE = {0: ("PASSED", "pass"), 1: ("FAILED", "fail"), 3: ("INCOMPLETE", "error")}
_MEANING = {"pass": "pass", "fail": "fail", "unevaluated": "error"}


def render_text(result: GateResult, *, verbose: bool = False, paint: Paint = unpainted) -> str:
    """Failures first; the last line is the tally of passed, failed and not evaluated models."""
    lines = [f"openscore gate: policy {result.policy}, waivers judged on {result.today.isoformat()}"]
    for model in result.models:
        lines.extend(_model_lines(result, model, verbose, paint))
    lines.extend(f"{paint('severity', 'warning')}: {w.file}:{w.line}: {w.message}" for w in result.warnings)
    counts = result.counts()
    if counts["unevaluated"] and not result.allow_incomplete:
        lines.append("hint: --allow-incomplete turns models that cannot be evaluated into warnings (exit 0 or 1)")
    headline, meaning = _HEADLINE.get(result.exit_code, ("ERROR", "error"))
    lines.append(
        f"{paint('gate', headline, meaning)}: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['unevaluated']} not evaluated{' (allowed)' if result.allow_incomplete and counts['unevaluated'] else ''}"
        f" (exit {result.exit_code})"
    )
    return "\n".join(lines) + "\n"


def _model_lines(result: GateResult, model: ModelResult, verbose: bool, paint: Paint) -> list[str]:
    where = f" ({model.file}:{model.line})" if model.file and model.line else ""
    head = f"{pad(paint, 'gate', model.status.upper(), 11, _MEANING[model.status])} {model.key}{where}"
    if model.status == "unevaluated":
        rule = f" ({model.error_rule})" if model.error_rule else ""
        return [head, f"  could not evaluate{rule}: {model.error}"]
    lines = [head]
    shown = [c for c in model.checks if verbose or c.status != "pass"]
    width = max((len(c.rule) for c in shown), default=0)
    for check in shown:
        line = f"  {pad(paint, 'gate', check.status, 6)} {check.rule:<{width}}  {check.message}"
        if check.waiver is not None and not check.waiver.expired:
            line += f" [waived until {check.waiver.expires.isoformat()}: {check.waiver.reason} ({result.policy}:{check.waiver.line})]"
        lines.append(line)
    passed = sum(c.status == "pass" for c in model.checks)
    if not verbose and passed:
        lines.append(f"  {passed} check(s) passed")
    return lines
