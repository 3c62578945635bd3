"""A model's facts in words for its page: licence terms, provenance details, base reconciliation, how to score higher.

Reports store facts as booleans, numbers and nested JSON because programs read them. A person
reading the model page should never meet a raw `True` or a quoted JSON string, so this module turns
each into a sentence. It reads the report only; wording that varies by licence or rubric comes from
the data (licence tiers, rubric criteria), not from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openscore.licences.catalogue import load_catalogue
from openscore.report import AuditReport, Grade, LicenceFacts
from openscore.site.rows import declared_bases, effective_grade, repo_of

#: Finding ids about a model's base; the reconciliation row points at them.
BASE_FINDINGS = ("base", "laundering", "lineage")


@dataclass
class LicenceWords:
    kind: str  # the tier's title, e.g. "OSI-approved open source licence"
    permissions: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)


def licence_words(facts: LicenceFacts) -> LicenceWords:
    """The licence's recorded terms as sentences, sorted into what it permits, requires and forbids."""
    tiers = load_catalogue().tiers
    tier = tiers.get(facts.tier or "")
    words = LicenceWords(kind=tier.title if tier else ("an open licence" if facts.open else "licence class not recorded"))
    (words.permissions if facts.open else words.limitations).append(
        "counts as an open licence when grading" if facts.open else "does not count as an open licence when grading"
    )
    _flag(words, facts.osi_approved, "approved by the Open Source Initiative", "not approved by the Open Source Initiative",
          "OSI approval", positive_is="permissions", negative_is="limitations")
    _flag(words, facts.commercial_use, "commercial use is allowed", "commercial use is not allowed", "commercial use",
          positive_is="permissions", negative_is="limitations")
    if facts.user_cap is not None:
        words.conditions.append(f"above {facts.user_cap:,} monthly active users a separate licence is needed")
    _flag(words, facts.use_policy, "an acceptable-use policy applies", "no acceptable-use policy", "acceptable-use policy",
          positive_is="conditions", negative_is="permissions")
    if facts.use_policy:
        _flag(words, facts.use_policy_passes_down, "the use policy must be passed on to anyone you share the model with",
              "the use policy need not be passed on", "whether the use policy passes down",
              positive_is="conditions", negative_is="permissions")
    if facts.derivative_naming:
        words.conditions.append(f"naming of derivatives: {facts.derivative_naming}")
    if facts.attribution:
        words.conditions.append(f"attribution: {facts.attribution}")
    _flag(words, facts.output_restrictions, "outputs may not be used to train other models",
          "no restriction on using outputs", "restrictions on outputs", positive_is="limitations", negative_is="permissions")
    return words


def _flag(words: LicenceWords, value: bool | None, yes: str, no: str, topic: str, *, positive_is: str, negative_is: str) -> None:
    if value is None:
        words.not_recorded.append(topic)
    else:
        getattr(words, positive_is if value else negative_is).append(yes if value else no)


def detail_text(value: Any) -> str:
    """A provenance detail as words: numbers plainly, lists joined, pairs as `a -> b`, mappings as `k: v`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
            return "; ".join(f"{detail_text(a)} → {detail_text(b)}" for a, b in value)
        return ", ".join(detail_text(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')}: {detail_text(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    return str(value)


#: Details drawn elsewhere on the page (the reason leads, matches get a table, the layer map a plot).
SHOWN_APART = ("reason", "matches", "layer_map")


def provenance_details(details: dict[str, Any]) -> dict[str, Any]:
    """Everything `details` holds, made readable: {reason, matches: [rows], read, other: [(label, words)], layer_map}."""
    read = None
    if isinstance(details.get("bytes_read"), int) and isinstance(details.get("bytes_total"), int) and details["bytes_total"]:
        share = details["bytes_read"] / details["bytes_total"]
        read = f"{details['bytes_read'] / 1e6:,.1f} MB of {details['bytes_total'] / 1e6:,.1f} MB read ({share:.0%})"
        if details.get("sample"):
            read += ", sampled"
    matches = [m for m in details.get("matches", []) if isinstance(m, dict)] if isinstance(details.get("matches"), list) else []
    skip = set(SHOWN_APART) | ({"bytes_read", "bytes_total", "sample"} if read else set())
    reason = details.get("reason")
    return {
        "reason": reason if isinstance(reason, str) else None,
        "matches": [
            {"id": str(m.get("id", "")), "verdict": str(m.get("verdict", "")),
             "score": detail_text(m.get("score")), "confidence": detail_text(m.get("confidence"))}
            for m in matches
        ],
        "read": read,
        "other": [(key.replace("_", " "), detail_text(details[key])) for key in sorted(details) if key not in skip],
    }


def layer_map(details: dict[str, Any]) -> list[int | None]:
    """The base layer each of this model's layers matched (JSON keys are strings), in layer order; None: unmatched."""
    mapping = details.get("layer_map")
    if not isinstance(mapping, dict):
        return []
    pairs = {}
    for key, value in mapping.items():
        try:
            pairs[int(key)] = value if isinstance(value, int) and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            continue
    return [pairs.get(i) for i in range(max(pairs) + 1)] if pairs else []


@dataclass
class BaseCheck:
    declared: list[str]
    detected: str | None
    status: str  # agree, differs, undeclared, unsupported, none, or the registry's confirmed / contradicted / not-checkable
    sentence: str
    findings: list[str]  # ids of findings about the base on the same page


def base_check(report: AuditReport) -> BaseCheck:
    """Declared against detected base, in one sentence, with the registry's own check when the report has one."""
    provenance = report.provenance
    declared = declared_bases(report)
    detected = repo_of(provenance.base) if provenance else None
    findings = sorted({f.id for f in report.findings if any(word in f.id for word in BASE_FINDINGS)})
    checked = getattr(provenance, "declared_base_check", None) if provenance else None
    if isinstance(checked, dict) or hasattr(checked, "status"):
        status = checked["status"] if isinstance(checked, dict) else checked.status
        reason = checked.get("reason") if isinstance(checked, dict) else checked.reason
        return BaseCheck(declared, detected, str(status), f"{status}: {reason}" if reason else str(status), findings)
    declared_repos = [repo_of(b) for b in declared]
    if provenance is None:
        sentence = "weights not analysed: the declared base could not be checked" if declared else "no base declared, weights not analysed"
        return BaseCheck(declared, None, "not-checkable" if declared else "none", sentence, findings)
    if detected and detected in declared_repos:
        return BaseCheck(declared, detected, "agree", "the weights show the base the card declares", findings)
    if detected and declared:
        return BaseCheck(declared, detected, "differs", "the card declares a different base than the weights show", findings)
    if detected:
        return BaseCheck(declared, detected, "undeclared", "the weights show a base that the card does not declare", findings)
    if declared:
        return BaseCheck(declared, None, "unsupported", f"the weights do not show the declared base (verdict: {provenance.verdict})", findings)
    return BaseCheck(declared, None, "none", "no base declared and none detected", findings)


def to_raise(grades: list[tuple[str, Grade, str]], criteria: dict[str, str]) -> list[dict[str, Any]]:
    """For each dimension not yet open: its grade, why, what was searched and what `open` requires (rubric text)."""
    missing = []
    for title, grade, target in grades:
        value = effective_grade(grade)
        if value in ("open", "n/a"):
            continue
        missing.append({
            "title": title,
            "grade": value,
            "anchor": target,
            "reason": grade.override.reason if grade.override else grade.reason,
            "searched": grade.searched,
            "needs": criteria.get(grade.dimension),
        })
    return missing
