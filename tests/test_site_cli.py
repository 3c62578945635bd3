"""`openscore site build` end to end, including the default content audited on a fresh machine."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from openscore.cli import cli
from openscore.rubrics.loader import list_rubrics
from test_site_reports import write_fixture_reports


def test_build_from_reports(tmp_path):
    reports = write_fixture_reports(tmp_path / "reports")
    result = CliRunner().invoke(cli, ["site", "build", "--reports", str(reports), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    rubric_pages = len(list_rubrics())
    # pages: index, charts, lineage, compare, 7 models, one per rubric; files add 7 API documents, the index
    # JSON and CSV, 7 badges in SVG and JSON, 5 static files (one generated), the schema and the site marker
    pages = 4 + 7 + rubric_pages
    assert result.output.strip().endswith(f": 7 models, {pages} pages, {pages + 9 + 14 + 5 + 2} files")
    assert (tmp_path / "site/index.html").is_file()


def test_bad_input_is_one_line_and_a_usage_exit_code(tmp_path):
    reports = write_fixture_reports(tmp_path / "reports")
    (reports / "org/m").mkdir(parents=True)
    (reports / "org/m/x.json").write_text("{")
    result = CliRunner().invoke(cli, ["site", "build", "--reports", str(reports), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("openscore: error: ")
    assert not (tmp_path / "site").exists()
    typo = CliRunner().invoke(cli, ["site", "build", "--reports", str(tmp_path / "reprots"), "--out", str(tmp_path / "s")])
    assert typo.exit_code == 2 and "no such reports folder" in typo.output  # not a silent sample site
    unknown = CliRunner().invoke(cli, ["site", "build", "--reports", str(reports / "allenai"), "--rubric", "fmti", "--out", str(tmp_path / "s")])
    assert unknown.exit_code == 2 and "no report grades rubric 'fmti'" in unknown.output


def test_without_reports_the_embedded_samples_are_audited_and_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["site", "build"])
    assert result.exit_code == 0, result.output
    site = tmp_path / "_site"
    index = json.loads((site / "api/models.json").read_text())
    assert sorted(m["repo_id"].split("/")[-1] for m in index["models"]) == ["tiny-llama", "tiny-llama-shell"]
    shell = next(m for m in index["models"] if m["repo_id"].endswith("tiny-llama-shell"))
    assert shell["provenance"]["verdict"] == "renamed-copy"
    assert "renamed-copy" in (site / "lineage.html").read_text()


def test_with_realcards_the_real_cards_join_the_samples(tmp_path, realcards):
    picked = tmp_path / "cards"
    for name in ("HuggingFaceH4__zephyr-7b-beta", "tiiuae__falcon-7b"):
        shutil.copytree(realcards / name, picked / name)
    result = CliRunner().invoke(
        cli, ["site", "build", "--with-realcards", str(picked), "--out", str(tmp_path / "site")]
    )
    assert result.exit_code == 0, result.output
    models = json.loads((tmp_path / "site/api/models.json").read_text())["models"]
    assert len(models) == 4
    zephyr = next(m for m in models if "zephyr" in m["repo_id"])
    assert zephyr["provenance"] is None and zephyr["declared_bases"] == ["mistralai/Mistral-7B-v0.1"]
    assert "mistralai/Mistral-7B-v0.1" in (tmp_path / "site/lineage.html").read_text()


def test_with_realcards_and_ids_the_cards_join_their_declared_bases(tmp_path, realcards):
    picked = tmp_path / "cards"
    for name in ("HuggingFaceH4__zephyr-7b-beta", "mistralai__Mistral-7B-v0.1"):
        shutil.copytree(realcards / name, picked / name)
    ids = tmp_path / "cards.list"
    ids.write_text("# folder, then the Hub id it stands for\n"
                   "cards/HuggingFaceH4__zephyr-7b-beta HuggingFaceH4/zephyr-7b-beta\n"
                   "cards/mistralai__Mistral-7B-v0.1 mistralai/Mistral-7B-v0.1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["site", "build", "--with-realcards", str(picked), "--ids", str(ids),
                                      "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    models = {m["repo_id"] for m in json.loads((tmp_path / "site/api/models.json").read_text())["models"]}
    assert {"HuggingFaceH4/zephyr-7b-beta", "mistralai/Mistral-7B-v0.1"} <= models
    assert not any(m.startswith("local/") for m in models)  # without --ids they would be local/<folder>
