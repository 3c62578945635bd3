"""Local folders and samples as sources: inventory, LFS pointers, pinned refs, reads."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from openscore.errors import EntryNotFound, InvalidCheckpoint, UsageError
from openscore.formats import read_checkpoint
from openscore.sources import LocalSource, open_source, parse_hub_spec
from tests import checkpoint_builders as build


def test_inventory_lists_files_with_real_sha256_and_skips_git(tmp_path):
    build.single_safetensors(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("hello")
    inv = open_source(str(tmp_path)).inventory()
    assert [f.path for f in inv.files] == ["config.json", "model.safetensors", "sub/notes.txt"]
    weights = inv.get("model.safetensors")
    data = (tmp_path / "model.safetensors").read_bytes()
    assert weights.size == len(data) and weights.present and not weights.lfs
    assert weights.sha256 == hashlib.sha256(data).hexdigest()
    assert weights.blob_id == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert inv.ref.kind == "local" and inv.ref.repo_id == f"local/{tmp_path.name}"


def test_lfs_pointers_in_place_and_as_suffix_files_are_absent_weights(tmp_path):
    build.write_config(tmp_path)
    build.lfs_pointer(tmp_path / "model-00001-of-00002.safetensors", "a" * 64, 123_456_789)
    build.lfs_pointer(tmp_path / "model-00002-of-00002.safetensors.lfs-pointer", "b" * 64, 42)
    inv = open_source(str(tmp_path)).inventory()
    first, second = inv.get("model-00001-of-00002.safetensors"), inv.get("model-00002-of-00002.safetensors")
    assert (first.size, first.sha256, first.lfs, first.present) == (123_456_789, "a" * 64, True, False)
    assert (second.size, second.sha256, second.lfs, second.present) == (42, "b" * 64, True, False)
    assert inv.get("model-00002-of-00002.safetensors.lfs-pointer") is None
    assert inv.weights_absent
    source = open_source(str(tmp_path))
    with pytest.raises(EntryNotFound, match="only a Git-LFS pointer"):
        source.read_range("model-00001-of-00002.safetensors", 0, 8)
    assert source.local_path("model-00001-of-00002.safetensors") is None


def test_a_text_file_that_mentions_lfs_is_not_a_pointer(tmp_path):
    (tmp_path / "README.md").write_text("version https://git-lfs.github.com/spec/v1\nthis is prose, no oid\n")
    entry = open_source(str(tmp_path)).inventory().get("README.md")
    assert entry.present and not entry.lfs


def test_digest_ref_is_deterministic_and_tracks_content(tmp_path):
    build.single_safetensors(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    sha_a, sha_b = LocalSource(tmp_path / "a").ref.sha, LocalSource(tmp_path / "b").ref.sha
    assert sha_a == sha_b and len(sha_a) == 64
    (tmp_path / "b" / "config.json").write_text("{}")
    assert LocalSource(tmp_path / "b").ref.sha != sha_a


def test_git_checkout_is_pinned_to_its_head(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    build.write_config(tmp_path)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
           "GIT_COMMITTER_DATE": "2024-03-01T12:00:00+00:00", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for cmd in (["init", "-q"], ["add", "config.json"], ["commit", "-q", "-m", "c"]):
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, env=env)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    source = open_source(str(tmp_path))
    assert source.ref.sha == head
    assert source.ref.committed_at == "2024-03-01T12:00:00+00:00"
    assert [f.path for f in source.inventory().files] == ["config.json"]


def test_sample_spec_gives_a_sample_ref():
    source = open_source("sample:tiny-llama")
    assert source.ref.kind == "sample"
    assert source.ref.repo_id == "openscore-samples/tiny-llama"
    paths = [f.path for f in source.inventory().files]
    assert "model.safetensors" in paths and ".complete" not in paths
    assert open_source("sample:tiny-llama").ref.sha == source.ref.sha  # regenerated or cached: same digest


@pytest.mark.parametrize("spec", ["", "not a repo", "org/name/extra", "sample:no-such-sample", "org/na--me", "/x/y/z"])
def test_bad_specs_are_usage_errors(spec):
    with pytest.raises(UsageError) as caught:
        open_source(spec)
    assert type(caught.value) is UsageError and caught.value.exit_code == 2


def test_hub_spec_parsing():
    assert parse_hub_spec("meta-llama/Llama-2-7b-hf") == ("meta-llama/Llama-2-7b-hf", None)
    assert parse_hub_spec("EleutherAI/pythia-160m@step1000") == ("EleutherAI/pythia-160m", "step1000")
    assert parse_hub_spec("org/name@") is None
    assert parse_hub_spec("../etc") is None


def test_reads_are_bounded_and_typed(tmp_path):
    build.single_safetensors(tmp_path)
    source = open_source(str(tmp_path))
    size = source.inventory().get("model.safetensors").size
    assert source.read_range("model.safetensors", 8, 1) == b"{"
    with pytest.raises(InvalidCheckpoint, match="truncated"):
        source.read_range("model.safetensors", size - 4, 8)
    with pytest.raises(EntryNotFound):
        source.read_range("nope.bin", 0, 1)
    assert source.read_text("missing.md") is None
    assert '"model_type"' in source.read_text("config.json")
    with pytest.raises(InvalidCheckpoint, match="limit"):
        source.read_text("model.safetensors", max_bytes=100)
    assert source.local_path("model.safetensors") == tmp_path / "model.safetensors"


def _index_folders(realcards):
    return sorted({p.parent for p in realcards.glob("*/*.index.json")})


def test_every_realcards_folder_with_an_index_reads_offline(realcards):
    folders = _index_folders(realcards)
    assert len(folders) >= 20
    for folder in folders:
        source = open_source(str(folder))
        inventory = source.inventory()
        headers = read_checkpoint(source, inventory)
        assert headers.tensors, folder.name
        assert headers.weights_absent, folder.name  # realcards hold no weights
        assert headers.index is not None
        assert {t.name for t in headers.tensors} == set(headers.index)
        assert all(t.shape is None and t.dtype is None for t in headers.tensors)
        assert headers.config is None or isinstance(headers.config, dict)
        pointers = [f for f in inventory.files if f.lfs]
        assert all(not f.present and len(f.sha256) == 64 and f.size > 0 for f in pointers)


def test_realcards_pointer_sizes_match_the_manifest(realcards):
    qwen = open_source(str(realcards / "Qwen__Qwen-7B")).inventory()
    shard = qwen.get("model-00001-of-00008.safetensors")
    assert shard.sha256 == "9dfd6266bcf80de9c3e5cd4e60300d839d03e459e48975b08d3e3b286044a306"
    assert shard.size == 1964066488


def test_symlinks_out_of_the_folder_are_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private key")
    repo = tmp_path / "repo"
    build.write_config(repo)
    (repo / "README.md").symlink_to(secret)
    (repo / "config-link.json").symlink_to(repo / "config.json")
    source = open_source(str(repo))
    assert [f.path for f in source.inventory().files] == ["config-link.json", "config.json"]
    assert source.read_text("README.md") is None


def test_a_file_over_the_hub_git_limit_gets_sha256_but_no_content_blob_sha1(tmp_path):
    """Over 10 MiB the Hub keeps a file in LFS and reports the pointer's blob id: a content sha1 would
    never match it, so none is computed (it cost as much as the sha256). Several large files are hashed
    in parallel and give the same digests as hashing them one by one."""
    big = [tmp_path / f"part-{i}.bin" for i in range(3)]
    for i, path in enumerate(big):
        path.write_bytes(bytes([i]) * (10 * 1024 * 1024 + 1))
    (tmp_path / "small.bin").write_bytes(b"x" * 100)
    inv = open_source(str(tmp_path)).inventory()
    for path in big:
        entry = inv.get(path.name)
        assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry.blob_id is None
    assert inv.get("small.bin").blob_id == hashlib.sha1(b"blob 100\0" + b"x" * 100).hexdigest()
