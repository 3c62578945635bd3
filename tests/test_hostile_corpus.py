"""The generated hostile corpus (tests/hostile_corpus.py): every case is clean."""

from __future__ import annotations

import pytest

from tests.hostile_corpus import cases, run_case

CASES = {case.name: case for case in cases()}


def test_the_corpus_covers_every_class_this_branch_fixes():
    assert {c.klass for c in CASES.values()} >= {"hostile checkpoint", "quadratic paths", "valid but unusual",
                                                 "unbounded resources", "gate isolation", "silent answers",
                                                 "hub answers"}


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case_is_clean(tmp_path, fake_hub, name):
    outcome = run_case(CASES[name], tmp_path, fake_hub)
    assert outcome.clean, outcome.problems
