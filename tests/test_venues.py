"""The venue of the card's own paper (openscore.evidence.venues), asked of Semantic Scholar's Graph API through
plain HTTP against the loopback fake in tests/fakelinked.py: the OSAI `paper` cell of BLOOMZ and Vicuna
(issue 16: arXiv-only cards whose papers appeared at ACL and NeurIPS), preprints that no venue published,
429 with Retry-After, malformed answers, the API key, the cache. HF_HUB_OFFLINE / --offline: tests/test_linked.py
(Amber's card cites its own paper, and an offline audit asks nothing)."""

from __future__ import annotations

import pytest

from openscore.audit import audit
from openscore.evidence.linked import LinkedConfig, LinkedError
from openscore.evidence.venues import MAX_TRIES, semantic_scholar
from tests.test_linked import fake_linked, grades  # noqa: F401 (the fixture)

ACL = "Annual Meeting of the Association for Computational Linguistics"
BLOOMZ_PAPER = "Crosslingual Generalization through Multitask Finetuning"


def _bloomz(fake) -> None:
    fake.add_s2_paper(["arXiv:2211.01786"], BLOOMZ_PAPER, ACL, "conference", types=["JournalArticle", "Conference"])


def _venues(report) -> dict:
    return report.evidence["venues"]


def test_a_preprint_an_index_lists_at_acl_makes_the_paper_open(realcards, fake_linked):
    _bloomz(fake_linked)
    plain = audit(str(realcards / "bigscience__bloomz"), weights=False, rubrics=["osai-v3"])
    assert grades(plain, "osai-v3")["paper"].grade == "closed"
    # without linked evidence nothing was asked, and the grade says nothing of Semantic Scholar (as before it)
    searched = grades(plain, "osai-v3")["paper"].searched
    assert not fake_linked.requests and not any("Semantic Scholar" in s for s in searched)
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    paper = grades(report, "osai-v3")["paper"]
    assert paper.grade == "open" and "Semantic Scholar" in paper.reason
    ev = next(e for e in paper.evidence if e.extractor == "venues@1.0")
    assert ev.url == f"{fake_linked.url}/s2/paper/arXiv:2211.01786"
    assert f"published in {ACL} (conference" in ev.snippet and "fetched " in ev.snippet
    [obs] = _venues(report)["observations"]
    assert obs["value"]["link"] == "arxiv:2211.01786" and obs["value"]["peer_reviewed"] is True
    # one request for the paper the card cites three times (description, evaluation, citation)
    assert fake_linked.s2_calls() == 1


def test_vicuna_neurips_paper_is_found_and_only_the_cards_own_paper_is_asked_about(realcards, fake_linked):
    """Vicuna's card links its MT-Bench paper (called a paper) and Llama 2's (a bare link): only the first is
    its own paper."""
    fake_linked.add_s2_paper(["arXiv:2306.05685"], "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena",
                             "Neural Information Processing Systems", "conference")
    report = audit(str(realcards / "lmsys__vicuna-7b-v1.5"), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report, "osai-v3")["paper"].grade == "open"
    assert [p for p, _ in fake_linked.requests if p.startswith("/s2/")] == [
        "/s2/paper/arXiv:2306.05685?fields=title,venue,publicationVenue,publicationTypes,externalIds,year"]


@pytest.mark.parametrize("venue, venue_type", [(None, None), ("arXiv.org", "journal"), ("ArXiv", None)])
def test_a_preprint_no_venue_published_is_not_a_paper(realcards, fake_linked, venue, venue_type):
    """Semantic Scholar files unpublished preprints as JournalArticles, with no venue or in "arXiv.org"."""
    fake_linked.add_s2_paper(["arXiv:2312.06550"], "LLM360: Towards Fully Transparent Open-Source LLMs", venue,
                             venue_type, types=["JournalArticle"])
    report = audit(str(realcards / "LLM360__Amber"), weights=False, linked=True, rubrics=["osai-v3"])
    paper = grades(report, "osai-v3")["paper"]
    assert paper.grade == "closed"
    assert any("Semantic Scholar lists for the paper the card cites as its own" in s for s in paper.searched)
    [obs] = _venues(report)["observations"]
    assert obs["value"]["peer_reviewed"] is False and "no peer-reviewed venue" in obs["evidence"]["snippet"]


def test_a_doi_the_card_links_is_asked_by_doi(tmp_path, fake_linked, monkeypatch):
    monkeypatch.setenv("S2_API_KEY", "s2-k3y")
    doi = "10.1234/jmlr.2024.5"
    (tmp_path / "README.md").write_text(f"---\nlicense: mit\n---\n# M\n## Citation\nhttps://doi.org/{doi}\n")
    fake_linked.add_s2_paper([f"DOI:{doi}"], "A paper", "Journal of Machine Learning Research", "journal", doi=doi)
    report = audit(str(tmp_path), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report, "osai-v3")["paper"].grade == "open"  # Crossref does not know it (404): Semantic Scholar does
    [obs] = _venues(report)["observations"]
    assert obs["value"]["target"] == f"DOI:{doi}" and obs["value"]["doi"] == doi
    assert fake_linked.s2_keys == ["s2-k3y"]


def test_a_429_is_retried_after_its_retry_after(realcards, fake_linked):
    _bloomz(fake_linked)
    fake_linked.s2_429 = MAX_TRIES - 1
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    assert grades(report, "osai-v3")["paper"].grade == "open" and fake_linked.s2_calls() == MAX_TRIES


@pytest.mark.parametrize("retry_after, calls", [("0", MAX_TRIES), ("3600", 1)])
def test_a_rate_limit_that_outlasts_the_retries_is_not_evidence_and_stops_queries(
        fake_linked, retry_after, calls):
    """Every try answered 429, or a Retry-After longer than openscore waits: "not checked", and the next paper
    is not asked about in this audit."""
    fake_linked.s2_429, fake_linked.s2_retry_after = 100, retry_after
    cfg = LinkedConfig()
    with pytest.raises(LinkedError, match="rate limit reached"):
        semantic_scholar("arXiv:2211.01786", cfg)
    assert fake_linked.s2_calls() == calls
    with pytest.raises(LinkedError, match="set S2_API_KEY"):
        semantic_scholar("arXiv:2306.05685", cfg)
    assert fake_linked.s2_calls() == calls


def test_malformed_answers_are_not_evidence_and_do_not_fail_the_audit(realcards, fake_linked):
    fake_linked.malformed = True
    report = audit(str(realcards / "bigscience__bloomz"), weights=False, linked=True, rubrics=["osai-v3"])
    assert not _venues(report)["observations"] and grades(report, "osai-v3")["paper"].grade == "closed"
    assert _venues(report)["not_checked"] == ["arXiv:2211.01786: Semantic Scholar paper: not JSON"]
    fake_linked.malformed = False
    _bloomz(fake_linked)
    good = fake_linked.s2["arxiv:2211.01786"]
    for bad in ({"publicationVenue": ["not", "an object"]}, {"title": "x" * 5000}, {"year": "next year"},
                {"publicationTypes": "Conference"}):
        fake_linked.s2["arxiv:2211.01786"] = {**good, **bad}
        with pytest.raises(LinkedError, match="not a paper object"):
            semantic_scholar("arXiv:2211.01786", LinkedConfig())


def test_answers_are_cached_with_their_date(fake_linked):
    _bloomz(fake_linked)
    first = semantic_scholar("arXiv:2211.01786", LinkedConfig(today="2026-01-02"))
    again = semantic_scholar("arXiv:2211.01786", LinkedConfig(today="2026-03-04"))
    assert first == again and again["fetched"] == "2026-01-02" and fake_linked.s2_calls() == 1


def test_ids_that_would_walk_the_api_path_are_refused_without_a_request(fake_linked):
    for paper_id in ("DOI:10.1234/../../x", "arXiv:", "CorpusId:1", "DOI:10.1/./a"):
        with pytest.raises(LinkedError, match="not an arXiv id or a DOI"):
            semantic_scholar(paper_id, LinkedConfig())
    assert not fake_linked.requests


def test_retry_after_reads_seconds_and_http_dates_and_falls_back_to_a_doubling_wait():
    import email.utils
    import time

    from openscore.evidence.venues import DEFAULT_WAIT_S, _retry_after

    assert _retry_after("7", 1) == 7.0
    assert 50 < _retry_after(email.utils.formatdate(time.time() + 60, usegmt=True), 1) <= 60
    assert _retry_after("soon", 3) == _retry_after(None, 3) == 4 * DEFAULT_WAIT_S
