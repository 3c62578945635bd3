"""`openscore lock` / `openscore verify`: pins, swapped/missing/extra files, LFS pointers, offline, the Hub."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.lock import load_lock, lock_sources, verify
from openscore.samples import materialize


def run(args: list[str], cwd: Path):
    with contextlib.chdir(cwd):
        return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture
def model_repo(tmp_path) -> Path:
    """A model repository (the sample's files) with its lock at the root, as a pre-commit hook sees it."""
    repo = tmp_path / "repo"
    shutil.copytree(materialize("tiny-llama"), repo, ignore=shutil.ignore_patterns(".complete"))
    res = run(["lock", "."], repo)
    assert res.exit_code == 0, res.stderr
    return repo


def test_lock_pins_every_file_with_size_and_sha256(model_repo):
    lock = load_lock(model_repo / "openscore.lock")
    (entry,) = lock.models
    assert entry.kind == "local" and entry.path == "." and entry.repo_id == "local/repo"
    assert [f.path for f in entry.files] == ["LICENSE", "README.md", "config.json", "model.safetensors"]
    weights = entry.files[-1]
    assert weights.size == (model_repo / "model.safetensors").stat().st_size
    import hashlib

    assert weights.sha256 == hashlib.sha256((model_repo / "model.safetensors").read_bytes()).hexdigest()
    before = (model_repo / "openscore.lock").read_bytes()
    assert run(["lock", "."], model_repo).exit_code == 0
    assert (model_repo / "openscore.lock").read_bytes() == before  # deterministic, and never locks itself


def test_verify_offline_passes_on_an_untouched_snapshot(model_repo):
    res = run(["verify", "--offline"], model_repo)
    assert res.exit_code == 0, res.stderr
    assert "OK: 1 of 1 model(s) match openscore.lock" in res.stderr


def test_verify_offline_catches_a_swapped_weight_file_of_the_same_size(model_repo):
    weights = model_repo / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte differs: only the hash can tell
    weights.write_bytes(bytes(data))
    res = run(["verify", "--offline"], model_repo)
    assert res.exit_code == 1
    assert "modified model.safetensors: sha256" in res.stderr
    assert "[openscore.lock:" in res.stderr


def test_verify_catches_missing_resized_and_extra_weight_files(model_repo):
    (model_repo / "config.json").unlink()
    with open(model_repo / "README.md", "a") as fh:
        fh.write("edited\n")
    shutil.copy(model_repo / "model.safetensors", model_repo / "model-extra.safetensors")
    (model_repo / "notes.txt").write_text("not a weight file: ignored\n")
    (check,) = verify(model_repo / "openscore.lock", offline=True)
    assert check.failed
    assert [(p.kind, p.path) for p in check.problems] == [
        ("modified", "README.md"), ("missing", "config.json"), ("extra", "model-extra.safetensors")]


def test_verify_a_folder_named_on_the_command_line(model_repo, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(model_repo, copy)
    res = run(["verify", "--offline", "--lock", str(model_repo / "openscore.lock"), str(copy)], tmp_path)
    assert res.exit_code == 0, res.stderr
    (copy / "model.safetensors").write_bytes(b"")
    res = run(["verify", "--offline", "--lock", str(model_repo / "openscore.lock"), str(copy)], tmp_path)
    assert res.exit_code == 1 and "model.safetensors: size 0 differs" in res.stderr


def test_verify_lfs_pointer_folders_against_the_pointer(realcards, tmp_path):
    src = realcards / "tiiuae__falcon-7b"
    lock = lock_sources([str(src)], tmp_path / "openscore.lock")
    locked = {f.path: f for f in lock.models[0].files}
    shard = locked["pytorch_model-00001-of-00002.bin"]
    assert shard.size > 1_000_000_000  # the real size, read from the pointer
    (check,) = verify(tmp_path / "openscore.lock", [str(src)], offline=True)
    assert check.status == "ok" and "Git-LFS pointers" in check.note

    swapped = tmp_path / "swapped"
    shutil.copytree(src, swapped)
    pointer = swapped / "pytorch_model-00001-of-00002.bin.lfs-pointer"
    text = pointer.read_text()
    pointer.chmod(0o644)
    pointer.write_text(text.replace(shard.sha256, "0" * 64))
    (check,) = verify(tmp_path / "openscore.lock", [str(swapped)], offline=True)
    assert [(p.kind, p.path) for p in check.problems] == [("modified", "pytorch_model-00001-of-00002.bin")]


def test_invalid_lock_file_is_a_config_error_with_its_line(tmp_path):
    (tmp_path / "openscore.lock").write_text(json.dumps(
        {"lock_version": 1, "models": [{"source": "a/b", "kind": "hub", "repo_id": "a/b", "sha": "x",
                                        "files": [{"path": "m", "size": -1, "sha256": "0" * 64}]}]}, indent=2))
    res = run(["verify", "--offline"], tmp_path)
    assert res.exit_code == 2
    assert "openscore.lock:" in res.stderr and "invalid lock file: models.0.files.0.size" in res.stderr
    assert run(["verify", "--offline", "--lock", "absent.lock"], tmp_path).exit_code == 2


def test_hub_lock_verify_offline_never_calls_the_hub_and_online_sees_a_moved_branch(fake_hub, tmp_path):
    v1 = tmp_path / "v1"
    shutil.copytree(materialize("tiny-llama"), v1, ignore=shutil.ignore_patterns(".complete"))
    fake_hub.add_repo("acme/tiny", v1)
    lock_path = tmp_path / "openscore.lock"
    lock = lock_sources(["acme/tiny@main"], lock_path, endpoint=fake_hub.endpoint)
    entry = lock.models[0]
    assert entry.kind == "hub" and entry.revision == "main" and entry.path is None
    local = {f.path: f for f in load_lock(lock_path).models[0].files}
    import hashlib

    for name in ("config.json", "model.safetensors"):  # small files hashed by reading, LFS from the Hub
        assert local[name].sha256 == hashlib.sha256((v1 / name).read_bytes()).hexdigest()

    fake_hub.reset_counters()
    (skipped,) = verify(lock_path, offline=True)
    assert skipped.status == "skipped"
    (snapshot,) = verify(lock_path, [str(v1)], offline=True)  # the downloaded snapshot, checked offline
    assert snapshot.status == "ok"
    assert fake_hub.bytes_sent() == 0

    (online,) = verify(lock_path, endpoint=fake_hub.endpoint)
    assert online.status == "ok"
    v2 = tmp_path / "v2"
    shutil.copytree(v1, v2)
    (v2 / "config.json").write_text("{}\n")
    fake_hub.add_repo("acme/tiny", v2)  # main moves to a new commit
    (moved,) = verify(lock_path, endpoint=fake_hub.endpoint)
    assert moved.failed
    assert [p.kind for p in moved.problems] == ["moved", "modified"]


def test_a_locked_sample_verifies_offline(tmp_path):
    lock_sources(["sample:tiny-llama"], tmp_path / "openscore.lock")
    (check,) = verify(tmp_path / "openscore.lock", offline=True)
    assert check.status == "ok" and check.repo_id == "openscore-samples/tiny-llama"
