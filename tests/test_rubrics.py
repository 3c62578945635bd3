"""Rubric files: validation, shipped schema, scoring profiles, OSAID verdicts and MOF classification."""

from __future__ import annotations

import json
import shutil

import pytest

from openscore.errors import ConfigError, UsageError
from openscore.resources import PROJECT_ROOT, rubrics_dir
from openscore.rubrics import (
    ComponentStatus, classify_mof, evaluate_osaid, list_rubrics, load_rubric, rubric_json_schema, score,
)
from openscore.rubrics.loader import SCHEMA_FILE

OSAI_V3_KEYS = [
    "datasources_basemodel", "datasources_endmodel", "weights_basemodel", "weights_endmodel", "trainingcode", "code",
    "hardware_architecture", "preprint", "paper", "modelcard", "datasheet", "licenses",
]
MOF_IDS = {
    "datasets", "data-preprocessing-code", "model-architecture", "model-parameters-final", "model-metadata",
    "model-parameters-intermediate", "training-code", "inference-code", "evaluation-code", "evaluation-data",
    "evaluation-results", "supporting-libraries-and-tools", "model-card", "data-card", "technical-report",
    "research-paper", "sample-model-outputs",
}


def test_shipped_rubrics_load_and_have_the_framework_dimensions():
    assert list_rubrics() == ["mof", "osai-v1", "osai-v3", "osaid"]
    v3 = load_rubric("osai-v3")
    assert v3.dimension_ids == OSAI_V3_KEYS
    assert v3.default_profile == "osai-compatible"
    assert "https://osai-index.eu" in v3.attribution.text and v3.attribution.doi == "10.5281/zenodo.15386042"
    assert "FAccT" in v3.attribution.citation and v3.attribution.licence == "CC-BY-4.0"
    assert len(load_rubric("osai-v1").dimensions) == 14
    mof = load_rubric("mof")
    assert set(mof.dimension_ids) == MOF_IDS
    assert sorted(d.id for d in mof.dimensions if not d.required) == [
        "model-metadata", "sample-model-outputs", "supporting-libraries-and-tools"]
    assert [sum(1 for d in mof.dimensions if d.required and d.mof_class == c) for c in (3, 2, 1)] == [6, 4, 4]
    assert mof.dimension("model-parameters-final").content_type == "data"
    assert mof.dimension("research-paper").replaces == "technical-report"
    assert load_rubric("osaid").dimension_ids == ["data-information", "code", "parameters", "osi-approved-terms"]


def test_shipped_json_schema_equals_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == rubric_json_schema()
    schema = json.loads(rubric_json_schema())
    assert "dimensions" in schema["required"]


def test_the_rubric_docs_name_every_shipped_rubric_and_dimension():
    docs = (PROJECT_ROOT / "docs" / "rubrics.md").read_text(encoding="utf-8")
    for rubric_id in list_rubrics():
        rubric = load_rubric(rubric_id)
        assert f"`{rubric_id}`" in docs
        if rubric.kind != "mof":
            assert all(f"`{dim}`" in docs for dim in rubric.dimension_ids), rubric_id


def test_every_shipped_rubric_validates_against_the_json_schema():
    import jsonschema
    import yaml

    schema = json.loads(rubric_json_schema())
    for path in sorted(rubrics_dir().glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def _broken_copy(tmp_path, monkeypatch, old: str, new: str) -> tuple[str, int]:
    folder = tmp_path / "rubrics"
    folder.mkdir()
    text = (rubrics_dir() / "osai-v3.yaml").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    target = folder / "osai-v3.yaml"
    target.write_text(text, encoding="utf-8")
    monkeypatch.setenv("OPENSCORE_RUBRICS_DIR", str(folder))
    line = text[: text.index(new)].count("\n") + 1
    return str(target), line


def test_an_invalid_value_is_reported_at_its_line(tmp_path, monkeypatch):
    path, line = _broken_copy(tmp_path, monkeypatch, "    title: Hardware Architecture\n",
                              "    title: Hardware Architecture\n    weight: -2\n")
    with pytest.raises(ConfigError) as err:
        load_rubric("osai-v3")
    message = str(err.value)
    assert message.startswith(f"{path}:{line + 1}: dimensions.6.weight:"), message
    assert "greater than or equal to 0" in message


def test_a_misspelt_key_is_reported_at_its_line_with_a_suggestion(tmp_path, monkeypatch):
    path, line = _broken_copy(tmp_path, monkeypatch, "    group: documentation\n", "    gruop: documentation\n")
    with pytest.raises(ConfigError) as err:
        load_rubric("osai-v3")
    assert str(err.value).startswith(f"{path}:{line}: unknown key 'gruop' (did you mean 'group'?)")


def test_duplicate_dimension_ids_and_a_wrong_file_name_are_refused(tmp_path, monkeypatch):
    _broken_copy(tmp_path, monkeypatch, "  - id: datasources_endmodel\n", "  - id: datasources_basemodel\n")
    with pytest.raises(ConfigError, match="duplicate dimension ids: datasources_basemodel"):
        load_rubric("osai-v3")
    folder = tmp_path / "rubrics"
    shutil.copy(PROJECT_ROOT / "rubrics" / "osaid.yaml", folder / "other-name.yaml")
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_rubric("other-name")
    with pytest.raises(UsageError, match="unknown rubric 'nope'"):
        load_rubric("nope")


def test_a_profile_naming_a_dimension_the_rubric_lacks_is_refused(tmp_path, monkeypatch):
    _broken_copy(tmp_path, monkeypatch, "    min_open_parts: {licenses: 2}\n", "    min_open_parts: {licences: 2}\n")
    with pytest.raises(ConfigError, match="profile 'strict' names unknown dimensions: licences"):
        load_rubric("osai-v3")


def test_profiles_differ_only_in_how_na_counts():
    rubric = load_rubric("osai-v3")
    grades = dict.fromkeys(OSAI_V3_KEYS, "open")
    grades.update(paper="n/a", datasheet="n/a", preprint="partial", licenses="closed")
    # OSAI site: N/A stays in the denominator as 0 -> (8 + 0.5) / 12
    assert score(rubric, grades) == pytest.approx(8.5 / 12)
    # strict: N/A leaves the denominator -> (8 + 0.5) / 10
    assert score(rubric, grades, "strict") == pytest.approx(8.5 / 10)
    # unknown counts 0 in both, and an absent dimension is unknown
    del grades["code"]
    assert score(rubric, grades, "strict") == pytest.approx(7.5 / 10)
    assert score(rubric, dict.fromkeys(OSAI_V3_KEYS, "n/a"), "strict") is None
    assert score(rubric, dict.fromkeys(OSAI_V3_KEYS, "n/a")) == 0.0


def test_score_refuses_unknown_dimensions_grades_and_profiles():
    rubric = load_rubric("osai-v3")
    with pytest.raises(UsageError, match="no dimension 'model-card'"):
        score(rubric, {"model-card": "open"})
    with pytest.raises(UsageError, match="invalid grade modelcard='half'"):
        score(rubric, {"modelcard": "half"})
    with pytest.raises(UsageError, match="no scoring profile 'lenient'"):
        score(rubric, {}, "lenient")


def test_osaid_passes_only_when_every_requirement_is_open():
    rubric = load_rubric("osaid")
    everything = dict.fromkeys(rubric.dimension_ids, "open")
    assert evaluate_osaid(rubric, everything) == ("pass", [])
    assert evaluate_osaid(rubric, {**everything, "code": "partial", "osi-approved-terms": "closed"}) == (
        "fail", ["code", "osi-approved-terms"])
    assert evaluate_osaid(rubric, {"parameters": "open"}) == ("fail", ["data-information", "code", "osi-approved-terms"])
    with pytest.raises(UsageError, match="rubric osai-v3 is a graded rubric, not an OSAID rubric"):
        evaluate_osaid(load_rubric("osai-v3"), {})


def _mof_release(licence: str | None, **overrides: ComponentStatus) -> dict[str, ComponentStatus]:
    rubric = load_rubric("mof")
    components = {d.id: ComponentStatus(included=True, licence=licence) for d in rubric.dimensions}
    components.update(overrides)
    return components


def test_mof_class_i_needs_everything_open_and_warns_on_type_inappropriate_licences():
    rubric = load_rubric("mof")
    result = classify_mof(rubric, _mof_release("Apache-2.0"))
    assert result.classification == result.label == "Class I" and result.level == 1
    assert result.progress == {"Class III": 100.0, "Class II": 100.0, "Class I": 100.0}
    assert result.unmet == []
    # Apache-2.0 fits code and documents; the five data components (weights, checkpoints, data, metadata) warn
    warned = sorted(w.split(" is under ")[0].rsplit(" (", 1)[0] for w in result.warnings)
    assert warned == ["Datasets", "Evaluation data", "Model metadata", "Model parameters (Final)",
                      "Model parameters (Intermediate)"]


def test_mof_licence_ids_are_matched_like_spdx_and_hub_ids():
    rubric = load_rubric("mof")
    assert classify_mof(rubric, _mof_release("apache-2.0")).classification == "Class I"
    assert classify_mof(rubric, _mof_release("OpenMDW-1.0")).warnings == []


def test_mof_unlicensed_and_invalid_are_kept_apart_and_block_the_class():
    rubric = load_rubric("mof")
    result = classify_mof(rubric, _mof_release(
        "MIT", **{"model-parameters-final": ComponentStatus(True, "llama3"),
                  "evaluation-data": ComponentStatus(True, None),
                  "datasets": ComponentStatus(False)}))
    assert result.classification == "Unclassified"
    assert result.classes["Class III"].invalid == ["model-parameters-final"]
    assert result.classes["Class II"].unlicensed == ["evaluation-data"]
    assert result.classes["Class I"].missing == ["datasets"]
    assert result.unmet == ["model-parameters-final", "evaluation-data", "datasets"]
    # MOT gates progress: with Class III incomplete, II and I show 0; coverage keeps the real share
    assert result.progress == {"Class III": pytest.approx(500 / 6), "Class II": 0.0, "Class I": 0.0}
    assert result.coverage["Class II"] == pytest.approx(80.0)
    assert result.total_progress == pytest.approx(500 / 18)


def test_mof_research_paper_stands_in_for_the_technical_report():
    rubric = load_rubric("mof")
    class_iii = {d.id: ComponentStatus(True, "CC-BY-4.0") for d in rubric.dimensions
                 if d.mof_class == 3 and d.required and d.id != "technical-report"}
    without = classify_mof(rubric, class_iii)
    assert without.classification == "Unclassified" and without.classes["Class III"].missing == ["technical-report"]
    with_paper = classify_mof(rubric, {**class_iii, "research-paper": ComponentStatus(True, "CC-BY-4.0")})
    assert with_paper.classification == "Class III"
    assert "technical-report" not in with_paper.unmet
    assert with_paper.progress["Class II"] == pytest.approx(60.0)


def test_classify_mof_refuses_unknown_components():
    with pytest.raises(UsageError, match="no component 'weights'"):
        classify_mof(load_rubric("mof"), {"weights": ComponentStatus(True, "MIT")})
