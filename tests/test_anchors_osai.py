"""European Open Source AI Index compatibility: every database entry loads, totals as the site does,
and survives an export/import round-trip. The data is CC-BY-4.0 (https://osai-index.eu; Liesenfeld &
Dingemanse 2024, FAccT '24; Zenodo DOI 10.5281/zenodo.15386042)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openscore.anchors import osai
from openscore.errors import ConfigError
from openscore.rubrics import load_rubric

SITE_VALUES = {"open": 1.0, "partial": 0.5, "closed": 0.0}


@pytest.fixture(scope="module")
def database(shared_path) -> Path:
    return shared_path("anchors", "osai-main-database")


@pytest.fixture(scope="module")
def entries(database: Path) -> dict[str, osai.OsaiEntry]:
    return {p.name: osai.load(p) for p in osai.entry_files(database)}


def _site_total(raw: dict, params: list[str]) -> float:
    """The website's sortModels, re-read from the raw YAML: per current parameter, open 1, partial 0.5,
    anything else (closed, empty, missing, misspelt) 0; the total is the plain mean."""
    values = [SITE_VALUES.get((raw.get(p) or {}).get("class"), 0.0) for p in params]
    return sum(values) / len(values)


def test_every_entry_loads_and_totals_as_the_site_does(database: Path, entries):
    yaml_files = {p.name for p in database.glob("*.y*ml")}
    assert set(entries) == yaml_files - {"_parameters.yml", "_parameters-descriptions.yml", "a_submission_template.yaml"}
    assert len(entries) >= 190
    rubric = load_rubric("osai-v3")
    groups = yaml.safe_load((database / "_parameters.yml").read_text(encoding="utf-8"))
    params = [p["ref"] for group in groups for p in group["params"]]
    assert params == rubric.dimension_ids  # the rubric's ids are exactly the database's keys
    for name, entry in entries.items():
        raw = yaml.safe_load((database / name).read_text(encoding="utf-8"))
        assert osai.total(entry, rubric) == pytest.approx(_site_total(raw, params), abs=1e-12), name
        assert entry.name == raw["system"]["name"], name


def test_entries_whose_type_the_site_cannot_match_are_totalled_on_all_parameters(entries):
    # The site keeps the parameters whose `types` include the entry's `system.type` string; "text,code",
    # "video,audio" or a missing type match none (its mean of nothing fails). Every current parameter
    # applies to every modality, so openscore scores these entries on all 12 parameters.
    odd = {name: e.system.get("type") for name, e in entries.items()
           if e.system.get("type") not in ("text", "code", "image", "audio", "video")}
    assert odd and set(odd.values()) <= {"text,code", "video,audio", None}
    for name in odd:
        graded = osai.grades(entries[name])
        expected = sum(SITE_VALUES.get(g, 0.0) for g in graded.values()) / 12
        assert osai.total(entries[name]) == pytest.approx(expected), name


def test_known_totals(entries):
    totals = {name: osai.total(entry) for name, entry in entries.items()}
    assert totals["OLMo.yaml"] == pytest.approx(23 / 24)
    assert totals["YuLan.yaml"] == 1.0
    assert totals["lumo.yaml"] == 0.0
    assert totals["llama-3.1.yaml"] == pytest.approx(3.5 / 12)
    ranked = sorted(totals, key=lambda n: (-totals[n], n))
    assert set(ranked[:2]) == {"Mustango.yaml", "YuLan.yaml"}


def test_an_empty_class_is_na_and_counts_zero_only_on_the_site(entries):
    from openscore.rubrics import score

    text = osai.dump(entries["OLMo.yaml"]).replace("paper:\n    class: partial", "paper:\n    class:", 1)
    entry = osai.parse(text)
    assert entry.cells["paper"].grade_class is None
    graded = osai.grades(entry)
    assert graded["paper"] == "n/a"
    rubric = load_rubric("osai-v3")
    assert osai.total(entry) == pytest.approx(11 / 12)  # the site: N/A is 0, still in the denominator
    assert score(rubric, graded, "strict") == pytest.approx(1.0)  # strict: N/A left out


def test_import_export_import_round_trip(entries):
    for name, entry in entries.items():
        text = osai.dump(entry)
        again = osai.parse(text, source=name)
        assert again == entry, name
        assert osai.dump(again) == text, name
    olmo = osai.dump(entries["OLMo.yaml"])
    assert olmo.startswith("---\n# Thank you for contributing!") and "https://osai-index.eu/" in olmo
    assert olmo.index("system:") < olmo.index("# availability:") < olmo.index("# documentation:") < olmo.index("# access:")


def test_an_audit_exports_as_an_osai_entry():
    rubric = load_rubric("osai-v3")
    grades = dict.fromkeys(rubric.dimension_ids, "closed")
    grades.update(weights_endmodel="open", modelcard="partial", paper="n/a", datasheet="unknown")
    entry = osai.from_grades(
        {"name": "tiny-llama", "link": "https://huggingface.co/openscore/tiny-llama", "type": "text"}, grades,
        notes={"weights_endmodel": "Weights in model.safetensors."},
        links={"weights_endmodel": "https://huggingface.co/openscore/tiny-llama", "modelcard": ["a", "b"]},
        org={"name": "openscore"})
    text = osai.dump(entry)
    raw = yaml.safe_load(text)
    assert raw["weights_endmodel"] == {"class": "open", "link": "https://huggingface.co/openscore/tiny-llama",
                                       "notes": "Weights in model.safetensors."}
    assert raw["modelcard"]["link"] == ["a", "b"]
    assert raw["paper"]["class"] is None and raw["datasheet"]["class"] is None
    assert raw["datasheet"]["notes"].startswith("Unknown:")
    assert "CC-BY 4.0" in text and "Liesenfeld" in text
    back = osai.grades(osai.parse(text))
    assert back == {**grades, "datasheet": "n/a"}  # OSAI has no "unknown": it becomes an empty class
    assert osai.total(osai.parse(text)) == pytest.approx(1.5 / 12)
    with pytest.raises(ConfigError, match="not OSAI parameters: model-card"):
        osai.from_grades({"name": "x"}, {"model-card": "open"})


def test_odd_entries_are_read_not_rejected():
    text = "system:\n  name: Odd\n  type: text,code\nlicenses:\n  class: Open\n  link:\n  notes:\nmystery: 3\n"
    entry = osai.parse(text)
    assert osai.grades(entry)["licenses"] == "unknown"  # not an OSAI class: the site scores it 0
    assert osai.grades(entry)["paper"] == "n/a"
    assert osai.total(entry) == 0.0
    assert entry.extra == {"mystery": 3} and osai.parse(osai.dump(entry)) == entry
    with pytest.raises(ConfigError, match=r"odd.yaml:3: invalid YAML"):
        osai.parse("system:\n  name: [x\n", source="odd.yaml")
    with pytest.raises(ConfigError, match="a mapping, not list"):
        osai.parse("- 1\n")
