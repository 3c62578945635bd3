"""Linked evidence (GitHub, arXiv, DOI, Hub datasets of a local folder) through plain HTTP against the
loopback fakes in tests/fakelinked.py and tests/fakehub.py: facts, citations, cache, token, rate limit,
offline mode."""

from __future__ import annotations

import json

import pytest

from openscore.audit import audit
from tests.fakelinked import FakeLinked

AMBER_TRAIN = ("README.md", "main.py", "run.sh", "finetune/README.md", "finetune/ambersafe/sft.sh",
               "finetune/ambersafe/dpo.sh", "finetune/amberchat/prepare_evol_datamix.py")


@pytest.fixture
def fake_linked(monkeypatch, tmp_path):
    fake = FakeLinked()
    monkeypatch.setenv("OPENSCORE_CACHE", str(tmp_path / "cache"))
    for key, value in fake.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # the Hub datasets a linked local audit asks about: a closed loopback port unless a test serves them
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENSCORE_HUB_TRIES", "1")
    yield fake
    fake.close()


def _amber(fake: FakeLinked) -> None:
    fake.add_repo("LLM360/amber-train", paths=AMBER_TRAIN)
    fake.add_repo("LLM360/amber-data-prep", paths=("README.md", "preprocess/tokenize_data.py"))
    fake.add_repo("LLM360/Analysis360", paths=("README.md", "analysis/eval_harness.py"))
    fake.add_arxiv("2312.06550", "LLM360: Towards Fully Transparent Open-Source LLMs", "2023-12-11")


def grades(report, rubric: str) -> dict[str, object]:
    return {g.dimension: g for g in report.rubrics[rubric].grades}


def test_a_linked_repository_with_training_code_is_cited_with_its_url_and_fetch_date(realcards, fake_linked):
    _amber(fake_linked)
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3", "mof"])
    osai, mof = grades(report, "osai-v3"), grades(report, "mof")
    assert osai["trainingcode"].grade == "open" and "linked evidence" in osai["trainingcode"].reason
    ev = next(e for e in osai["trainingcode"].evidence if e.rule.endswith("/code_linked"))
    assert ev.url == "https://github.com/LLM360/amber-train"
    assert "fetched " in ev.snippet and "finetune/ambersafe/dpo.sh" in ev.snippet  # first training file, sorted
    assert mof["training-code"].grade == "open" and mof["data-preprocessing-code"].grade == "open"
    assert osai["licenses"].grade == "open"  # weights, code (the linked repository's licence) all Apache-2.0


def test_a_preprint_published_in_a_venue_is_the_paper(realcards, fake_linked):
    _amber(fake_linked)
    fake_linked.add_arxiv("2312.06550", "LLM360", "2023-12-11", journal_ref="COLM 2024")
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    paper = grades(report, "osai-v3")["paper"]
    assert paper.grade == "open" and any("published as COLM 2024" in (e.snippet or "") for e in paper.evidence)


def test_a_doi_crossref_lists_as_a_proceedings_article(tmp_path, fake_linked):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# M\n## Citation\nSee https://doi.org/10.18653/v1/2023.acl-long.891\n")
    fake_linked.add_work("10.18653/v1/2023.acl-long.891", "A paper", "Proceedings of ACL")
    report = audit(str(tmp_path), weights=False, linked=True, rubrics=["osai-v3"])
    paper = grades(report, "osai-v3")["paper"]
    assert paper.grade == "open" and any(e.extractor == "linked@1.0" for e in paper.evidence)
    linked = report.evidence["linked"]["observations"]
    assert linked[0]["value"]["venue"] == "Proceedings of ACL" and linked[0]["value"]["peer_reviewed"] is True


def test_results_are_cached_with_their_date_and_reused(realcards, fake_linked):
    _amber(fake_linked)
    first = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    calls = fake_linked.github_calls()
    assert calls > 0
    again = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    assert fake_linked.github_calls() == calls  # answered from the cache
    assert again.to_json() == first.to_json()


def test_github_token_is_sent_and_a_rate_limit_stops_github_queries(realcards, fake_linked, monkeypatch):
    _amber(fake_linked)
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    fake_linked.rate_limit_github()
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    github = [(path, auth) for path, auth in fake_linked.requests if path.startswith("/github/")]
    assert github and all(auth == "Bearer t0ken" for _, auth in github)
    assert len(github) == 1  # the first 403 with X-RateLimit-Remaining: 0 stops the others
    not_checked = report.evidence["linked"]["not_checked"]
    assert any("rate limit" in n for n in not_checked)
    assert grades(report, "osai-v3")["trainingcode"].grade == "partial"  # back to what the card alone shows


def test_an_unknown_repository_and_an_unreachable_source_are_not_evidence(realcards, fake_linked, monkeypatch):
    monkeypatch.setenv("OPENSCORE_ARXIV_API", "http://127.0.0.1:9/arxiv")  # nothing listens on port 9
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    linked = report.evidence["linked"]
    assert {o["value"]["target"]: o["value"]["exists"] for o in linked["observations"]}["github.com/llm360/amber-train"] is False
    assert any(n.startswith("arxiv:2312.06550: unreachable") for n in linked["not_checked"])


def test_offline_keeps_the_audit_to_the_repository(realcards, fake_linked, monkeypatch):
    _amber(fake_linked)
    plain = audit(str(realcards / "LLM360__Amber"), weights=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True)
    assert not fake_linked.requests and "linked" not in offline.evidence
    assert offline.to_json() == plain.to_json()


def test_a_local_folders_datasets_are_read_from_the_hub_when_linked(tmp_path, fake_linked, fake_hub, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# corpus\n")
    fake_hub.add_repo("org/corpus", data, dataset=True)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    model = tmp_path / "model"
    model.mkdir()
    (model / "README.md").write_text("---\nlicense: apache-2.0\ndatasets: [org/corpus]\n---\n# M\n")
    report = audit(str(model), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report, "osai-v3")["datasources_endmodel"].grade == "open"


def test_malformed_answers_are_not_evidence_and_do_not_fail_the_audit(realcards, fake_linked):
    fake_linked.malformed = True
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    linked = report.evidence["linked"]
    assert not linked["observations"]
    assert any("not JSON" in n for n in linked["not_checked"]) and any("not an Atom feed" in n for n in linked["not_checked"])


def test_linked_is_off_by_default_and_the_cli_offline_flag_wins(realcards, fake_linked, tmp_path):
    from click.testing import CliRunner

    from openscore.cli import cli

    _amber(fake_linked)
    res = CliRunner().invoke(cli, ["audit", str(realcards / "LLM360__Amber"), "--no-weights", "--linked", "--offline",
                                   "--reports", str(tmp_path), "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0 and not fake_linked.requests
    res = CliRunner().invoke(cli, ["audit", str(realcards / "LLM360__Amber"), "--no-weights", "--linked",
                                   "--reports", str(tmp_path), "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0 and fake_linked.github_calls() > 0


def test_names_that_would_walk_the_api_path_are_refused_without_a_request(fake_linked):
    from openscore.evidence.linked import LinkedConfig, LinkedError, crossref, github

    cfg = LinkedConfig()
    for call in (lambda: github("../users", cfg), lambda: github("org/..", cfg), lambda: crossref("10.1234/../../x", cfg)):
        with pytest.raises(LinkedError):
            call()
    assert not fake_linked.requests


def test_gate_reads_linked_evidence_with_linked_and_not_with_offline(realcards, fake_linked, tmp_path):
    """`openscore gate --linked` audits as `audit --linked` does: Amber's training code lives in a GitHub
    repository its card links, so a policy asking for trainingcode open passes only with linked evidence."""
    import contextlib

    from click.testing import CliRunner

    from openscore.cli import cli

    _amber(fake_linked)
    (tmp_path / "openscore.yaml").write_text("rubrics:\n  osai-v3:\n    dimensions:\n      trainingcode: open\n")
    amber = str(realcards / "LLM360__Amber")

    def gate(*flags: str):
        with contextlib.chdir(tmp_path):
            res = CliRunner().invoke(cli, ["gate", amber, "--no-weights", *flags, "--format", "json"],
                                     catch_exceptions=False)
        checks = {c["rule"]: c["status"] for m in json.loads(res.stdout)["models"] for c in m["checks"]}
        return res.exit_code, checks["rubric.osai-v3.dimension.trainingcode"]

    assert gate() == (1, "fail") and not fake_linked.requests
    assert gate("--linked", "--offline") == (1, "fail") and not fake_linked.requests
    assert gate("--linked") == (0, "pass") and fake_linked.github_calls() > 0


def test_an_open_dataset_licence_read_from_the_hub_makes_non_open_weights_partly_open(
        realcards, fake_linked, fake_hub, monkeypatch, tmp_path):
    """BLOOMZ: RAIL weights, and xP3 (its `datasets:`) under Apache-2.0 on its dataset card: OSAI's "only
    parts of the model and data sources are released under an open license" is partial; offline the card
    alone shows no open part."""
    card = tmp_path / "xP3"
    card.mkdir()
    (card / "README.md").write_text("---\nlicense: apache-2.0\n---\n# xP3\n")
    fake_hub.add_repo("bigscience/xP3", card, dataset=True)
    fake_hub.unrecorded_datasets_unavailable = True  # xP3mt, P3: not checked, never "not found"
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("OPENSCORE_HUB_TRIES", "1")
    offline = audit(str(realcards / "bigscience__bloomz"), weights=False, rubrics=["osai-v3"])
    assert grades(offline, "osai-v3")["licenses"].grade == "closed"
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report, "osai-v3")["licenses"]
    assert g.grade == "partial" and any(e.url and e.url.endswith("/datasets/bigscience/xP3") for e in g.evidence)
    assert grades(report, "osai-v3")["datasources_endmodel"].grade == "open"  # none gated, none missing


@pytest.mark.parametrize("folder", ["LLM360__Amber", "allenai__OLMo-7B", "EleutherAI__pythia-6.9b"])
def test_the_class_i_models_reach_class_ii_with_the_code_repositories_their_cards_link(realcards, fake_linked, folder):
    """Issue 16: MOT's Class I models. Their cards and files give Class III; the GitHub repositories they link
    (file lists recorded in bench/linked_answers.yaml) hold the training, evaluation and data-preparation
    code, giving Class II; Class I also needs `datasets`: the licences on their datasets' Hub cards."""
    from pathlib import Path

    import yaml

    answers = yaml.safe_load((Path(__file__).parents[1] / "bench" / "linked_answers.yaml").read_text("utf-8"))
    for repo, facts in answers["github"].items():
        fake_linked.add_repo(repo, licence=facts["licence"], paths=tuple(facts["paths"]))
    offline = audit(str(realcards / folder), weights=False, rubrics=["mof"]).rubrics["mof"]
    assert offline.classification == "Class III"
    linked = audit(str(realcards / folder), weights=False, rubrics=["mof"], linked=True).rubrics["mof"]
    assert linked.classification == "Class II" and linked.unmet == ["datasets"]


@pytest.mark.parametrize(("paths", "expected"), [
    (("README.md", "fastchat/train/train.py", "docs/training.md"), "partial"),
    (("README.md", "fastchat/serve/cli.py"), "closed"),
])
def test_a_linked_repositorys_licence_is_an_open_part_only_where_it_holds_training_code(
        realcards, fake_linked, paths, expected):
    """Vicuna v1.5: Llama 2 weights; FastChat (Apache-2.0), which its card links, holds the training code (the
    index: partial). OSAI's parts are weights, training code and training data, so the same licence on a
    repository that serves the model but holds no training code is no open part: closed."""
    fake_linked.add_repo("lm-sys/FastChat", licence="Apache-2.0", paths=paths)
    report = audit(str(realcards / "lmsys__vicuna-7b-v1.5"), weights=False, linked=True, rubrics=["osai-v3"])
    g = grades(report, "osai-v3")["licenses"]
    assert g.grade == expected, g.reason
    if expected == "partial":
        assert any(e.url == "https://github.com/lm-sys/FastChat" for e in g.evidence)
        # the strict profile reads the criterion's "at least two" of weights, training code, training data
        from openscore.rubrics import load_rubric, score
        rubric, result = load_rubric("osai-v3"), report.rubrics["osai-v3"]
        graded = {x.dimension: x.grade for x in result.grades}
        assert not {d for d, v in graded.items() if v == "open"} & {"weights_basemodel", "weights_endmodel",
                                                                   "datasources_basemodel", "datasources_endmodel"}
        assert result.scores["osai-compatible"] == score(rubric, graded, "osai-compatible")
        assert result.scores["strict"] == score(rubric, {**graded, "licenses": "closed"}, "strict")
