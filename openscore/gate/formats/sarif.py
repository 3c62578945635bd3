"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Every result points at a line of the policy: the line naming the model when the policy lists it,
else the line of the rule. Rule ids and partialFingerprints depend only on the rule and the model's
repo id (not the revision), so re-running on a new revision updates alerts instead of duplicating them.
Waived failures are kept as suppressed results, so the exception stays visible and auditable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from openscore.atomic import canonical_json
from openscore.gate.rules import unevaluated_rule
from openscore.gate.result import CheckResult, GateResult, ModelResult
from openscore.gate.rules import rule_description

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/openscore/openscore"


def render_sarif(result: GateResult) -> str:
    results: list[dict[str, Any]] = []
    rule_ids: set[str] = set()
    for model in result.models:
        if model.status == "unevaluated":
            rule = unevaluated_rule(model)
            rule_ids.add(rule)
            level = "warning" if result.allow_incomplete else "error"
            results.append(_result(model, rule, level, f"{model.source}: could not evaluate: {model.error}",
                                   result.where(model)))
            continue
        for check in model.checks:
            if check.status == "pass":
                continue
            rule_ids.add(check.rule)
            entry = _result(model, check.rule, "error", f"{model.key}: {check.message}", result.where(model, check))
            if check.status == "waived":
                entry["suppressions"] = [_suppression(result, check)]
            results.append(entry)
    ordered = sorted(rule_ids)
    index = {rule: i for i, rule in enumerate(ordered)}
    for entry in results:
        entry["ruleIndex"] = index[entry["ruleId"]]
    run = {
        "tool": {"driver": {
            "name": "openscore",
            "version": result.tool.split("@", 1)[-1],
            "informationUri": INFORMATION_URI,
            "rules": [_rule(rule) for rule in ordered],
        }},
        "automationDetails": {"id": f"openscore-gate/{result.policy}/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return canonical_json({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})


def _rule(rule: str) -> dict[str, Any]:
    text = rule_description(rule)
    return {
        "id": rule,
        "name": "".join(part.capitalize() for part in rule.replace("-", ".").split(".")),
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": f"{text} Configure or waive it in the openscore gate policy (see docs/gate.md)."},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["openscore", rule.split(".", 1)[0]], "precision": "high"},
    }


def _result(model: ModelResult, rule: str, level: str, text: str, where: tuple[str, int]) -> dict[str, Any]:
    identity = model.repo_id or model.source
    fingerprint = hashlib.sha256(f"{identity}\0{rule}".encode()).hexdigest()[:32]
    return {
        "ruleId": rule,
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": where[0]},
            "region": {"startLine": where[1]},
        }}],
        "partialFingerprints": {"openscoreModelRule/v1": fingerprint},
        "properties": {"model": identity, "revision": model.sha or "", "source": model.source},
    }


def _suppression(result: GateResult, check: CheckResult) -> dict[str, Any]:
    waiver = check.waiver
    return {
        "kind": "external",
        "status": "accepted",
        "justification": f"{waiver.reason} (waiver at {result.policy}:{waiver.line}, expires {waiver.expires.isoformat()})",
    }
