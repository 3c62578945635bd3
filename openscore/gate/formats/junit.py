"""JUnit XML: one testsuite per model, one testcase per rule (GitLab `artifacts:reports:junit`, Jenkins).

Failures are <failure>, waived failures <skipped> (with the waiver's reason), a model that could not
be evaluated is one <error> testcase (a <skipped> one with allow_incomplete). No timestamps, no
durations: the file is the same for the same decision.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from openscore.gate.rules import unevaluated_rule
from openscore.gate.result import GateResult, ModelResult


def render_junit(result: GateResult) -> str:
    root = ET.Element("testsuites", name="openscore gate")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for model in result.models:
        suite, counts = _suite(result, model)
        root.append(suite)
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(result: GateResult, model: ModelResult) -> tuple[ET.Element, dict[str, int]]:
    suite = ET.Element("testsuite", name=model.key)
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    classname = model.repo_id or model.source
    if model.status == "unevaluated":
        file, line = result.where(model)
        rule = unevaluated_rule(model)
        case = ET.SubElement(suite, "testcase", classname=classname, name=rule, file=file, line=str(line))
        tag, key = ("skipped", "skipped") if result.allow_incomplete else ("error", "errors")
        ET.SubElement(case, tag, message=f"could not evaluate: {model.error}", type=rule)
        counts["tests"] = 1
        counts[key] = 1
    for check in model.checks:
        file, line = result.where(model, check)
        case = ET.SubElement(suite, "testcase", classname=classname, name=check.rule, file=file, line=str(line))
        counts["tests"] += 1
        if check.status == "fail":
            failure = ET.SubElement(case, "failure", message=check.message, type=check.rule)
            failure.text = f"{model.key}: {check.message}"
            counts["failures"] += 1
        elif check.status == "waived":
            waiver = check.waiver
            ET.SubElement(case, "skipped", message=f"waived until {waiver.expires.isoformat()}: {waiver.reason}")
            counts["skipped"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    return suite, counts
