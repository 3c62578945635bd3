"""A Markdown summary (for `$GITHUB_STEP_SUMMARY`, merge-request notes, or a file): a table of models,
the failures per model, and a mermaid lineage graph (declared base -> model, detected base -> model).
"""

from __future__ import annotations

from openscore.gate.result import GateResult, ModelResult
from openscore.gate.rules import repo_name

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "unevaluated": "⚠️ not evaluated", "waived": "🟡 waived"}
_HEADLINE = {0: "passed", 1: "failed", 3: "incomplete"}


def render_markdown(result: GateResult) -> str:
    counts = result.counts()
    out = [
        f"## openscore gate {_HEADLINE.get(result.exit_code, 'error')}",
        "",
        f"Policy `{result.policy}`, waivers judged on {result.today.isoformat()}: "
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['unevaluated']} not evaluated.",
        "",
        "| Model | Revision | Result | Failed rules | Waived rules |",
        "|---|---|---|---|---|",
    ]
    for model in result.models:
        failed = [c.rule for c in model.checks if c.status == "fail"]
        waived = [c.rule for c in model.checks if c.status == "waived"]
        out.append("| " + " | ".join([
            _cell(model.repo_id or model.source),
            f"`{model.sha[:12]}`" if model.sha else "",
            _ICON[model.status],
            _cell(", ".join(failed)),
            _cell(", ".join(waived)),
        ]) + " |")
    for model in result.models:
        details = _details(model)
        if details:
            out += ["", f"### {_cell(model.repo_id or model.source)}", "", *details]
    graph = _lineage(result.models)
    if graph:
        out += ["", "### Lineage", "", "```mermaid", *graph, "```"]
    return "\n".join(out) + "\n"


def _details(model: ModelResult) -> list[str]:
    if model.status == "unevaluated":
        rule = f" (`{model.error_rule}`)" if model.error_rule else ""
        return [f"- could not evaluate{rule}: {_cell(model.error or '')}"]
    rows = []
    for check in model.checks:
        if check.status == "fail":
            rows.append(f"- ❌ `{check.rule}`: {_cell(check.message)}")
        elif check.status == "waived":
            rows.append(f"- 🟡 `{check.rule}`: {_cell(check.message)} (waived until "
                        f"{check.waiver.expires.isoformat()}: {_cell(check.waiver.reason)})")
    return rows


def _lineage(models: list[ModelResult]) -> list[str]:
    """mermaid `graph LR` lines; node ids are assigned in first-seen order, so output is stable."""
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}"
        return ids[name]

    edges = []
    for model in models:
        lineage = model.lineage
        if lineage is None or not (lineage.declared_base or lineage.detected_base):
            continue
        name = model.repo_id or model.source
        if repo_name(lineage.detected_base) == repo_name(name):  # a base model matched to its own registry entry
            lineage = lineage.model_copy(update={"detected_base": None})
        if not (lineage.declared_base or lineage.detected_base):
            continue
        target = node(name)
        if lineage.declared_base:
            edges.append(f"  {node(lineage.declared_base)} -. declared .-> {target}")
        if lineage.detected_base:
            edges.append(f"  {node(lineage.detected_base)} -- \"{_label(lineage.verdict or 'detected')}\" --> {target}")
    if not edges:
        return []
    nodes = [f"  {nid}[\"{_label(name)}\"]" for name, nid in ids.items()]
    return ["graph LR", *nodes, *edges]


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no pipes, no line breaks, no raw HTML)."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))
