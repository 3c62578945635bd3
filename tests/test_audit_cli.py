"""`openscore audit` end to end: the offline sample run, output formats, and typed failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.report import AuditReport
from tests import checkpoint_builders as build
from tests.test_audit import assert_every_grade_is_evidenced


def _run(args: list[str], cwd: Path):
    """Run `openscore audit ARGS` in `cwd`: (result, report paths under reports/, out.* files)."""
    reports = cwd / "reports"
    args = [a if not a.startswith("out.") else str(cwd / a) for a in args]
    result = CliRunner().invoke(cli, ["audit", "--reports", str(reports), *args], catch_exceptions=False)
    written = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*.json")) if reports.is_dir() else []
    outputs = {p.name: p.read_text() for p in cwd.glob("out.*")}
    return result, written, outputs


@pytest.mark.slow
def test_no_source_audits_the_embedded_samples_offline(tmp_path):
    result, written, _ = _run([], tmp_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "openscore-samples/tiny-llama-shell@" in out
    assert "provenance: renamed-copy of openscore-samples/tiny-llama" in out
    assert "licence-laundering: the weights are a renamed-copy of openscore-samples/tiny-llama (Apache-2.0)" in out
    assert "base-mismatch" in out
    assert {w.rsplit("/", 1)[0] for w in written} == {"openscore-samples/tiny-llama", "openscore-samples/tiny-llama-shell"}
    for path in written:
        assert_every_grade_is_evidenced(AuditReport.model_validate_json((tmp_path / "reports" / path).read_text()))
    assert "grading" in result.stderr  # progress goes to stderr


def test_json_and_cyclonedx_outputs(tmp_path, realcards):
    card = str(realcards / "EleutherAI__pythia-6.9b")
    result, written, outputs = _run([card, "--no-weights", "--format", "json", "-o", "out.json"], tmp_path)
    assert result.exit_code == 0 and result.stdout == ""
    report = json.loads(outputs["out.json"])
    assert f"local/EleutherAI__pythia-6.9b/{report['source']['sha']}.json" in written
    result, _, outputs = _run([card, "--no-weights", "--rubric", "osai-v3", "--format", "cyclonedx", "-o", "out.cdx"],
                              tmp_path)
    assert result.exit_code == 0
    bom = json.loads(outputs["out.cdx"])
    assert bom["specVersion"] == "1.6" and bom["metadata"]["component"]["type"] == "machine-learning-model"


def test_one_output_file_takes_one_source(tmp_path, realcards):
    result, written, _ = _run([str(realcards / "microsoft__phi-2"), str(realcards / "microsoft__phi-2"),
                               "--format", "json", "-o", "out.json"], tmp_path)
    assert result.exit_code == 2 and "takes one SRC" in result.stderr and written == []


def test_hostile_safetensors_exits_typed_and_writes_nothing(tmp_path):
    model = tmp_path / "hostile"
    build.raw_safetensors(model / "model.safetensors", b'{"w": {"dtype": "F32", "shape": [4], ', header_len=10**12)
    (model / "README.md").write_text("---\nlicense: mit\n---\n# x\n")
    result, written, _ = _run([str(model)], tmp_path)
    assert result.exit_code == 20
    assert result.stderr.strip().splitlines()[-1].startswith("openscore: error: ")
    assert written == []


def test_unsafe_pickle_is_reported_then_exits_21_without_loading_it(tmp_path):
    model = tmp_path / "evil"
    marker = tmp_path / "pwned"
    build.malicious_pickle(model / "pytorch_model.bin", marker)
    build.write_config(model)
    result, written, _ = _run([str(model)], tmp_path)
    assert result.exit_code == 21 and "dangerous" in result.stderr
    assert not marker.exists()
    assert len(written) == 1 and written[0].startswith("local/evil/")
    assert "unsafe-pickle" in result.stdout


def test_unknown_rubric_is_a_usage_error_before_any_work(tmp_path):
    result, written, _ = _run(["sample:tiny-llama", "--rubric", "osai-v9"], tmp_path)
    assert result.exit_code == 2 and "unknown rubric 'osai-v9'" in result.stderr
    assert written == [] and "reading checkpoint headers" not in result.stderr


def test_hub_source_through_the_cli(fake_hub, realcards, tmp_path):
    fake_hub.add_repo("tiiuae/falcon-7b", realcards / "tiiuae__falcon-7b")
    result, written, _ = _run(["tiiuae/falcon-7b", "--endpoint", fake_hub.endpoint, "--no-weights"], tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("tiiuae/falcon-7b@") and "(hub)" in result.stdout.splitlines()[0]
    sha = fake_hub.repos["tiiuae/falcon-7b"].revisions["main"].sha
    assert written == [f"tiiuae/falcon-7b/{sha}.json"]
