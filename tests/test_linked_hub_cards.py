"""Linked Hub cards (`--linked`), through the real Hub client against tests/fakehub.py: a training dataset's
card read as its datasheet (openscore.evidence.dataset_card), and the documentation a repository without a
card inherits from its declared base's card (openscore.evidence.inherited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from openscore.audit import audit
from openscore.evidence.dataset_card import datasheet_topics

ANSWERS = yaml.safe_load((Path(__file__).resolve().parent.parent / "bench" / "linked_answers.yaml").read_text("utf-8"))
LLAMA_CHAT = "meta-llama/Llama-2-7b-chat-hf"
COPY = "meta-llama__Llama-2-7b-chat-hf__resaved-copy"


@pytest.fixture
def hub(fake_hub, monkeypatch, tmp_path):
    """The fake Hub as the linked sources' Hub, with a throw-away cache; nothing else is reachable."""
    monkeypatch.setenv("OPENSCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("OPENSCORE_HUB_TRIES", "1")
    for key in ("OPENSCORE_GITHUB_API", "OPENSCORE_ARXIV_API", "OPENSCORE_CROSSREF_API"):
        monkeypatch.setenv(key, "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake_hub.unrecorded_datasets_unavailable = True
    return fake_hub


def _serve(hub, tmp_path: Path, repo_id: str, card: str | bytes, *, dataset: bool = False, gated: bool = False) -> None:
    folder = tmp_path / ("datasets" if dataset else "models") / repo_id
    folder.mkdir(parents=True)
    (folder / "README.md").write_bytes(card if isinstance(card, bytes) else card.encode())
    hub.add_repo(repo_id, folder, dataset=dataset, gated=gated)


def _dataset_card(dataset_id: str) -> str:
    facts = ANSWERS["hub_datasets"][dataset_id]
    return f"---\nlicense: {facts['licence']}\n---\n{facts['card']}"


def grades(report, rubric: str = "osai-v3") -> dict:
    return {g.dimension: g for g in report.rubrics[rubric].grades}


# -- a dataset card as the datasheet ---------------------------------------------------------------------

def test_a_training_datasets_hub_card_that_documents_it_is_the_datasheet(realcards, hub, tmp_path):
    """BLOOMZ names bigscience/xP3; its Hub card (Summary, Structure, Fields, Creation, Licensing) is the
    datasheet the index cites ("Dataset documented in dataset card at HuggingFace"): open, citing the card."""
    _serve(hub, tmp_path, "bigscience/xP3", _dataset_card("bigscience/xP3"), dataset=True)
    offline = audit(str(realcards / "bigscience__bloomz"), weights=False, rubrics=["osai-v3"])
    assert grades(offline)["datasheet"].grade == "partial"
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report)["datasheet"]
    assert g.grade == "open", g.reason
    cited = [e for e in g.evidence if e.extractor == "dataset-card@1.0"]
    assert cited and cited[0].url == f"{hub.endpoint}/datasets/bigscience/xP3"
    assert "a datasheet" in cited[0].snippet and "fetched" in cited[0].snippet
    card = report.evidence["dataset-cards"]["observations"][0]["value"]
    assert card["topics"] == ["collection", "composition", "licensing", "summary"]
    # the card itself, read at the commit the dataset info names, not only its metadata
    assert any(r["path"].startswith("/datasets/bigscience/xP3/resolve/") and r["path"].endswith("/README.md")
               and r["status"] == 200 for r in hub.requests)


def test_a_dataset_card_with_only_a_licence_is_not_a_datasheet(realcards, hub, tmp_path):
    _serve(hub, tmp_path, "bigscience/xP3", "---\nlicense: apache-2.0\n---\n# xP3\n", dataset=True)
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report)["datasheet"].grade == "partial"  # named on the Hub, as offline
    assert report.evidence["dataset-cards"]["observations"][0]["value"]["datasheet"] is False


def test_a_gated_or_unreachable_dataset_card_is_not_read(realcards, hub, tmp_path):
    _serve(hub, tmp_path, "bigscience/xP3", _dataset_card("bigscience/xP3"), dataset=True, gated=True)
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    assert report.evidence["dataset-cards"]["observations"] == []
    assert grades(report)["datasheet"].grade == "partial"
    assert not any("/datasets/bigscience/xP3/resolve/" in r["path"] for r in hub.requests)


@pytest.mark.parametrize(("card", "topics", "documents"), [
    ("# Datasheet for Corpus\nMotivation, composition and collection answered one by one below.\n",
     ["datasheet"], True),
    ("## Dataset Summary\nA corpus of forum posts in three languages.\n## Data Fields\n- `text`: the post, "
     "as written\n## Languages\nEnglish, French and German posts.\n", ["composition", "languages", "summary"], False),
    ("## Dataset Summary\nA corpus of forum posts in three languages.\n## Data Fields\n- `text`: the post, "
     "as written\n## Curation Rationale\nPosts kept when longer than ten words.\n",
     ["collection", "composition", "summary"], True),
    ("## Dataset Creation\n[More Information Needed]\n## Dataset Structure\n[More Information Needed]\n"
     "## Dataset Summary\n[More Information Needed]\n", [], False),  # the template's placeholders
])
def test_which_dataset_cards_are_datasheets(card, topics, documents):
    found, _, is_datasheet = datasheet_topics(card)
    assert (found, is_datasheet) == (topics, documents)


# -- documentation inherited from the declared base ------------------------------------------------------

def test_a_copy_without_a_card_is_documented_by_its_declared_bases_card(realcards, hub, tmp_path):
    """The resaved Llama 2 chat copy has no README; its config declares meta-llama/Llama-2-7b-chat-hf, whose
    Hub card (Meta's Llama 2 card, realcards' meta-llama__Llama-2-7b-hf/README.md) documents it."""
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    offline = audit(str(realcards / COPY), weights=False, rubrics=["osai-v3", "mof"])
    assert {d: grades(offline)[d].grade for d in ("modelcard", "preprint", "hardware_architecture")} == {
        "modelcard": "closed", "preprint": "closed", "hardware_architecture": "closed"}
    report = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3", "mof"])
    base = audit(str(realcards / "meta-llama__Llama-2-7b-hf"), weights=False, rubrics=["osai-v3"])
    for dim in ("modelcard", "preprint", "hardware_architecture", "datasheet"):
        g = grades(report)[dim]
        assert g.grade == grades(base)[dim].grade, dim  # the card's own grades, for its copy
        assert g.reason.startswith(
            f"Inherited from the declared base {LLAMA_CHAT}'s card (this repository has no documentation of its own)")
        note = g.evidence[0]
        assert note.rule == f"osai-v3/{dim}/inherited-from-base" and note.url.startswith(
            f"{hub.endpoint}/{LLAMA_CHAT}/blob/") and "fetched" in note.snippet
    assert grades(report)["modelcard"].grade == "partial"  # the index: "a model card ... the absolute minimum"
    assert any(e.source.startswith(LLAMA_CHAT + "@") for e in grades(report)["preprint"].evidence)
    # availability and licences stay the copy's own: it has no licence file, its weights are its own
    for dim in ("licenses", "weights_endmodel", "datasources_endmodel"):
        assert grades(report)[dim].model_dump() == grades(offline)[dim].model_dump(), dim
    # `paper` is not inherited (only --linked's own venue search adds to what it searched)
    assert grades(report)["paper"].grade == grades(offline)["paper"].grade
    assert not any(e.source.startswith(LLAMA_CHAT + "@") for e in grades(report)["paper"].evidence)
    for component in ("model-card", "technical-report", "research-paper"):  # the MOT includes Llama 2's paper
        assert grades(report, "mof")[component].reason.startswith("Inherited from"), component
    assert grades(report, "mof")["research-paper"].grade in ("open", "partial")
    inherited = report.evidence["inherited-card"]["observations"][0]["value"]
    assert inherited["base"] == LLAMA_CHAT and "hardware" in inherited["sections"]


def test_the_audit_summary_says_which_grades_are_inherited(realcards, hub, tmp_path):
    from click.testing import CliRunner

    from openscore.cli import cli

    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    args = ["audit", str(realcards / COPY), "--no-weights", "--rubric", "osai-v3", "--reports", str(tmp_path / "r")]
    res = CliRunner().invoke(cli, [*args, "--linked"], catch_exceptions=False)
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("modelcard"))
    assert res.exit_code == 0 and f"partial  Inherited from the declared base {LLAMA_CHAT}'s card" in line
    res = CliRunner().invoke(cli, [*args, "--linked", "--offline"], catch_exceptions=False)
    assert res.exit_code == 0 and "Inherited from" not in res.output


def test_the_inherited_card_is_cached_with_its_date(realcards, hub, tmp_path):
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    first = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])
    hub.fail_next(1000, 503)  # the Hub down: the cache answers
    again = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])
    assert json.loads(again.to_json())["rubrics"] == json.loads(first.to_json())["rubrics"]


def test_a_repository_with_its_own_card_inherits_nothing(realcards, hub, tmp_path):
    report = audit(str(realcards / "meta-llama__Llama-2-7b-hf"), weights=False, linked=True, rubrics=["osai-v3"])
    assert "inherited-card" not in report.evidence
    assert not any(r["path"].startswith("/api/models/") for r in hub.requests)


def test_an_adapter_inherits_its_base_models_card(realcards, hub, tmp_path):
    """An adapter without a card: adapter_config.json's base_model_name_or_path names the base."""
    _serve(hub, tmp_path, "EleutherAI/pythia-6.9b", (realcards / "EleutherAI__pythia-6.9b" / "README.md").read_bytes())
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "EleutherAI/pythia-6.9b", "peft_type": "LORA", "r": 8}))
    offline = audit(str(adapter), weights=False, rubrics=["osai-v3"])
    report = audit(str(adapter), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(offline)["preprint"].grade == "closed"
    assert grades(report)["preprint"].grade == "open"  # Pythia's card links its arXiv paper
    assert "EleutherAI/pythia-6.9b" in grades(report)["preprint"].reason


def test_a_base_that_cannot_be_read_leaves_the_grades_as_offline(realcards, hub, monkeypatch, tmp_path):
    offline = audit(str(realcards / COPY), weights=False, rubrics=["osai-v3"])
    report = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])  # the base is not served
    assert {d: (g.grade, g.reason) for d, g in grades(report).items()} == {
        d: (g.grade, g.reason) for d, g in grades(offline).items()}
    assert report.evidence["inherited-card"]["not_checked"][0].startswith(f"card of {LLAMA_CHAT}: RepoNotFound")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"]).to_json() == offline.to_json()


def test_a_fine_tune_without_a_preprint_of_its_own_takes_its_bases_as_partial(realcards, hub, tmp_path):
    """Dolly's card: "Based on `pythia-12b`" and no paper of its own; the index cites the Pythia paper and
    grades partial (it covers the base, not Dolly's fine-tuning). The architecture is left to Dolly's card."""
    _serve(hub, tmp_path, "EleutherAI/pythia-12b", (realcards / "EleutherAI__pythia-6.9b" / "README.md").read_bytes())
    offline = audit(str(realcards / "databricks__dolly-v2-12b"), weights=False, rubrics=["osai-v3"])
    report = audit(str(realcards / "databricks__dolly-v2-12b"), weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report)["preprint"]
    assert grades(offline)["preprint"].grade == "closed" and g.grade == "partial"
    assert g.reason.startswith("Inherited from the declared base EleutherAI/pythia-12b's card, which covers the base")
    assert g.evidence[0].rule == "osai-v3/preprint/inherited-from-base"
    assert any("arxiv.org/pdf/2304.01373" in (e.url or "") for e in g.evidence)  # the Pythia paper, on its card
    for dim in ("hardware_architecture", "modelcard", "datasheet", "licenses"):
        assert (grades(report)[dim].grade, grades(report)[dim].reason) == (
            grades(offline)[dim].grade, grades(offline)[dim].reason), dim


def test_a_derivatives_own_preprint_is_kept(realcards, hub, tmp_path):
    """zephyr-7b-beta links its own paper: its base's card (Mistral-7B-v0.1) changes none of its grades."""
    mistral = (realcards / "mistralai__Mistral-7B-v0.1" / "README.md").read_bytes()
    _serve(hub, tmp_path, "mistralai/Mistral-7B-v0.1", mistral)
    offline = audit(str(realcards / "HuggingFaceH4__zephyr-7b-beta"), weights=False, rubrics=["osai-v3"])
    report = audit(str(realcards / "HuggingFaceH4__zephyr-7b-beta"), weights=False, linked=True, rubrics=["osai-v3"])
    assert report.evidence["inherited-card"]["observations"][0]["value"]["copy"] is False
    assert not any(g.reason.startswith("Inherited") for g in report.rubrics["osai-v3"].grades)
    assert grades(report)["preprint"].model_dump() == grades(offline)["preprint"].model_dump()


def test_with_the_bench_fakes_every_differing_cell_of_the_exact_matches_is_argued(shared_data):
    """bench/fidelity.py --linked: the cells the linked Hub cards move keep (or need no) an argument in the match
    table, and the ones they were argued for now agree: bloomz's datasheets, the copy's model card, dolly's preprint."""
    import importlib.util

    from openscore.anchors import osai
    from openscore.anchors.fidelity import STEP, load_matches
    from openscore.rubrics import load_rubric

    spec = importlib.util.spec_from_file_location("fidelity_bench", Path(__file__).resolve().parent.parent / "bench"
                                                  / "fidelity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table, rubric = load_matches(), load_rubric("osai-v3")
    ours: dict[tuple[str, str], str] = {}
    unargued = []
    with bench._fake_linked():
        for m in (m for m in table.osai if m.quality in ("same_model", "same_version")):
            theirs = osai.grades(osai.load(shared_data / "anchors" / "osai-main-database" / m.entry), rubric)
            report = audit(str(shared_data / "realcards" / m.folder), weights=False, rubrics=["osai-v3"], linked=True)
            for g in report.rubrics["osai-v3"].grades:
                ours[(m.folder, g.dimension)] = g.grade
                if g.grade in STEP and theirs.get(g.dimension) in STEP and g.grade != theirs[g.dimension] and (
                        g.dimension in table.osai_observable or abs(STEP[g.grade] - STEP[theirs[g.dimension]]) == 2):
                    if table.dispute(m.folder, g.dimension) is None:
                        unargued.append(f"{m.folder}/{g.dimension}")
    assert not unargued
    assert ours[("bigscience__bloomz", "datasheet")] == ours[("bigscience__bloomz-7b1", "datasheet")] == "open"
    assert ours[(COPY, "modelcard")] == ours[("databricks__dolly-v2-12b", "preprint")] == "partial"


# -- bounded and untrusted ---------------------------------------------------------------------------------

def test_a_dataset_card_over_the_limit_is_refused_and_changes_nothing(realcards, hub, tmp_path, monkeypatch):
    monkeypatch.setattr("openscore.evidence.dataset_card.MAX_CARD_BYTES", 1000)
    _serve(hub, tmp_path, "bigscience/xP3", _dataset_card("bigscience/xP3"), dataset=True)  # about 1.6 kB
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report)["datasheet"].grade == "partial"
    assert "over the 1000-byte limit" in report.evidence["dataset-cards"]["not_checked"][0]
    assert not any("/resolve/" in r["path"] for r in hub.requests)  # refused before the body is asked for


def test_a_tampered_cache_entry_is_not_evidence(realcards, hub, tmp_path):
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])
    for entry in (tmp_path / "cache" / "linked").glob("*.json"):
        doc = json.loads(entry.read_text())
        if doc["key"].startswith("hub-model-card:"):
            doc["facts"]["collectors"]["card"]["observations"] = [{"kind": "card.section.x", "value": 1}]
            entry.write_text(json.dumps(doc))
    offline = audit(str(realcards / COPY), weights=False, rubrics=["osai-v3"])
    report = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report)["modelcard"].grade == grades(offline)["modelcard"].grade == "closed"
    assert "ValidationError" in report.evidence["inherited-card"]["not_checked"][0]


@pytest.mark.parametrize("declared", ["org/..", "../etc", "org/name/extra", "org/" + "x" * 200])
def test_a_base_id_that_names_no_repository_is_not_asked_for(hub, tmp_path, declared):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"_name_or_path": declared, "model_type": "llama"}))
    report = audit(str(model), weights=False, linked=True, rubrics=["osai-v3"])
    assert "inherited-card" not in report.evidence
    assert not any(r["path"].startswith("/api/models/") for r in hub.requests)


def test_a_gated_bases_card_is_not_inherited(realcards, hub, tmp_path):
    """A gated base: its card text is not readable without access, and its metadata alone would say it documents
    nothing; nothing is inherited and the report says why."""
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes(), gated=True)
    offline = audit(str(realcards / COPY), weights=False, rubrics=["osai-v3"])
    report = audit(str(realcards / COPY), weights=False, linked=True, rubrics=["osai-v3"])
    out = report.evidence["inherited-card"]
    assert out["observations"] == [] and any("gated" in why for why in out["not_checked"])
    assert {d: g.grade for d, g in grades(report).items()} == {d: g.grade for d, g in grades(offline).items()}


def test_a_hub_copy_without_a_card_reads_its_bases_card_on_the_same_hub(realcards, hub, tmp_path, monkeypatch):
    """A Hub audit: the copy and its base on one (fake) Hub, asked through the endpoint the audit names."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # not where the audited repository lives
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_bytes((realcards / COPY / "config.json").read_bytes())
    hub.add_repo("someone/llama-2-chat-copy", copy)
    report = audit("someone/llama-2-chat-copy", endpoint=hub.endpoint, weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report)["modelcard"]
    assert g.grade == "partial" and g.reason.startswith(f"Inherited from the declared base {LLAMA_CHAT}'s card")
    assert g.evidence[0].url.startswith(f"{hub.endpoint}/{LLAMA_CHAT}/blob/")


def test_a_card_that_only_names_its_base_inherits_like_a_copy(realcards, hub, tmp_path):
    """A quantised re-upload whose card is its front matter and one line: nothing of its own documents the model."""
    _serve(hub, tmp_path, LLAMA_CHAT, (realcards / "meta-llama__Llama-2-7b-hf" / "README.md").read_bytes())
    model = tmp_path / "quant"
    model.mkdir()
    (model / "README.md").write_text(f"---\nbase_model: {LLAMA_CHAT}\nbase_model_relation: quantized\n---\n"
                                     "GGUF quantisation of Llama 2 7B chat.\n")
    report = audit(str(model), weights=False, linked=True, rubrics=["osai-v3"])
    assert report.evidence["inherited-card"]["observations"][0]["value"]["copy"] is True
    assert grades(report)["modelcard"].grade == "partial"
    assert grades(report)["hardware_architecture"].reason.startswith(f"Inherited from the declared base {LLAMA_CHAT}")


def test_a_grading_map_that_inherits_a_dimension_it_does_not_have_is_refused():
    from openscore.openness.rules import GradingMap

    rules = {"a": [{"grade": "open", "reason": "r"}]}
    with pytest.raises(ValueError, match="inherit_from_base / fill_from_base name no dimension of this map: b"):
        GradingMap.model_validate({"rubric": "x", "version": "1", "dimensions": rules, "fill_from_base": ["b"]})
    assert GradingMap.model_validate({"rubric": "x", "version": "1", "dimensions": rules,
                                      "inherit_from_base": ["a"]}).inherit_from_base == ["a"]


@pytest.mark.parametrize("declared_served", [False, True])
def test_the_card_of_one_source_is_no_datasheet_of_the_declared_mix(realcards, hub, tmp_path, declared_served):
    """mpt-7b-instruct declares `datasets: [mosaicml/dolly_hhrlhf]` (dolly-15k and a filtered HH-RLHF) and links
    databricks-dolly-15k. Dolly-15k's card is a datasheet of one source only: while the declared dataset's own
    card is not read the datasheet stays partial (named on the Hub), as offline; read, and a datasheet, open."""
    _serve(hub, tmp_path, "databricks/databricks-dolly-15k", _dataset_card("databricks/databricks-dolly-15k"),
           dataset=True)
    if declared_served:  # a made-up card for the case, not the Hub's
        _serve(hub, tmp_path, "mosaicml/dolly_hhrlhf", "---\nlicense: cc-by-sa-3.0\n---\n# Datasheet for dolly_hhrlhf\n"
               "Motivation, composition and collection answered one by one below.\n", dataset=True)
    report = audit(str(realcards / "mosaicml__mpt-7b-instruct"), weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report)["datasheet"]
    assert g.grade == ("open" if declared_served else "partial"), g.reason
