"""Reviewed overrides: shown beside the automatic grade, scored separately, strictly validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from openscore.audit import audit
from openscore.errors import ConfigError
from openscore.overrides import load_overrides

REPO = "local/EleutherAI__pythia-6.9b"
GOOD = """model: local/EleutherAI__pythia-6.9b
overrides:
  - rubric: osai-v3
    dimension: paper
    grade: open
    reason: Pythia was published at ICML 2023 (PMLR 202), a peer-reviewed venue the card does not link.
    reviewer: a.reviewer
    evidence: [https://proceedings.mlr.press/v202/biderman23a.html]
"""


def _write(root: Path, text: str, repo: str = REPO) -> Path:
    path = root / f"{repo}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return root


def test_override_is_shown_beside_the_automatic_grade_and_scored_apart(realcards, tmp_path):
    overrides = _write(tmp_path / "overrides", GOOD)
    plain = audit(str(realcards / "EleutherAI__pythia-6.9b"), weights=False, rubrics=["osai-v3"])
    reviewed = audit(str(realcards / "EleutherAI__pythia-6.9b"), weights=False, rubrics=["osai-v3"],
                     overrides_dir=overrides)
    before = {g.dimension: g for g in plain.rubrics["osai-v3"].grades}["paper"]
    after = {g.dimension: g for g in reviewed.rubrics["osai-v3"].grades}["paper"]
    assert before.grade == after.grade == "closed"  # never silently replaced
    assert after.override.grade == "open" and after.override.reviewer == "a.reviewer"
    assert after.override.file == f"overrides/{REPO}.yaml"
    scores = reviewed.rubrics["osai-v3"].scores
    assert scores["osai-compatible"] == plain.rubrics["osai-v3"].scores["osai-compatible"]
    assert scores["osai-compatible+overrides"] == pytest.approx(scores["osai-compatible"] + 1 / 12)
    assert "osai-compatible+overrides" not in plain.rubrics["osai-v3"].scores


@pytest.mark.parametrize(
    "change, message",
    [
        (("    reason: Pythia was published at ICML 2023 (PMLR 202), a peer-reviewed venue the card does not link.\n", ""),
         ":3: missing key 'overrides.0.reason'"),
        (("    evidence: [https://proceedings.mlr.press/v202/biderman23a.html]\n", "    evidence: []\n"),
         ":8: overrides.0.evidence"),
        (("dimension: paper", "dimension: papers"), ":3: rubric osai-v3 has no dimension 'papers'"),
        (("rubric: osai-v3", "rubric: osai-v9"), ":3: unknown rubric 'osai-v9'"),
        (("model: local/EleutherAI__pythia-6.9b", "model: other/model"), ":1: model 'other/model' does not match"),
        (("grade: open", "grade: excellent"), ":5: overrides.0.grade"),
    ],
)
def test_invalid_overrides_are_rejected_at_their_line(tmp_path, change, message):
    root = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_overrides(root, REPO)
    assert message in str(err.value) and f"{REPO}.yaml" in str(err.value)


def test_no_file_means_no_overrides(tmp_path):
    assert load_overrides(tmp_path, REPO) == {}
    assert load_overrides(None, REPO) == {}
