"""`openscore licence identify|resolve` through the real Click group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.samples import __file__ as samples_init

SAMPLES = Path(samples_init).parent


def test_identify_prints_one_line_per_file(tmp_path: Path):
    policy = tmp_path / "USE_POLICY.md"
    policy.write_text("intro\n# Llama 2 Acceptable Use Policy\nYou agree ...\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["licence", "identify", str(SAMPLES / "tiny-llama" / "LICENSE"), str(policy)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{SAMPLES / 'tiny-llama' / 'LICENSE'}: Apache-2.0 (confidence 1.00, spdx-text line 2)",
        f"{policy}: llama2 (confidence 0.90, fingerprint:title line 2)",
    ]


def test_identify_json_and_unknown(tmp_path: Path):
    odd = tmp_path / "LICENSE"
    odd.write_bytes(b"\xff\xfe all rights reserved, ask us \x00")
    result = CliRunner().invoke(cli, ["licence", "identify", "--json", str(odd)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[str(odd)] == {
        "id": "unknown", "confidence": 0.0, "method": "none", "line": None, "snippet": None}


def test_identify_a_missing_file_is_a_one_line_error(tmp_path: Path):
    result = CliRunner().invoke(cli, ["licence", "identify", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.startswith("openscore: error: ") and result.output.count("\n") == 1


def test_resolve_prints_the_facts():
    result = CliRunner().invoke(cli, ["licence", "resolve", "other", "--name", "gemma-terms-of-use"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert (facts["id"], facts["open"], facts["use_policy_passes_down"]) == ("gemma", False, True)


@pytest.mark.parametrize(("args", "message"), [
    (["foo-bar"], "unknown licence (id 'foo-bar'): not a Hub licence id"),
    (["other", "--name", "our own terms"], "unknown licence (id 'other', --name 'our own terms')"),
    ([], "nothing to resolve: give LICENSE_ID"),
])
def test_resolve_an_unknown_licence_exits_2_with_nothing_on_stdout(args, message):
    result = CliRunner().invoke(cli, ["licence", "resolve", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"openscore: error: {result.stderr.removeprefix('openscore: error: ')}"
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_license_is_an_alias_of_licence_not_listed_in_help():
    us = CliRunner().invoke(cli, ["license", "resolve", "mit"])
    assert us.exit_code == 0, us.output
    assert us.stdout == CliRunner().invoke(cli, ["licence", "resolve", "mit"]).stdout
    assert json.loads(us.stdout)["id"] == "MIT"
    listed = CliRunner().invoke(cli, ["--help"]).stdout
    assert "  licence " in listed and "  license " not in listed
