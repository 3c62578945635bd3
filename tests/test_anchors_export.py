"""An audit report exported as an OSAI Index entry and as a MOT model file, through the library and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from openscore.anchors import mot, osai
from openscore.cli import cli
from openscore.report import AuditReport, Override
from openscore.rubrics import load_rubric


@pytest.fixture(scope="module")
def report() -> AuditReport:
    from openscore.audit import audit

    return audit("sample:tiny-llama", weights=False)


@pytest.fixture()
def report_file(report: AuditReport, tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text(report.to_json(), encoding="utf-8")
    return path


def test_osai_export_carries_grades_reasons_and_evidence_links(report: AuditReport):
    entry = osai.from_report(report)
    graded = {g.dimension: g for g in report.rubrics["osai-v3"].grades}
    exported = osai.grades(osai.parse(osai.dump(entry)))
    assert exported == {d: (g.grade if g.grade in ("open", "partial", "closed") else "n/a") for d, g in graded.items()}
    assert entry.cells["datasources_endmodel"].notes == graded["datasources_endmodel"].reason
    assert entry.cells["datasources_endmodel"].link == "https://huggingface.co/datasets/openscore/tiny-corpus"
    assert entry.system["endmodellicense"] == "Apache License 2.0"
    assert report.source.sha in entry.system["notes"]
    assert osai.total(entry) == pytest.approx(report.rubrics["osai-v3"].scores["osai-compatible"])


def test_a_reviewed_override_is_what_gets_exported(report: AuditReport):
    reviewed = report.model_copy(deep=True)
    grade = next(g for g in reviewed.rubrics["osai-v3"].grades if g.dimension == "paper")
    grade.override = Override(grade="open", reason="Accepted at FAccT", reviewer="ada", file="overrides/x.yaml")
    cell = osai.from_report(reviewed).cells["paper"]
    assert (cell.grade_class, cell.notes) == ("open", "Accepted at FAccT (reviewed by ada)")


def test_mot_export_classifies_like_the_audit(report: AuditReport, tmp_path: Path):
    path = tmp_path / "tiny.yml"
    path.write_text(mot.from_report(report), encoding="utf-8")
    model = mot.load(path)
    assert model.release.license["distribution"].name == "Apache-2.0"
    assert mot.classify(model).classification == report.rubrics["mof"].classification
    included = {g.dimension for g in report.rubrics["mof"].grades if g.grade in ("open", "partial")}
    assert set(mot.components(model, load_rubric("mof"))) == included


def test_cli_export_writes_both_formats(report_file: Path, tmp_path: Path):
    runner = CliRunner()
    shown = runner.invoke(cli, ["export", "osai", str(report_file)])
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.output)["system"]["name"] == "tiny-llama"
    target = tmp_path / "out" / "tiny.yml"
    written = runner.invoke(cli, ["export", "mot", str(report_file), "-o", str(target)])
    assert written.exit_code == 0, written.output
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["framework"]["name"] == "Model Openness Framework"


def test_cli_export_of_a_bad_report_is_one_line_and_writes_nothing(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1.0"}', encoding="utf-8")
    target = tmp_path / "never.yaml"
    result = CliRunner().invoke(cli, ["export", "osai", str(bad), "-o", str(target)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "openscore: error:" in result.output
    assert not target.exists()
