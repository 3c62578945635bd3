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
