"""GitHub Actions workflow commands (`::error file=...,line=...::...`): annotations without GHAS.

They appear on the pull request's "Files changed" tab at the policy line naming the model. The
Markdown summary for `$GITHUB_STEP_SUMMARY` is rendered by openscore.gate.formats.markdown.
"""

from __future__ import annotations

from openscore.gate.rules import unevaluated_rule
from openscore.gate.result import GateResult


def render_github(result: GateResult) -> str:
    lines = []
    for model in result.models:
        if model.status == "unevaluated":
            level = "warning" if result.allow_incomplete else "error"
            lines.append(_command(level, *result.where(model), f"openscore {unevaluated_rule(model)}: {model.source}",
                                  f"could not evaluate {model.source}: {model.error}"))
            continue
        for check in model.checks:
            if check.status == "pass":
                continue
            level = "error" if check.status == "fail" else "notice"
            text = check.message if check.status == "fail" else f"waived until {check.waiver.expires.isoformat()} " \
                f"({check.waiver.reason}): {check.message}"
            lines.append(_command(level, *result.where(model, check), f"openscore {check.rule}: {model.repo_id or model.source}", text))
    lines.extend(_command("warning", w.file, w.line, "openscore policy", w.message) for w in result.warnings)
    return "".join(line + "\n" for line in lines)


def _command(level: str, file: str, line: int, title: str, message: str) -> str:
    props = ",".join(f"{k}={_escape_property(v)}" for k, v in (("file", file), ("line", str(line)), ("title", title)))
    return f"::{level} {props}::{_escape_data(message)}"


def _escape_data(value: str) -> str:
    """The escaping the Actions runner undoes for a command's message (actions/toolkit `escapeData`)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")
