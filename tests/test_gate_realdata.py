"""The gate end to end over real audits: embedded sample checkpoints and real model-card folders.

One `openscore gate` run audits every source and checks every rule; each rule is then shown to pass
for one real model and to fail for another, for the reason the real case is known for.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.samples import materialize

POLICY = """\
version: 1
rubrics:
  osai-v3:
    min_score: 0.5
    profile: strict
    dimensions:
      weights_endmodel: open
  mof:
    min_class: III
  osaid:
    require_pass: true
    max_unknown: 1
licence:
  allow: [apache-2.0, mit, "llama*", tongyi-qianwen]
  deny: ["cc-by-nc*"]
  require_commercial_use: true
  min_user_cap: 700000000
  require_open: true
  forbid_unknown: true
  forbid_laundering: true
  forbid_conflict: true
provenance:
  require_declared_base_match: true
  forbid_undeclared_derivative: true
  forbid_verdicts: [renamed-copy]
  require_safetensors: true
  forbid_pickle: true
"""

#: rule -> (model that passes it, model that fails it); names are the repo ids the audit reports
CASES = {
    "rubric.osai-v3.min-score": ("openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"),
    # a card-only copy whose card does not load its own weights: unknown, which "at least open" fails
    "rubric.osai-v3.dimension.weights_endmodel": ("openscore-samples/tiny-llama", "local/hfl__chinese-llama-2-7b"),
    "rubric.mof.min-class": ("openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"),
    "rubric.osaid.max-unknown": ("openscore-samples/tiny-llama-shell", "openscore-samples/tiny-llama"),
    "licence.allow": ("openscore-samples/tiny-llama", "local/stabilityai__stablelm-tuned-alpha-7b"),
    "licence.deny": ("openscore-samples/tiny-llama", "local/stabilityai__stablelm-tuned-alpha-7b"),
    "licence.commercial-use": ("openscore-samples/tiny-llama", "local/stabilityai__stablelm-tuned-alpha-7b"),
    "licence.user-cap": ("local/meta-llama__Llama-2-7b-hf", "local/Qwen__Qwen-7B"),
    "licence.open": ("openscore-samples/tiny-llama", "local/meta-llama__Llama-2-7b-hf"),
    "licence.unknown": ("openscore-samples/tiny-llama", "local/THUDM__chatglm3-6b"),
    "licence.laundering": ("openscore-samples/tiny-llama", "local/hfl__chinese-llama-2-7b"),
    "licence.conflict": ("openscore-samples/tiny-llama", "local/falcon-licensed-copy"),
    "provenance.declared-base": ("openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"),
    "provenance.undeclared-derivative": ("openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"),
    "provenance.verdict": ("openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"),
    "provenance.safetensors": ("openscore-samples/tiny-llama", "local/lmsys__vicuna-7b-delta-v0"),
    "provenance.pickle": ("openscore-samples/tiny-llama", "local/lmsys__vicuna-7b-delta-v0"),
}
REALCARDS = ["stabilityai__stablelm-tuned-alpha-7b", "meta-llama__Llama-2-7b-hf", "Qwen__Qwen-7B", "THUDM__chatglm3-6b",
             "hfl__chinese-llama-2-7b", "lmsys__vicuna-7b-delta-v0"]


@pytest.fixture(scope="module")
def gate_run(realcards, tmp_path_factory):
    """(exit code, stderr, {repo_id: {rule: check}}) of one gate run over samples and real cards."""
    work = tmp_path_factory.mktemp("gate-real")
    (work / "openscore.yaml").write_text(POLICY)
    # falcon-40b's case: a card saying apache-2.0 over the TII Falcon licence text (its 2023 release)
    copy = work / "falcon-licensed-copy"
    shutil.copytree(materialize("tiny-llama"), copy, ignore=shutil.ignore_patterns(".complete"))
    (copy / "LICENSE").write_bytes((realcards / "tiiuae__falcon-40b" / "LICENSE.txt").read_bytes())
    sources = ["sample:tiny-llama", "sample:tiny-llama-shell", str(copy), *(str(realcards / n) for n in REALCARDS)]
    with contextlib.chdir(work):
        res = CliRunner().invoke(cli, ["gate", *sources, "--format", "json:gate.json", "--today", "2026-11-23"],
                                 catch_exceptions=False)
    document = json.loads((work / "gate.json").read_text())
    checks = {m["repo_id"]: {c["rule"]: c for c in m["checks"]} for m in document["models"]}
    return res.exit_code, res.stderr, checks


def test_every_model_was_audited_and_the_gate_fails(gate_run):
    code, stderr, checks = gate_run
    assert code == 1, stderr
    assert len(checks) == 2 + 1 + len(REALCARDS)
    assert "FAIL        openscore-samples/tiny-llama-shell@" in stderr


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_passes_one_real_model_and_fails_another(gate_run, rule):
    _, _, checks = gate_run
    passing, failing = CASES[rule]
    assert checks[passing][rule]["status"] == "pass", checks[passing][rule]["message"]
    assert checks[failing][rule]["status"] == "fail", checks[failing][rule]["message"]


def test_failures_carry_the_real_reason(gate_run):
    _, _, checks = gate_run
    shell = checks["openscore-samples/tiny-llama-shell"]
    assert "renamed-copy of openscore-samples/tiny-llama" in shell["provenance.undeclared-derivative"]["message"]
    assert "caps users at 100,000,000" in checks["local/Qwen__Qwen-7B"]["licence.user-cap"]["message"]
    assert "weights_endmodel is unknown" in checks["local/hfl__chinese-llama-2-7b"][
        "rubric.osai-v3.dimension.weights_endmodel"]["message"]
    assert "TII Falcon" in checks["local/falcon-licensed-copy"]["licence.conflict"]["message"]
    assert "pytorch_model" in checks["local/lmsys__vicuna-7b-delta-v0"]["provenance.pickle"]["message"]
    assert shell["rubric.osaid.pass"]["message"].startswith("osaid classification is fail; unmet: ")


def test_rules_in_the_policy_are_all_exercised():
    """Every rule kind the gate knows (except the gate's own) has a real pass/fail case above or in test_gate.py."""
    from openscore.gate.rules import RULE_TEXTS

    covered = {r.replace("osai-v3", "{rubric}").replace("mof", "{rubric}").replace("osaid", "{rubric}")
               .replace("weights_endmodel", "{dimension}") for r in CASES}
    elsewhere = {"gate.audit", "gate.evaluation", "policy.pinned-revision", "lock.files"}  # test_gate*.py
    missing = set(RULE_TEXTS) - covered - elsewhere
    assert missing == {"rubric.{rubric}.pass"}  # no real model passes OSAID yet: test_gate.py drives it both ways
