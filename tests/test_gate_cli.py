"""`openscore gate` end to end: exit codes, every output format (validated), determinism, step summary."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from openscore.cli import cli
from test_gate import CC_BY_NC, LLAMA2, make_report, save, write_policy

POLICY = """
version: 1
models:
  - source: acme/good
  - source: acme/bad
    revision: {bad_sha}
licence:
  deny: [cc-by-nc-4.0]
  min_user_cap: 1000000000
provenance:
  forbid_verdicts: [renamed-copy]
waivers:
  - model: acme/bad
    rules: [licence.user-cap]
    reason: below the cap for our product (ticket 7)
    expires: 2026-12-31
"""
BAD_SHA = "b" * 40


def gate(args: list[str], cwd: Path, env: dict | None = None):
    """Run `openscore gate ARGS` in folder `cwd` (locations in outputs are relative to it)."""
    with contextlib.chdir(cwd):
        return CliRunner().invoke(cli, ["gate", *args], env=env or {}, catch_exceptions=False)


@pytest.fixture
def project(tmp_path):
    """A project folder with a policy and two saved reports: one passing, one violating."""
    write_policy(tmp_path, POLICY.format(bad_sha=BAD_SHA))
    save(tmp_path, make_report("acme/good"), "good.json")
    from openscore.report import ProvenanceResult

    capped_nc = CC_BY_NC.model_copy(update={"user_cap": 1_000})
    bad = make_report("acme/bad", BAD_SHA, licence=capped_nc,
                      provenance=ProvenanceResult(verdict="renamed-copy", base="acme/good"))
    save(tmp_path, bad, "bad.json")
    waived_only = make_report("acme/bad", BAD_SHA, licence=LLAMA2)
    save(tmp_path, waived_only, "waived.json")
    return tmp_path


def test_exit_0_when_every_model_passes(project):
    res = gate(["good.json", "waived.json", "--today", "2026-12-01"], project)
    assert res.exit_code == 0, res.stderr
    assert "PASSED: 2 passed, 0 failed" in res.stderr
    assert "waived until 2026-12-31: below the cap for our product (ticket 7)" in res.stderr
    assert res.stdout == ""


def test_exit_1_on_a_violation_and_after_the_waiver_expires(project):
    res = gate(["good.json", "bad.json", "--today", "2026-12-01"], project)
    assert res.exit_code == 1
    assert "FAIL        acme/bad@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb (openscore.yaml:4)" in res.stderr
    assert "licence.deny" in res.stderr and "provenance.verdict" in res.stderr

    expired = gate(["waived.json", "--today", "2027-01-01"], project)
    assert expired.exit_code == 1
    assert "waiver expired on 2026-12-31" in expired.stderr


def test_exit_2_on_a_policy_typo_with_file_and_line(project):
    (project / "openscore.yaml").write_text("version: 1\nlicence:\n  deny: [mit]\n  forbid_unknwn: true\n")
    res = gate(["good.json"], project)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "openscore: error: openscore.yaml:4: unknown key 'forbid_unknwn' (did you mean 'forbid_unknown'?)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["good.json", "--format", "yaml"], "unknown format 'yaml'"),
        (["good.json", "--format", "json", "--format", "sarif"], "only one format can go to stdout"),
        (["good.json", "--policy", "missing.yaml"], "missing.yaml: no such policy file: pass --policy FILE"),
        (["no such thing!"], "is neither a saved report (.json), nor an existing folder"),
    ],
)
def test_exit_2_on_usage_errors(project, args, message):
    (project / "not-a-report.json").write_text("[]")
    res = gate(args, project)
    assert res.exit_code == 2, res.stderr
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line, no traceback


@pytest.mark.parametrize(("args", "exit_code", "results"), [
    (["good.json"], 0, 0),
    (["good.json", "acme/good", "--endpoint", "http://127.0.0.1:9"], 3, 1),  # nothing listens on port 9
])
def test_sarif_of_passing_and_incomplete_runs_is_valid(project, shared_path, args, exit_code, results):
    schema = json.loads(shared_path("schemas", "sarif-schema-2.1.0.json").read_text())
    res = gate([*args, "--format", "sarif"], project)
    assert res.exit_code == exit_code, res.stderr
    sarif = json.loads(res.stdout)
    jsonschema.validate(sarif, schema)
    assert len(sarif["runs"][0]["results"]) == results


def test_exit_3_when_a_model_cannot_be_evaluated_unless_allowed(project):
    unreachable = ["acme/good", "--endpoint", "http://127.0.0.1:9"]  # nothing listens on the discard port
    res = gate([*unreachable, "--format", "junit"], project)
    assert res.exit_code == 3, res.stderr
    assert "NOT EVALUATED" not in res.stderr and "UNEVALUATED" in res.stderr
    assert "cannot reach http://127.0.0.1:9" in res.stderr
    suite = ET.fromstring(res.stdout).find("testsuite")
    assert suite.find("testcase/error") is not None

    allowed = gate([*unreachable, "--allow-incomplete", "--format", "github", "--format", "sarif:gate.sarif"], project)
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stdout.startswith("::warning file=openscore.yaml,line=3,title=openscore gate.evaluation%3A acme/good::")
    (result,) = json.loads((project / "gate.sarif").read_text())["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("gate.evaluation", "warning")

    with_violation = gate([*unreachable, "bad.json", "--allow-incomplete"], project)
    assert with_violation.exit_code == 1


def test_exit_3_for_a_gated_repo_without_token(project, fake_hub):
    from openscore.samples import materialize

    fake_hub.add_repo("acme/good", materialize("tiny-llama"), gated="manual")
    res = gate(["acme/good", "--endpoint", fake_hub.endpoint, "--no-weights"], project)
    assert res.exit_code == 3, res.stderr
    assert "could not evaluate: acme/good is a gated repository (manual approval) and no Hub token was given" in res.stderr
    assert gate(["acme/good", "--endpoint", fake_hub.endpoint, "--no-weights", "--allow-incomplete"],
                project).exit_code == 0


def run_all_formats(project: Path, out: str, env: dict) -> tuple[int, dict[str, bytes]]:
    res = gate(["good.json", "bad.json", "--today", "2026-12-01",
                "--format", f"json:{out}/gate.json", "--format", f"sarif:{out}/gate.sarif",
                "--format", f"junit:{out}/junit.xml", "--format", f"markdown:{out}/summary.md",
                "--format", f"text:{out}/gate.txt", "--format", "github"], project, env=env)
    files = {p.name: p.read_bytes() for p in sorted((project / out).iterdir())}
    files["stdout"] = res.stdout.encode()
    return res.exit_code, files


def test_all_formats_in_one_run_are_valid_and_deterministic(project, shared_path):
    summary = project / "step-summary.md"
    summary.write_text("# earlier step\n")
    code, files = run_all_formats(project, "out1", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1
    code2, files2 = run_all_formats(project, "out2", {})
    assert files == files2  # byte-identical outputs for the same inputs

    # SARIF 2.1.0: valid against the OASIS schema, results at the line naming the model
    sarif = json.loads(files["gate.sarif"])
    schema = json.loads(shared_path("schemas", "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == ["licence.deny", "licence.user-cap", "provenance.verdict"]
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == set(rule_ids)
    for r in run["results"]:
        loc = r["locations"][0]["physicalLocation"]
        assert loc == {"artifactLocation": {"uri": "openscore.yaml"}, "region": {"startLine": 4}}
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
    assert results["licence.user-cap"]["suppressions"][0]["kind"] == "external"
    assert "suppressions" not in results["licence.deny"]
    fingerprints = [r["partialFingerprints"]["openscoreModelRule/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)

    # JUnit: one suite per model, one case per rule, counts that add up
    root = ET.fromstring(files["junit.xml"])
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["acme/good@" + "a" * 40, "acme/bad@" + "b" * 40]
    for suite, rules in zip(suites, (3, 4)):  # acme/bad also checks its pinned revision
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == rules
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
    assert sorted(c.get("name") for c in suites[1].findall("testcase[failure]")) == ["licence.deny", "provenance.verdict"]
    for key in ("tests", "failures", "skipped", "errors"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites)

    # GitHub annotations on stdout, Markdown appended to the step summary
    lines = files["stdout"].decode().splitlines()
    assert "::error file=openscore.yaml,line=4,title=openscore licence.deny%3A acme/bad::" \
           "licence cc-by-nc-4.0 ('apache-2.0' in the card) is denied (matches 'cc-by-nc-4.0')" in lines
    assert sum(line.startswith("::notice ") for line in lines) == 1
    step = summary.read_text()
    assert step.startswith("# earlier step\n## openscore gate failed")
    assert step.endswith(files["summary.md"].decode())
    assert "| acme/bad | `bbbbbbbbbbbb` | ❌ fail | licence.deny, provenance.verdict | licence.user-cap |" in step
    assert '```mermaid\ngraph LR\n  n0["acme/bad"]\n  n1["acme/good"]\n  n1 -- "renamed-copy" --> n0\n```' in step

    document = json.loads(files["gate.json"])
    assert document["exit_code"] == 1 and [m["status"] for m in document["models"]] == ["pass", "fail"]
    assert files["gate.txt"].decode().startswith("openscore gate: policy openscore.yaml")


def test_no_sources_gates_the_models_the_policy_lists(tmp_path):
    write_policy(tmp_path, f"models:\n  - {tmp_path / 'good.json'}\nlicence:\n  forbid_unknown: true\n")
    save(tmp_path, make_report("acme/good"), "good.json")
    res = gate([], tmp_path)
    assert res.exit_code == 0, res.stderr
    assert f"PASS        acme/good@{'a' * 40} (openscore.yaml:2)" in res.stderr


def test_failed_run_leaves_no_partial_output(project):
    res = gate(["good.json", "--format", f"sarif:{project}/out/x.sarif", "--policy", "absent.yaml"], project)
    assert res.exit_code == 2
    assert not (project / "out").exists()


def test_shipped_action_and_pre_commit_hooks_are_well_formed():
    root = Path(__file__).resolve().parents[1]
    action = yaml.safe_load((root / "action.yml").read_text())
    assert {"name", "description", "inputs", "runs"} <= set(action)
    assert {"policy", "sources", "formats", "allow-incomplete", "upload-sarif"} <= set(action["inputs"])
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    runs = " ".join(s.get("run", "") for s in steps)
    assert "pip install" in runs and "openscore gate" in runs
    for step in steps:
        assert "uses" in step or ("run" in step and step.get("shell") == "bash")

    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    verify = next(h for h in hooks if h["id"] == "openscore-verify")
    assert verify["entry"].startswith("openscore verify --offline")
    assert verify["pass_filenames"] is False and verify["language"] == "python"
    import re

    assert re.search(verify["files"], "openscore.lock") and re.search(verify["files"], "openscore.yaml")
    assert not re.search(verify["files"], "README.md")


def test_a_hostile_checkpoint_fails_the_gate_rather_than_crashing_it(tmp_path):
    model = tmp_path / "hostile"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    header = b'{"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}}'
    (model / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 16)
    write_policy(tmp_path, "licence:\n  forbid_unknown: true\n")
    res = gate([str(model), "--format", "junit"], tmp_path)
    assert res.exit_code == 1, res.stderr
    assert "gate.audit" in res.stderr and "the audit rejected the checkpoint" in res.stderr
    assert ET.fromstring(res.stdout).find("testsuite/testcase[@name='gate.audit']/failure") is not None


def test_gate_with_a_lock_checks_the_audited_files_and_points_at_the_lock(tmp_path):
    import shutil

    from openscore.samples import materialize

    model = tmp_path / "tiny"
    shutil.copytree(materialize("tiny-llama"), model, ignore=shutil.ignore_patterns(".complete"))
    with contextlib.chdir(tmp_path):
        assert CliRunner().invoke(cli, ["lock", "tiny"], catch_exceptions=False).exit_code == 0
    write_policy(tmp_path, "provenance:\n  require_safetensors: true\n")
    args = ["tiny", "--lock", "openscore.lock", "--format", "sarif:gate.sarif", "--format", "json:gate.json"]
    res = gate(args, tmp_path)
    assert res.exit_code == 0, res.stderr
    lock_line = next(i for i, line in enumerate((tmp_path / "openscore.lock").read_text().splitlines(), 1)
                     if '"source": "tiny"' in line)
    assert "PASS        local/tiny@" in res.stderr and f"(openscore.lock:{lock_line})" in res.stderr
    checks = {c["rule"]: c for c in json.loads((tmp_path / "gate.json").read_text())["models"][0]["checks"]}
    assert checks["lock.files"]["status"] == "pass" and checks["lock.files"]["file"] == "openscore.lock"

    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    res = gate(args, tmp_path)
    assert res.exit_code == 1, res.stderr
    assert "lock.files" in res.stderr and "model.safetensors: sha256" in res.stderr
    (result,) = json.loads((tmp_path / "gate.sarif").read_text())["runs"][0]["results"]
    assert result["ruleId"] == "lock.files"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "openscore.lock"}, "region": {"startLine": lock_line}}


def test_a_bare_hub_name_is_audited_at_the_revision_the_policy_pins(tmp_path, fake_hub):
    from openscore.samples import materialize

    repo = fake_hub.add_repo("acme/tiny", materialize("tiny-llama"))
    write_policy(tmp_path, "models:\n  - source: acme/tiny\n    revision: v1\nlicence:\n  forbid_unknown: true\n")
    args = ["--endpoint", fake_hub.endpoint, "--no-weights", "--format", "json"]
    res = gate(["acme/tiny", *args], tmp_path)
    assert res.exit_code == 3 and "v1" in res.stderr  # the pinned revision, not main, was asked for: it does not exist
    (tmp_path / "openscore.yaml").write_text(
        f"models:\n  - source: acme/tiny\n    revision: {repo.revisions['main'].sha}\nlicence:\n  forbid_unknown: true\n")
    res = gate(["acme/tiny", *args], tmp_path)
    assert res.exit_code == 0, res.stderr
    checks = {c["rule"]: c for c in json.loads(res.stdout)["models"][0]["checks"]}
    assert checks["policy.pinned-revision"]["status"] == "pass"
