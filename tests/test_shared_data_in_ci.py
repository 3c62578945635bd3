"""Tests that need ../shared/data skip on a checkout without it, and fail in CI, where it must be there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDS_DATA = "tests/test_layout_build.py::test_real_bert_checkpoint_from_its_headers"


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["OPENSCORE_SHARED_DATA"] = str(tmp_path / "no-shared-data")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", NEEDS_DATA],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_missing_shared_data_fails(tmp_path, ci):
    proc = _pytest(tmp_path, ci)
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout
    assert "CI is set, so tests that need ../shared/data fail instead of skipping" in proc.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_missing_shared_data_skips(tmp_path, ci):
    proc = _pytest(tmp_path, ci)
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout and "no-shared-data (../shared/data is absent)" in proc.stdout
