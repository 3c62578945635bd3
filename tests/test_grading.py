"""Grading semantics on purpose-built repositories: what each kind of evidence earns, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from openscore.audit import audit
from tests import checkpoint_builders as build

OPEN_CARD = """---
license: apache-2.0
datasets: [org/open-corpus]
library_name: transformers
pipeline_tag: text-generation
tags: [arxiv:2401.00001]
model-index:
- name: open-model
  results:
  - task: {type: text-generation}
    dataset: {type: org/eval, name: Eval}
    metrics: [{type: accuracy, value: 0.5}]
---

# Open model

An openly developed model. Code: https://github.com/org/open-model (training, data preparation and
evaluation scripts). Paper: https://aclanthology.org/2024.acl-long.1/

## Training data

Trained on org/open-corpus, 10 GB of public-domain text listed in its dataset card.

## Training procedure

AdamW, learning rate 3e-4, cosine decay, 20,000 steps, batch size 512.

## Evaluation

Accuracy 0.5 on org/eval, see the model-index above.

## Limitations

Small and easily confused; do not use it for decisions about people.

## Hardware

Trained on 8 NVIDIA A100 GPUs for 30 hours.

## Model architecture

A 12-layer decoder-only transformer with rotary embeddings.
"""


def _grades(report, rubric="osai-v3") -> dict:
    return {g.dimension: g for g in report.rubrics[rubric].grades}


@pytest.fixture(scope="module")
def open_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("open-model")
    (folder / "README.md").write_text(OPEN_CARD)
    build.single_safetensors(folder)
    build.write_config(folder)
    for script in ("train.py", "prepare_data.py", "evaluate.py"):
        (folder / script).write_text("# a script\n")
    return folder


def test_an_open_model_grades_open_where_the_repository_shows_it(open_model, fake_hub):
    fake_hub.add_repo("org/open-model", open_model, revisions={"step1000": open_model})
    report = audit("org/open-model", endpoint=fake_hub.endpoint, token=False, weights=False)
    g = _grades(report)
    for dim in ("weights_endmodel", "trainingcode", "preprint", "paper", "modelcard", "hardware_architecture"):
        assert g[dim].grade == "open", (dim, g[dim].reason)
    assert g["trainingcode"].evidence[0].file == "train.py"
    assert g["paper"].evidence[0].url == "https://aclanthology.org/2024.acl-long.1/"
    # no base model: the base dimensions mirror the end model, with their own rule ids
    assert g["weights_basemodel"].grade == "open" and g["weights_basemodel"].reason.startswith("No separate base model")
    assert all(e.rule.startswith("osai-v3/weights_basemodel/") for e in g["weights_basemodel"].evidence)
    # the Hub says the dataset does not exist: named but not shared, so never "open"
    assert g["datasources_endmodel"].grade == "partial"
    assert report.evidence["datasets"]["not_checked"] == ["dataset org/open-corpus: dataset not found on the Hub"]
    mof = _grades(report, "mof")
    assert mof["model-parameters-intermediate"].grade == "open"
    assert mof["model-parameters-intermediate"].evidence[0].snippet == "revision step1000 of org/open-model"
    # Class I would also need the datasets verified as open
    assert mof["datasets"].grade == "unknown"
    assert report.rubrics["mof"].classification == "Class II"
    assert report.rubrics["osaid"].classification == "fail"
    assert report.rubrics["osaid"].unmet == ["data-information"]


@pytest.mark.parametrize("gated, expected", [(False, "open"), ("manual", "partial")])
def test_the_hubs_dataset_card_decides_whether_the_data_is_open(open_model, fake_hub, tmp_path, gated, expected):
    """A Hub audit reads each listed dataset's card through the real client: an open licence on an ungated
    dataset makes the data open; a gated one keeps it partial, with the gating in the evidence."""
    (tmp_path / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Open corpus\n")
    fake_hub.add_repo("org/open-model", open_model)
    fake_hub.add_repo("org/open-corpus", tmp_path, gated=gated, dataset=True)
    report = audit("org/open-model", endpoint=fake_hub.endpoint, token=False, weights=False)
    assert report.evidence["datasets"]["not_checked"] == []
    grade = _grades(report)["datasources_endmodel"]
    assert grade.grade == expected, grade.reason
    cited = [e for e in grade.evidence if e.url == f"{fake_hub.endpoint}/datasets/org/open-corpus"]
    assert cited and cited[0].snippet == f"dataset org/open-corpus: licence 'cc-by-4.0', gated {gated or False!r}"
    assert any(r["path"] == "/api/datasets/org/open-corpus" and r["status"] == 200 for r in fake_hub.requests)


def test_closed_grades_say_what_was_searched(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A model\n\nIt exists.\n")
    report = audit(str(tmp_path), weights=False)
    g = _grades(report)
    assert g["trainingcode"].grade == "closed"
    assert any("training scripts" in s for s in g["trainingcode"].searched)
    assert all(e.snippet.startswith("not found: ") for e in g["trainingcode"].evidence)
    osaid = _grades(report, "osaid")
    assert osaid["code"].reason.startswith("code.training_missing")
    assert report.rubrics["osaid"].unmet == ["data-information", "code", "parameters"]
    assert report.rubrics["mof"].classification == "Unclassified"


def test_scores_follow_the_rubric_profiles(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: llama2\n---\n# x\n")
    result = audit(str(tmp_path), weights=False, rubrics=["osai-v1"]).rubrics["osai-v1"]
    api = _grades(audit(str(tmp_path), weights=False, rubrics=["osai-v1"]), "osai-v1")["api"]
    assert api.grade == "unknown" and api.evidence
    # unknown counts as 0 in both profiles; nothing here is n/a, so the two profiles agree
    assert result.scores["osai-compatible"] == result.scores["strict"]
    assert 0 <= result.scores["strict"] < 0.2


@pytest.mark.parametrize("card, expected", [("databricks__dolly-v2-12b", "open"),  # Pythia: the Pile
                                            ("HuggingFaceH4__zephyr-7b-beta", "closed"),  # Mistral: undisclosed
                                            ("lmsys__vicuna-7b-delta-v0", "partial")])  # LLaMA: described only
def test_base_model_data_follows_the_known_base(realcards, card, expected):
    grade = _grades(audit(str(realcards / card), weights=False, rubrics=["osai-v3"]))["datasources_basemodel"]
    assert grade.grade == expected
    assert any(e.rule == "osai-v3/datasources_basemodel/derivative" for e in grade.evidence)


@pytest.mark.parametrize("datasets, expected, datasheet, strict_capped", [
    ([("org/a", "cc-by-4.0", False), ("org/b", "odc-by", False)], "open", "open", False),
    ([("org/a", "cc-by-4.0", False), ("org/b", "cc-by-4.0", "manual")], "partial", "partial", False),  # one gated
    # shared, so open by OSAI's availability criterion; the strict profile counts it partial
    ([("org/a", "cc-by-nc-4.0", False)], "open", "partial", True),
])
def test_dataset_cards_decide_whether_the_data_is_open(tmp_path, datasets, expected, datasheet, strict_capped):
    """What the Hub's dataset cards say (gating: availability; licence: the strict cap) turns into the data grades."""
    from openscore.evidence import collect
    from openscore.evidence.model import CollectorOutput, Observation
    from openscore.openness.checks import GradingContext
    from openscore.openness.grading import grade_rubric
    from openscore.openness.licensing import dataset_licences, evaluate_licence
    from openscore.report import Evidence
    from openscore.sources import open_source

    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# m\n\n## Training data\n\n"
                                        "Two public corpora, listed with their sources and sizes.\n")
    source = open_source(str(tmp_path))
    bundle = collect(source, source.inventory()).bundle
    bundle.collectors["datasets"] = CollectorOutput(extractor="datasets@1.0", observations=[
        Observation(kind="dataset", value={"id": i, "checked": True, "licence": lic, "gated": gated, "card": True},
                    evidence=Evidence(source=bundle.source, url=f"https://huggingface.co/datasets/{i}",
                                      rule="collect/datasets/card", extractor="datasets@1.0"))
        for i, lic, gated in datasets])
    ctx = GradingContext(bundle=bundle, licence=evaluate_licence(bundle), dataset_licences=dataset_licences(bundle))
    result = grade_rubric("osai-v3", ctx)
    grades = {g.dimension: g for g in result.grades}
    assert grades["datasources_endmodel"].grade == expected
    assert {e.url for e in grades["datasources_endmodel"].evidence} >= {f"https://huggingface.co/datasets/{d[0]}"
                                                                       for d in datasets}
    assert grades["datasheet"].grade == datasheet
    from openscore.rubrics import load_rubric, score
    graded = {g.dimension: g.grade for g in result.grades}
    capped = {**graded, "datasources_endmodel": "partial", "datasources_basemodel": "partial"}
    if strict_capped:  # licences partial (the data's is not open): the weights alone are one part of the two
        assert graded["licenses"] == "partial"
        capped["licenses"] = "closed"
    uncapped = score(load_rubric("osai-v3"), graded, "strict")
    assert result.scores["strict"] == (score(load_rubric("osai-v3"), capped, "strict") if strict_capped else uncapped)
    assert result.scores["osai-compatible"] == score(load_rubric("osai-v3"), graded, "osai-compatible")
