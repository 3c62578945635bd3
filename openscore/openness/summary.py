"""The readable audit summary `openscore audit` prints: grades per rubric, licence, provenance, findings."""

from __future__ import annotations

from pathlib import Path

from openscore.report import AuditReport
from openscore.textstyle import Paint, pad, unpainted


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_text(report: AuditReport, path: Path | None = None, *, paint: Paint = unpainted) -> str:
    """The summary of `report`; every verdict is followed by its reason, every grade by why."""
    src = report.source
    lines = [f"{src.repo_id}@{src.sha[:12]} ({src.kind})"]
    lic = report.licence.resolved
    declared = f"declared {report.licence.declared!r}, " if report.licence.declared else "no card licence, "
    meaning = "open" if lic.open else "unknown" if lic.id == "unknown" else "closed"
    openness = paint("grade", "open" if lic.open else "not open", meaning)
    lines.append(f"  licence: {lic.id} ({lic.name}; {declared}{openness})")
    prov = report.provenance
    if prov is not None:
        conf = f", confidence {prov.confidence:.2f}" if prov.confidence is not None else ""
        base = (f" {'to' if prov.verdict == 'identical' else 'of'} {prov.base}") if prov.base else ""
        if prov.base and prov.base.partition("@")[0] == src.repo_id:  # a registry entry made from this very model
            base += " (its own registry entry)"
        reason = prov.details.get("reason") if isinstance(prov.details.get("reason"), str) else None
        lines.append(f"  provenance: {paint('verdict', prov.verdict)}{base}{conf}: {reason or 'no reason recorded'}")
        lines += [f"    - {t}" for t in prov.transformations[:5]]
    else:
        why = "; ".join(report.pipeline_notes()) or "no reason recorded"
        lines.append(f"  provenance: not computed: {why}")
    for rubric_id in sorted(report.rubrics, key=lambda r: (r != report.default_rubric, r)):
        result = report.rubrics[rubric_id]
        scores = ", ".join(f"{k} {_score(v)}" for k, v in sorted(result.scores.items()))
        outcome = ", ".join(part for part in (scores, result.classification) if part) or "no score"
        lines.append(f"  {rubric_id} {result.version}: {outcome}")
        if rubric_id == report.default_rubric:  # the other rubrics in one line each; the report has them all
            width = max((len(g.dimension) for g in result.grades), default=0)
            for g in result.grades:
                over = f"  [override: {g.override.grade} by {g.override.reviewer}]" if g.override else ""
                lines.append(f"    {g.dimension:<{width}}  {pad(paint, 'grade', g.grade, 7)}  {g.reason}{over}")
        else:
            counts = {}
            for g in result.grades:
                counts[g.grade] = counts.get(g.grade, 0) + 1
            lines.append("    " + ", ".join(f"{n} {paint('grade', grade)}" for grade, n in sorted(counts.items())))
        if result.unmet:
            lines.append(f"    unmet: {', '.join(result.unmet)}")
    if report.findings:
        lines.append("  findings:")
        lines += [f"    {paint('severity', f.severity).replace(f.severity, f.severity.upper())} {f.id}: {f.message}"
                  for f in report.findings]
    else:
        lines.append("  findings: none")
    if path is not None:
        lines.append(f"  report: {path}")
    return "\n".join(lines) + "\n"
