"""The match table behind bench/fidelity.py names real folders and real expert entries, and the
agreement tally counts steps the way the benchmark reports them."""

from __future__ import annotations

from openscore.anchors.fidelity import Tally, compare_osai, load_matches
from openscore.rubrics import load_rubric


def test_every_match_names_a_realcards_folder_and_an_expert_entry(shared_data):
    table = load_matches()
    assert set(table.osai_observable) <= set(load_rubric("osai-v3").dimension_ids)
    for m in table.osai:
        assert (shared_data / "realcards" / m.folder).is_dir(), m.folder
        assert (shared_data / "anchors" / "osai-main-database" / m.entry).is_file(), m.entry
    for m in table.mot:
        assert (shared_data / "realcards" / m.folder).is_dir(), m.folder
        assert (shared_data / "anchors" / "mot" / "models" / m.entry).is_file(), m.entry
    assert {m.folder for m in table.mot if m.quality == "same_model"} >= {
        "LLM360__Amber", "allenai__OLMo-7B", "EleutherAI__pythia-6.9b"}


def test_the_tally_counts_steps_and_keeps_unknown_and_na_apart():
    tallies = {"all": Tally(), "a": Tally(), "b": Tally(), "c": Tally(), "d": Tally(), "e": Tally()}
    ours = {"a": "open", "b": "closed", "c": "unknown", "d": "partial", "e": "open"}
    theirs = {"a": "open", "b": "open", "c": "closed", "d": "open", "e": "n/a"}
    compare_osai(ours, theirs, "x", ["a", "b", "c", "d", "e"], tallies)
    t = tallies["all"]
    assert (t.exact, t.one_off, t.two_off, t.unknown, t.less_open) == (1, 1, 1, 1, 2)
    assert t.cases == ["x/b: closed vs experts open"]
    assert t.line().startswith("3 cells: exact 33 %, within one 67 %, two off 1, unknown 1")


def test_every_cell_that_differs_from_the_experts_on_exact_matches_is_argued(shared_data):
    """Issue 16's acceptance: on exact and same-version matches, a repository-observable cell (or any cell two
    steps off) that differs from the index is argued in the match table's `disputed` list, and every argument
    names a cell of such a match."""
    from openscore.anchors import osai
    from openscore.anchors.fidelity import STEP
    from openscore.audit import audit

    table, rubric = load_matches(), load_rubric("osai-v3")
    exact = [m for m in table.osai if m.quality in ("same_model", "same_version")]
    unargued = []
    for m in exact:
        theirs = osai.grades(osai.load(shared_data / "anchors" / "osai-main-database" / m.entry), rubric)
        report = audit(str(shared_data / "realcards" / m.folder), weights=False, rubrics=["osai-v3"])
        for g in report.rubrics["osai-v3"].grades:
            if g.grade in STEP and theirs.get(g.dimension) in STEP and g.grade != theirs[g.dimension]:
                two_off = abs(STEP[g.grade] - STEP[theirs[g.dimension]]) == 2
                if (g.dimension in table.osai_observable or two_off) and table.dispute(m.folder, g.dimension) is None:
                    unargued.append(f"{m.folder}/{g.dimension}")
    assert not unargued
    folders = {m.folder for m in exact}
    assert all(d.folder in folders and d.dimension in rubric.dimension_ids and d.note for d in table.disputed)
