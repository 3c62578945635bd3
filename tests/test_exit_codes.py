"""The README's exit-code table is complete and true: every code openscore defines is listed, every
listed code is defined, and each is reached by a real command line."""

from __future__ import annotations

import contextlib
import inspect
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore import errors
from openscore.cli import cli
from openscore.gate.result import EXIT_INCOMPLETE, EXIT_PASS, EXIT_VIOLATION
from tests import checkpoint_builders as build

README = Path(__file__).resolve().parents[1] / "README.md"
#: codes the CLI itself returns outside OpenscoreError: success, verify's "files differ", click's usage errors
CLI_CODES = {0, 1, 2}


def readme_table() -> dict[int, tuple[str, str]]:
    """code -> (meaning, returned by), from the README's exit-code table."""
    text = README.read_text()
    section = text[text.index("## Exit codes"):]
    section = section[: section.index("\n## ", 3)]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| (.+?) \|$", section, re.MULTILINE)
    return {int(code): (meaning, by) for code, meaning, by in rows}


def defined_codes() -> set[int]:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.OpenscoreError)]
    return {c.exit_code for c in classes} | {EXIT_PASS, EXIT_VIOLATION, EXIT_INCOMPLETE} | CLI_CODES


def test_the_readme_table_lists_exactly_the_codes_openscore_defines():
    table = readme_table()
    assert sorted(table) == sorted(set(table)), "a code is listed twice"
    assert set(table) == defined_codes()


def test_the_errors_module_docstring_agrees_with_the_readme():
    listed = {int(c) for c in re.findall(r"\b(\d{1,2})\s{2,}", errors.__doc__)}
    assert listed == {c for c in readme_table() if c >= 10} | {2, 4}


def _run(args: list[str], cwd: Path, env: dict | None = None):
    with contextlib.chdir(cwd):
        return CliRunner().invoke(cli, args, env={"OPENSCORE_HUB_TRIES": "1", "OPENSCORE_HUB_MAX_WAIT": "0",
                                                  **(env or {})}, catch_exceptions=False)


def _gate_project(tmp_path: Path, report: str) -> list[str]:
    from test_gate import make_report, save

    (tmp_path / "openscore.yaml").write_text("version: 1\nlicence:\n  deny: [apache-2.0]\n")
    save(tmp_path, make_report("acme/m"), "m.json")
    if report == "broken":
        (tmp_path / "m.json").write_text('{"schema_version": "1.0"}')
    return ["gate", "m.json"]


def _hub(fake_hub, tmp_path: Path, how: str) -> tuple[list[str], dict]:
    build.single_safetensors(tmp_path / "repo")
    fake_hub.add_repo("org/m", tmp_path / "repo", gated="manual" if how == "gated" else None)
    env = {"HF_ENDPOINT": fake_hub.endpoint, "HF_TOKEN": ""}
    spec = {"missing": "org/none", "revision": "org/m@nope"}.get(how, "org/m")
    if how == "ratelimit":
        fake_hub.rate_limit_next(100, reset=3600)
    if how == "offline":
        env["HF_HUB_OFFLINE"] = "1"
    if how == "server-error":
        fake_hub.fail_next(100, 500)
    return ["inspect", spec], env


def _verify_differs(tmp_path: Path) -> list[str]:
    build.single_safetensors(tmp_path / "m")
    assert _run(["lock", "m"], tmp_path).exit_code == 0
    (tmp_path / "m" / "config.json").write_text("{}")
    return ["verify", "--offline"]


#: code -> a command line that returns it (with the fake Hub where a Hub answer is needed)
SCENARIOS = {
    0: lambda tmp, hub: (["inspect", "sample:tiny-llama"], {}),
    1: lambda tmp, hub: (_gate_project(tmp, "good"), {}),
    "1-verify": lambda tmp, hub: (_verify_differs(tmp), {}),
    2: lambda tmp, hub: (["audit", "--no-such-option"], {}),
    3: lambda tmp, hub: (_gate_project(tmp, "broken"), {}),
    4: lambda tmp, hub: (["audit", "--no-weights", "org/none", "sample:tiny-llama"], {"HF_ENDPOINT": hub.endpoint}),
    10: lambda tmp, hub: _hub(hub, tmp, "missing"),
    11: lambda tmp, hub: _hub(hub, tmp, "revision"),
    12: lambda tmp, hub: _hub(hub, tmp, "gated"),
    13: lambda tmp, hub: _hub(hub, tmp, "ratelimit"),
    14: lambda tmp, hub: _hub(hub, tmp, "offline"),
    17: lambda tmp, hub: _hub(hub, tmp, "server-error"),
    20: lambda tmp, hub: (build.raw_safetensors(tmp / "h" / "model.safetensors", b"{}", header_len=10**12)
                          and ["inspect", "h"], {}),
    21: lambda tmp, hub: (build.malicious_pickle(tmp / "p" / "pytorch_model.bin", tmp / "pwned")
                          and ["inspect", "p"], {}),
    22: lambda tmp, hub: ((tmp / "e").mkdir() or (tmp / "e" / "README.md").write_text("# x\n")) and (["inspect", "e"], {}),
}
#: codes whose command lines are exercised elsewhere: 15 needs a file deleted between listing and reading
#: (tests/test_sources_hub.py::test_missing_file); 16 and 18 need hostile or slow Hub answers (the tests of
#: openscore/sources/hub.py that validate every Hub field, and its deadlines)
REACHED_ELSEWHERE = {15, 16, 18}


def test_every_listed_code_has_a_scenario():
    covered = {int(str(k).split("-")[0]) for k in SCENARIOS} | REACHED_ELSEWHERE
    assert covered == set(readme_table())


@pytest.mark.parametrize("case", list(SCENARIOS), ids=str)
def test_each_code_is_reached_with_a_one_line_error(tmp_path, fake_hub, case):
    args, env = SCENARIOS[case](tmp_path, fake_hub)
    res = _run(args, tmp_path, env)
    code = int(str(case).split("-")[0])
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    if code >= 10 or code == 2:
        assert res.stderr.splitlines()[-1].startswith(("openscore: error: ", "Error: ")), res.stderr


def _locked_missing_hub_repo(tmp: Path) -> list[str]:
    import json

    entry = {"source": "org/none", "kind": "hub", "repo_id": "org/none", "revision": "main", "sha": "0" * 40,
             "files": []}
    (tmp / "openscore.lock").write_text(json.dumps({"lock_version": 1, "models": [entry]}))
    return ["verify"]


#: every source command, on a repository the Hub does not have (10)
MISSING_REPO = {
    "inspect": lambda tmp: ["inspect", "org/none"],
    "fingerprint": lambda tmp: ["fingerprint", "org/none", "-o", "out.osfp"],
    "compare": lambda tmp: ["compare", "org/none", "org/none"],
    "audit": lambda tmp: ["audit", "org/none"],
    "lock": lambda tmp: ["lock", "org/none"],
    "verify": _locked_missing_hub_repo,
}
#: every checkpoint command, on a hostile safetensors file (20)
HOSTILE = {
    "inspect": ["inspect", "h"],
    "fingerprint": ["fingerprint", "h", "-o", "out.osfp"],
    "compare": ["compare", "h", "h"],
    "audit": ["audit", "h", "--reports", "out"],
}


@pytest.mark.parametrize("command", list(MISSING_REPO))
def test_every_source_command_returns_10_for_a_missing_repository(tmp_path, fake_hub, command):
    res = _run(MISSING_REPO[command](tmp_path), tmp_path, {"HF_ENDPOINT": fake_hub.endpoint, "HF_TOKEN": ""})
    assert res.exit_code == 10, res.output
    assert res.stderr.splitlines()[-1].startswith("openscore: error: ")
    assert not (tmp_path / "openscore.lock").exists() or command == "verify"


@pytest.mark.parametrize("command", list(HOSTILE))
def test_every_checkpoint_command_returns_20_for_a_hostile_checkpoint(tmp_path, command):
    build.raw_safetensors(tmp_path / "h" / "model.safetensors", b"{}", header_len=10**12)
    res = _run(HOSTILE[command], tmp_path)
    assert res.exit_code == 20, res.output
    assert res.stderr.splitlines()[-1].startswith("openscore: error: h") or "model.safetensors" in res.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "h")]
    assert written == []  # no report, no fingerprint, no run state (a one-model run keeps none)
