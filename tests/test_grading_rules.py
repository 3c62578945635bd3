"""The grading maps (openscore/data/grading/*.yaml): valid, complete, and strict about mistakes."""

from __future__ import annotations

import pytest

from openscore.errors import ConfigError
from openscore.yamlconfig import load_yaml_model
from openscore.openness.checks import CHECKS
from openscore.openness.rules import GradingMap, load_grading
from openscore.resources import package_data
from openscore.rubrics import list_rubrics, load_rubric

GRADED = sorted(p.stem for p in package_data("grading").glob("*.yaml"))


def test_every_rubric_has_a_grading_map_and_back():
    assert GRADED == list_rubrics() == ["mof", "osai-v1", "osai-v3", "osaid"]


@pytest.mark.parametrize("rubric_id", GRADED)
def test_grading_map_covers_exactly_the_rubric_dimensions(rubric_id):
    grading = load_grading(rubric_id)
    assert sorted(grading.dimensions) == sorted(load_rubric(rubric_id).dimension_ids)
    for dim, rules in grading.dimensions.items():
        assert rules[-1].when == [], f"{dim}: last rule is the fallback"
        assert all(r.reason for r in rules if r.grade), dim
        assert {c.check for r in rules for c in r.when} <= set(CHECKS)


def _write(tmp_path, body: str):
    path = tmp_path / "broken.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "body, message",
    [
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - when: [no_such_check]\n      grade: open\n      reason: r\n"
         "    - grade: closed\n      reason: r\n", "broken.yaml:5: dimensions.a.0.when.0.check: unknown check 'no_such_check'"),
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - when: [preprint]\n      grade: open\n      reason: r\n",
         "the last rule must have no `when`"),
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - grade: open\n", "needs a `reason`"),
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - same_as: b\n", "same_as 'b' is not another dimension"),
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - grade: great\n      reason: r\n", "broken.yaml:5"),
        ("rubric: x\nversion: '1'\ndimensions:\n  a:\n    - when: [gated]\n      same_as: b\n"
         "    - grade: open\n      reason: r\n  b:\n    - when: [gated]\n      same_as: a\n"
         "    - grade: open\n      reason: r\n", "same_as rules form a cycle"),
    ],
)
def test_broken_grading_maps_fail_with_file_and_line(tmp_path, body, message):
    with pytest.raises(ConfigError) as err:
        load_yaml_model(GradingMap, _write(tmp_path, body))
    assert message in str(err.value)


def test_shorthand_negation_and_reuse_across_maps():
    v3, v1 = load_grading("osai-v3"), load_grading("osai-v1")
    first = v3.dimensions["modelcard"][0].when[0]
    assert (first.check, first.negate, first.label) == ("front_matter", True, "not-front_matter")
    assert v1.dimensions["opencode"] == v3.dimensions["trainingcode"]  # "osai-v3/trainingcode" reuses its rules


def test_every_check_is_used_by_some_grading_map():
    used = {c.check for r in GRADED for rules in load_grading(r).dimensions.values() for rule in rules for c in rule.when}
    assert used == set(CHECKS)
