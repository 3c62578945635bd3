"""`openscore.audit`: every real card audits offline, spot checks of licences and findings, determinism,
the Hub path equals the local path, hostile input fails typed with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from openscore.audit import audit, report_path, write_report
from openscore.cli.schema import shipped
from openscore.errors import UsageError
from openscore.samples import materialize
from tests import checkpoint_builders as build
from tests.conftest import SHARED_DATA

REALCARDS = SHARED_DATA / "realcards"
CARD_DIRS = sorted(p.name for p in REALCARDS.iterdir() if p.is_dir()) if REALCARDS.is_dir() else []
_CACHE: dict[str, object] = {}


def _audit_card(realcards: Path, name: str):
    if name not in _CACHE:
        _CACHE[name] = audit(str(realcards / name), weights=False)
    return _CACHE[name]


def assert_every_grade_is_evidenced(report) -> None:
    """The rule behind "no grade without evidence", checked on the report and on its JSON schema."""
    jsonschema.Draft202012Validator(shipped("report")).validate(json.loads(report.to_json()))
    for rubric_id, result in report.rubrics.items():
        assert [g.dimension for g in result.grades], rubric_id
        for grade in result.grades:
            where = f"{rubric_id}/{grade.dimension}"
            if grade.grade != "n/a":
                assert grade.evidence, f"{where}: {grade.grade} without evidence"
                assert all(e.rule.startswith(f"{rubric_id}/{grade.dimension}/") for e in grade.evidence), where
            if grade.grade in ("closed", "unknown"):
                assert grade.searched, f"{where}: {grade.grade} without what was searched"


def test_realcards_are_all_there(realcards):
    assert len(CARD_DIRS) == 52


@pytest.mark.parametrize("name", CARD_DIRS)
def test_every_real_card_audits_offline(realcards, name):
    report = _audit_card(realcards, name)
    assert set(report.rubrics) == {"osai-v3", "osai-v1", "mof", "osaid"}
    assert report.rubrics["osaid"].classification in ("pass", "fail")
    assert report.rubrics["mof"].classification
    assert_every_grade_is_evidenced(report)


def test_schema_rejects_a_grade_without_evidence(realcards):
    doc = json.loads(_audit_card(realcards, "google__gemma-2b-it").to_json())
    grade = doc["rubrics"]["osai-v3"]["grades"][0]
    assert grade["grade"] != "n/a"
    grade["evidence"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(shipped("report")).validate(doc)


def test_llama3_and_gemma_licences_are_named_and_not_open(realcards):
    llama = _audit_card(realcards, "meta-llama__Meta-Llama-3-8B").licence
    assert (llama.declared, llama.resolved.id, llama.resolved.open) == ("other", "llama3", False)
    gemma = _audit_card(realcards, "google__gemma-2b-it").licence
    assert (gemma.resolved.id, gemma.resolved.open) == ("gemma", False)
    assert any(e.locator == "L15" and "gemma-terms-of-use" in e.snippet for e in gemma.evidence)
    grades = {g.dimension: g for g in _audit_card(realcards, "meta-llama__Meta-Llama-3-8B").rubrics["osai-v3"].grades}
    assert grades["licenses"].grade == "closed"


def test_falcon_release_card_conflicts_with_its_licence_file(realcards, tmp_path):
    """The card of the release said apache-2.0 (kept in _variants); LICENSE.txt is the TII Falcon licence."""
    folder = tmp_path / "tiiuae__falcon-40b"
    shutil.copytree(realcards / "tiiuae__falcon-40b", folder)
    shutil.copy(folder / "_variants" / "README.hf-main-2024.md", folder / "README.md")
    report = audit(str(folder), weights=False, rubrics=["osai-v3"])
    conflicts = [f for f in report.findings if f.id == "licence-conflict"]
    assert len(conflicts) == 1 and "LICENSE.txt" in conflicts[0].message and "tii-falcon" in conflicts[0].message
    assert {e.file for e in conflicts[0].evidence} == {"README.md", "LICENSE.txt"}
    # today's card names no licence: the file decides, and nothing conflicts
    today = _audit_card(realcards, "tiiuae__falcon-40b")
    assert today.licence.resolved.id == "tii-falcon" and not [f for f in today.findings if f.id == "licence-conflict"]


@pytest.mark.parametrize("name, base", [("hfl__chinese-llama-2-7b", "llama-2"), ("lmsys__vicuna-7b-delta-v0", "llama-1")])
def test_apache_on_llama_derivatives_is_laundering(realcards, name, base):
    report = _audit_card(realcards, name)
    laundering = [f for f in report.findings if f.id == "licence-laundering"]
    assert len(laundering) == 1 and base in laundering[0].message
    assert any(e.rule == "collect/lineage/prose" for e in laundering[0].evidence)


def test_honest_derivatives_and_bases_raise_no_licence_finding(realcards):
    for name in ("lmsys__vicuna-7b-v1.5", "HuggingFaceH4__zephyr-7b-beta", "TinyLlama__TinyLlama-1.1B-Chat-v1.0",
                 "01-ai__Yi-34B", "meta-llama__Meta-Llama-3-8B", "mistralai__Mistral-7B-v0.1"):
        ids = {f.id for f in _audit_card(realcards, name).findings}
        assert not ids & {"licence-laundering", "licence-conflict"}, name


def test_card_without_front_matter_grades_the_model_card_partial(realcards):
    grades = {g.dimension: g for g in _audit_card(realcards, "chavinlo__alpaca-native").rubrics["osai-v3"].grades}
    assert grades["modelcard"].grade == "partial" and "no_front_matter" in grades["modelcard"].reason
    assert any(e.locator == "L1" and e.file == "README.md" for e in grades["modelcard"].evidence)


def test_placeholder_only_card_grades_the_model_card_closed(tmp_path):
    sections = "\n\n".join(f"## {h}\n\n[More Information Needed]" for h in (
        "Model Details", "Training Data", "Training Procedure", "Evaluation", "Bias, Risks, and Limitations"))
    (tmp_path / "README.md").write_text(f"---\nlicense: mit\n---\n\n# Model Card for x\n\n{sections}\n")
    grade = {g.dimension: g for g in audit(str(tmp_path), weights=False, rubrics=["osai-v3"]).rubrics["osai-v3"].grades}
    assert grade["modelcard"].grade == "closed"
    assert any("filled card sections" in s for s in grade["modelcard"].searched)


def test_reports_are_byte_identical_and_filed_by_sha(realcards, tmp_path):
    first = write_report(audit(str(realcards / "EleutherAI__pythia-6.9b"), weights=False), tmp_path / "a")
    second = write_report(audit(str(realcards / "EleutherAI__pythia-6.9b"), weights=False), tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    report = json.loads(first.read_text())
    assert first.relative_to(tmp_path / "a").as_posix() == f"local/EleutherAI__pythia-6.9b/{report['source']['sha']}.json"
    assert report["source"]["location"] == "EleutherAI__pythia-6.9b"  # no absolute path in a report
    assert str(tmp_path) not in first.read_text()


def _comparable(report) -> dict:
    """Everything but where the files came from: grades with their evidence's file/locator/rule."""
    return {
        "rubrics": {r: [(g.dimension, g.grade, g.reason, [(e.file, e.locator, e.rule, e.extractor) for e in g.evidence])
                        for g in res.grades] for r, res in report.rubrics.items()},
        "scores": {r: res.scores for r, res in report.rubrics.items()},
        "licence": report.licence.resolved, "files": report.licence.files,
        "findings": [(f.id, f.message) for f in report.findings],
        "card": report.card, "layout": report.layout,
        # how a file is stored (LFS or not, sha256 or blob id, pointer or content) is the source's business
        "inventory": [(f["path"], f["size"]) for f in report.inventory["files"]],
        "verdict": report.provenance and (report.provenance.verdict, report.provenance.base),
    }


def test_hub_audit_equals_local_audit(fake_hub, realcards, tmp_path):
    shell = materialize("tiny-llama-shell")
    folder = tmp_path / "shell"
    shutil.copytree(shell, folder, ignore=shutil.ignore_patterns(".complete"))
    fake_hub.add_repo("someone/tiny-shell", folder, last_modified="2024-05-06T07:08:09.000Z")
    fake_hub.add_repo("google/gemma-2b-it", realcards / "google__gemma-2b-it")
    for repo_id, local in (("someone/tiny-shell", folder), ("google/gemma-2b-it", realcards / "google__gemma-2b-it")):
        weights = repo_id == "someone/tiny-shell"
        hub = audit(repo_id, endpoint=fake_hub.endpoint, token=False, weights=weights, sample=True)
        here = audit(str(local), weights=weights, sample=True)
        assert hub.source.kind == "hub" and hub.source.repo_id == repo_id
        assert here.source.committed_at is None  # a plain folder has no commit date
        assert _comparable(hub) == _comparable(here), repo_id
    assert hub.licence.evidence[0].url.startswith(f"{fake_hub.endpoint}/google/gemma-2b-it/blob/")
    assert hub.source.committed_at is None  # the Hub said nothing about gemma's date: nothing is made up
    shell_report = audit("someone/tiny-shell", endpoint=fake_hub.endpoint, token=False, weights=False)
    assert shell_report.source.committed_at == "2024-05-06T07:08:09+00:00"  # the Hub's lastModified, pinned


def test_gated_hub_repo_grades_weights_partial_without_reading_them(fake_hub, tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\nextra_gated_prompt: Share your contact details\n"
                                        "---\n# gated\n")
    build.single_safetensors(tmp_path)
    build.write_config(tmp_path)
    fake_hub.add_repo("org/gated", tmp_path, gated="manual")
    report = audit("org/gated", endpoint=fake_hub.endpoint, token=False, rubrics=["osai-v3"])
    weights = {g.dimension: g for g in report.rubrics["osai-v3"].grades}["weights_endmodel"]
    assert weights.grade == "partial"
    assert any(e.rule.endswith("/gated") and "extra_gated_prompt" in (e.snippet or "") for e in weights.evidence)
    assert any("weights not readable" in n for n in report.evidence["pipeline"]["notes"])


def test_report_path_refuses_odd_repo_ids(realcards, tmp_path):
    report = _audit_card(realcards, "microsoft__phi-2").model_copy(deep=True)
    report.source.repo_id = "../../etc"
    with pytest.raises(UsageError, match="cannot file a report") as caught:
        report_path(report, tmp_path)
    assert type(caught.value) is UsageError and caught.value.exit_code == 2


def test_a_declared_quantization_keeps_its_base_licence(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\nbase_model: mistralai/Mistral-7B-v0.1\n"
                                        "base_model_relation: quantized\n---\n# Mistral 4-bit\n")
    findings = audit(str(tmp_path), weights=False, rubrics=["osai-v3"]).findings
    assert [(f.id, f.message) for f in findings] == [(
        "licence-laundering", "the card declares the weights a quantization of mistralai/Mistral-7B-v0.1 "
        "(Apache-2.0) re-released as MIT: a copy cannot be relicensed")]
    (tmp_path / "README.md").write_text("---\nlicense: mit\nbase_model: mistralai/Mistral-7B-v0.1\n"
                                        "base_model_relation: finetune\n---\n# Mistral fine-tune\n")
    assert audit(str(tmp_path), weights=False, rubrics=["osai-v3"]).findings == []  # MIT is no more open than Apache
