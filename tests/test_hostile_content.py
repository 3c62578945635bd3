"""Faulty content read back or named by the user: reports, lock files, waiver dates, long names, and a
gate run where one model cannot be audited. Each is one line and a documented exit code, or (the gate)
an isolated failure under rule gate.audit."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import ConfigError, InvalidReport
from openscore.report import load_report
from test_gate import make_report, save
from test_gate_cli import gate, project  # noqa: F401 - the fixture

LONG = "x" * 300


def run(args: list[str], cwd: Path):
    with contextlib.chdir(cwd):
        return CliRunner().invoke(cli, args, catch_exceptions=False)


def _report_doc() -> dict:
    return json.loads(make_report("acme/good").to_json())


def _set_score(doc: dict, value) -> dict:
    rubric = next(iter(doc["rubrics"].values()))
    rubric["scores"][next(iter(rubric["scores"]))] = value
    return doc


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


#: name -> (report text, the message it is refused with)
BAD_REPORTS = {
    "NaN score": (json.dumps(_set_score(_report_doc(), float("nan"))), "not JSON: NaN is not JSON"),
    "Infinity score": (json.dumps(_set_score(_report_doc(), float("inf"))), "not JSON: Infinity is not JSON"),
    "score 7.5": (json.dumps(_set_score(_report_doc(), 7.5)), "Input should be less than or equal to 1"),
    "negative score": (json.dumps(_set_score(_report_doc(), -0.5)), "Input should be greater than or equal to 0"),
    "score as a string": (json.dumps(_set_score(_report_doc(), "0.5")), "Input should be a valid number"),
    "unknown field": (json.dumps({**_report_doc(), "exec": "rm -rf /"}), "invalid report at exec: Extra inputs"),
    "wrong type": (json.dumps({**_report_doc(), "findings": {"a": 1}}), "invalid report at findings: Input should be"),
    "duplicate key": ('{"schema_version": "1.0", "tool": "a", "tool": "b"}', "not JSON: duplicate key 'tool'"),
    "deeply nested": (json.dumps({**_report_doc(), "layout": _nested(100)}), "nested deeper than 32 levels"),
    "nested past the recursion limit": ('{"a":' + "[" * 100_000 + "]" * 100_000 + "}", "not JSON: nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_a_faulty_report_is_refused_in_one_line(tmp_path, case):
    text, message = BAD_REPORTS[case]
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(InvalidReport, match=message) as caught:
        load_report(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_export_and_site_refuse_a_faulty_report_with_exit_2(tmp_path):
    reports = tmp_path / "reports" / "acme" / "good"
    reports.mkdir(parents=True)
    (reports / "r.json").write_text(BAD_REPORTS["score 7.5"][0])
    for args in (["export", "osai", str(reports / "r.json")],
                 ["site", "build", "--reports", str(tmp_path / "reports"), "--out", str(tmp_path / "site")]):
        res = run(args, tmp_path)
        assert res.exit_code == 2, res.output
        assert res.stderr.count("\n") == 1 and "less than or equal to 1" in res.stderr
    assert not (tmp_path / "site").exists()


def test_a_valid_report_still_loads(tmp_path):
    path = Path(save(tmp_path, make_report("acme/good"), "r.json"))
    assert load_report(path).source.repo_id == "acme/good"


# --- gate isolation -------------------------------------------------------------------------------

FORMATS = {"json": "gate.json", "sarif": "gate.sarif", "junit": "junit.xml", "markdown": "summary.md",
           "github": "annotations.txt"}


def test_one_model_that_cannot_be_audited_fails_gate_audit_and_the_others_are_still_gated(project):  # noqa: F811
    (project / "broken.json").write_text(BAD_REPORTS["NaN score"][0])
    args = ["good.json", "broken.json", "bad.json", "--today", "2026-12-01"]
    args += [f"--format={name}:{path}" for name, path in FORMATS.items()]
    res = gate(args, project)
    assert res.exit_code == 1, res.stderr  # bad.json still violates the policy: it was gated
    doc = json.loads((project / "gate.json").read_text())
    by_source = {m["source"]: m for m in doc["models"]}
    assert [by_source[s]["status"] for s in ("good.json", "broken.json", "bad.json")] == \
        ["pass", "unevaluated", "fail"]
    assert by_source["broken.json"]["error_rule"] == "gate.audit"
    assert "NaN is not JSON" in by_source["broken.json"]["error"]
    for name, path in FORMATS.items():  # every output written, naming every model
        text = (project / path).read_text()
        assert "gate.audit" in text, name
        assert "acme/good" in text or name in ("github",), name


def test_an_unauditable_model_alone_is_exit_3_or_allowed(project):  # noqa: F811
    (project / "broken.json").write_text(BAD_REPORTS["score 7.5"][0])
    res = gate(["good.json", "broken.json", "--format=sarif:out.sarif"], project)
    assert res.exit_code == 3, res.stderr
    sarif = json.loads((project / "out.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["gate.audit"]
    assert gate(["good.json", "broken.json", "--allow-incomplete"], project).exit_code == 0


def test_an_unexpected_error_in_one_audit_is_isolated(tmp_path, monkeypatch):
    from openscore.gate import engine, load_policy
    from test_gate import write_policy

    good = save(tmp_path, make_report("acme/good"), "good.json")
    real = engine._obtain_report

    def crash_on_samples(spec, run):
        if spec.startswith("sample:"):
            raise RuntimeError("boom\nsecond line")
        return real(spec, run)

    monkeypatch.setattr(engine, "_obtain_report", crash_on_samples)
    policy = load_policy(write_policy(tmp_path, "version: 1\nlicence:\n  forbid_unknown: true\n"))
    result = engine.run_gate(policy, ["sample:tiny-llama", good])
    crashed, passed = result.models
    assert (crashed.status, crashed.error_rule, passed.status) == ("unevaluated", "gate.audit", "pass")
    assert crashed.error == "the audit failed unexpectedly: RuntimeError: boom second line"
    assert result.exit_code == 3


def test_a_source_that_names_nothing_is_refused_before_any_audit(project):  # noqa: F811
    res = gate(["good.json", "no such thing!", "--format=json:out.json"], project)
    assert res.exit_code == 2
    assert res.stderr.strip() == ("openscore: error: 'no such thing!' is neither a saved report (.json), nor an "
                                  "existing folder, nor `sample:<name>`, nor a Hub repo id `org/name[@revision]`")


# --- lock files -----------------------------------------------------------------------------------

def _lock(tmp_path: Path, model_path, file_path: str = "model.safetensors") -> Path:
    entry = {"source": "m", "kind": "local", "repo_id": "local/m", "sha": "0" * 64, "path": model_path,
             "files": [{"path": file_path, "size": 1, "sha256": "0" * 64}]}
    lock = tmp_path / "proj" / "openscore.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"lock_version": 1, "models": [entry]}, indent=2))
    return lock


@pytest.mark.parametrize(("model_path", "file_path", "key"), [
    ("../../..", "model.safetensors", "models.0.path"),
    ("/etc", "model.safetensors", "models.0.path"),
    ("sub/../..", "model.safetensors", "models.0.path"),
    ("sub", "../../etc/passwd", "models.0.files.0.path"),
    ("sub", "/etc/passwd", "models.0.files.0.path"),
])
def test_lock_paths_outside_the_lock_folder_are_refused(tmp_path, model_path, file_path, key):
    lock = _lock(tmp_path, model_path, file_path)
    res = run(["verify", "--offline", "--lock", str(lock)], tmp_path)
    assert res.exit_code == 2, res.output
    assert f"invalid lock file: {key}: Value error, " in res.stderr and "is not a relative path inside" in res.stderr
    assert res.stderr.count("\n") == 1


def test_a_lock_path_that_escapes_through_a_symlink_is_refused(tmp_path):
    from openscore.lock import verify

    lock = _lock(tmp_path, "link")
    os.symlink(tmp_path.parent, lock.parent / "link")
    with pytest.raises(ConfigError, match=r"openscore\.lock:\d+: path 'link' resolves outside the lock file's folder"):
        verify(lock, offline=True)


def test_a_folder_outside_the_lock_folder_is_locked_without_a_path_and_verified_as_dir(tmp_path):
    from openscore.lock import lock_sources, verify
    from tests import checkpoint_builders as build

    build.single_safetensors(tmp_path / "models" / "m")
    lock = tmp_path / "proj" / "openscore.lock"
    lock.parent.mkdir()
    (entry,) = lock_sources([str(tmp_path / "models" / "m")], lock).models
    assert entry.path is None
    (skipped,) = verify(lock, offline=True)
    assert skipped.status == "skipped" and "name it as DIR" in skipped.note
    (checked,) = verify(lock, [str(tmp_path / "models" / "m")], offline=True)
    assert checked.status == "ok"


# --- waiver dates and long names ------------------------------------------------------------------

def test_a_waiver_date_that_is_no_date_is_a_config_error_at_its_line(tmp_path):
    (tmp_path / "openscore.yaml").write_text(
        "version: 1\nmodels: [sample:tiny-llama]\nwaivers:\n  - model: x\n    rules: [gate.audit]\n"
        "    reason: r\n    expires: 2027-13-45\n")
    res = run(["gate"], tmp_path)
    assert res.exit_code == 2
    assert res.stderr == ("openscore: error: openscore.yaml:7: invalid YAML: '2027-13-45' is not a valid date "
                          "(month must be in 1..12)\n")


@pytest.mark.parametrize("args", [["audit", LONG], ["inspect", f"./{LONG}/x"], ["audit", "sample:tiny-llama",
                                  "--no-weights", "--reports", LONG]])
def test_a_path_component_over_255_bytes_is_a_usage_error(tmp_path, args):
    res = run(args, tmp_path)
    assert res.exit_code == 2, res.output
    error = res.stderr.splitlines()[-1]  # after the progress lines
    assert error.startswith("openscore: error: ") and "255" in error and "Traceback" not in res.stderr


# --- lookups by name (linear gating) --------------------------------------------------------------

def test_waivers_are_found_by_exact_name_and_pattern_in_policy_order():
    from openscore.gate.lookup import WaiverIndex

    index = WaiverIndex([("acme/*", "w0"), ("Acme/M", "w1"), ("other/m", "w2"), ("a?me/m", "w3"), ("acme/m", "w4")])
    assert index.for_names({"acme/m", "./acme/m"}) == [(0, "w0"), (1, "w1"), (3, "w3"), (4, "w4")]
    assert index.for_names({"nobody/x"}) == []


def test_entries_are_found_by_id_case_insensitively_by_resolved_path_and_by_exact_key(tmp_path):
    from openscore.gate.lookup import NameIndex

    (tmp_path / "models" / "m").mkdir(parents=True)
    index = NameIndex([(["Org/Name@v1", "Org/Name"], [], "hub"), ([str(tmp_path / "models" / "m")], [], "folder"),
                       (["x"], ["repo/exact"], "exact"), (["org/name"], [], "later")])
    assert index.find(["org/name"]) == "hub"  # the first entry in policy order wins
    assert index.find([str(tmp_path / "models" / ".." / "models" / "m")]) == "folder"
    assert index.find(["nothing"], ["repo/exact"]) == "exact"
    assert index.find(["nothing"], ["Repo/Exact"]) is None  # exact keys are exact
