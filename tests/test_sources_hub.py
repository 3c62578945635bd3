"""HubSource through the real huggingface_hub client against the fake Hub on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from openscore.errors import (
    EntryNotFound,
    GatedRepo,
    HubServerError,
    InvalidHubResponse,
    NetworkUnavailable,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
    UnsafePickle,
)
from openscore.formats import assert_safe, read_checkpoint
from openscore.sources import open_source
from openscore.sources.hub import HubSource, RetryPolicy
from tests import checkpoint_builders as build

FAST = RetryPolicy(tries=3, base_wait=0.0, max_wait=0.0)


def _hub(fake_hub, repo_id, **kwargs) -> HubSource:
    return HubSource(repo_id, endpoint=fake_hub.endpoint, token=False, retry=FAST, **kwargs)


@pytest.fixture(scope="module")
def big_shards(tmp_path_factory):
    """Three ~24 MB shards: big enough that reading them whole would show in the byte counts."""
    folder = tmp_path_factory.mktemp("big-shards")
    build.sharded_safetensors(folder, 3, rows_per_shard=3072, row_bytes=4096)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: org/base\n---\n# big\n")
    return folder


def test_hub_inventory_and_headers_equal_the_local_read(fake_hub, big_shards):
    fake_hub.add_repo("org/big", big_shards)
    local = open_source(str(big_shards))
    remote = open_source("org/big", endpoint=fake_hub.endpoint, token=False)
    local_inv, remote_inv = local.inventory(), remote.inventory()
    assert [(f.path, f.size) for f in remote_inv.files] == [(f.path, f.size) for f in local_inv.files]
    for entry in remote_inv.files:
        mine = local_inv.get(entry.path)
        if entry.lfs:  # the Hub gives sha256 for LFS files, blob ids for the others
            assert entry.sha256 == mine.sha256
        else:
            assert entry.blob_id == mine.blob_id
    assert remote_inv.ref.kind == "hub" and len(remote_inv.ref.sha) == 40
    assert remote_inv.card_data["license"] == "apache-2.0"

    fake_hub.reset_counters()
    remote_headers = read_checkpoint(remote)
    local_headers = read_checkpoint(local)
    assert remote_headers.tensors == local_headers.tensors
    assert remote_headers.config == local_headers.config
    assert remote_headers.index == local_headers.index
    assert remote_headers.file_metadata == local_headers.file_metadata
    shards = [f for f in remote_inv.files if f.path.endswith(".safetensors")]
    assert len(shards) == 3
    for shard in shards:
        assert shard.size > 20_000_000
        sent = fake_hub.bytes_sent(shard.path)
        assert 0 < sent < 1_000_000 and sent * 100 < shard.size
    assert remote_headers.bytes_read == sum(fake_hub.bytes_sent(s.path) for s in shards)


def test_every_read_uses_the_pinned_commit(fake_hub, tmp_path):
    build.single_safetensors(tmp_path)
    fake_hub.add_repo("org/pinned", tmp_path)
    source = _hub(fake_hub, "org/pinned")
    read_checkpoint(source)
    resolves = [r["path"] for r in fake_hub.requests if "/resolve/" in r["path"]]
    assert resolves and all(f"/resolve/{source.ref.sha}/" in p for p in resolves)
    assert sum(1 for r in fake_hub.requests if r["path"] == "/api/models/org/pinned") == 1


def test_revisions_and_refs(fake_hub, tmp_path):
    build.single_safetensors(tmp_path / "main")
    build.single_safetensors(tmp_path / "step1000", build.llama_tensors(layers=1))
    fake_hub.add_repo("org/pythia", tmp_path / "main", revisions={"step1000": tmp_path / "step1000"},
                      tags=("v1.0",))
    main, step = _hub(fake_hub, "org/pythia"), _hub(fake_hub, "org/pythia", revision="step1000")
    assert main.ref.sha != step.ref.sha and step.ref.revision == "step1000"
    assert main.inventory().refs == ("step1000",)
    assert len(read_checkpoint(step).tensors) < len(read_checkpoint(main).tensors)
    by_sha = open_source(f"org/pythia@{step.ref.sha}", endpoint=fake_hub.endpoint, token=False)
    assert by_sha.ref.sha == step.ref.sha


def test_gguf_header_by_range_reads(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr("openscore.formats.gguf_header.MIN_READ_BYTES", 4 * 1024)
    # ~50 kB of token strings (the reads grow with what the walk knows), then 12 kB of token types
    build.gguf_file(tmp_path / "model-Q8_0.gguf", vocab=3000, rows=20_000, token_types=True)
    fake_hub.add_repo("org/gguf", tmp_path)
    remote = read_checkpoint(_hub(fake_hub, "org/gguf"))
    local = read_checkpoint(open_source(str(tmp_path)))
    assert remote.tensors == local.tensors
    assert remote.gguf_metadata == local.gguf_metadata
    assert remote.gguf_metadata["tokenizer.ggml.tokens"] == {"array_length": 3000}
    assert remote.gguf_metadata["tokenizer.ggml.token_type"] == {"array_length": 3000}
    ranges = [r["range"] for r in fake_hub.requests if r["path"].endswith("/model-Q8_0.gguf")]
    assert len(ranges) >= 2 and ranges[0] == "bytes=0-4095"
    # every byte of the header but the token types (kept by length only, stepped over), and at most a
    # minimal read's worth past the token strings and past the header's end
    extent = local.bytes_read
    assert extent - 3000 * 4 < fake_hub.bytes_sent("model-Q8_0.gguf") <= extent - 3000 * 4 + 2 * 4 * 1024
    assert remote.bytes_read == fake_hub.bytes_sent("model-Q8_0.gguf")


def test_small_remote_pickle_is_downloaded_and_scanned(fake_hub, tmp_path):
    marker = tmp_path / "pwned"
    build.write_config(tmp_path / "repo")
    build.malicious_pickle(tmp_path / "repo" / "pytorch_model.bin", marker)
    fake_hub.add_repo("org/evil", tmp_path / "repo")
    headers = read_checkpoint(_hub(fake_hub, "org/evil"))
    assert "posix.system" in headers.pickle_scans[0].dangerous
    with pytest.raises(UnsafePickle):
        assert_safe(headers)
    assert not marker.exists()


def test_large_remote_pickle_reports_the_hubs_own_scan(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr("openscore.formats.pickles.REMOTE_SCAN_MAX_BYTES", 10)  # "large": not downloaded
    build.torch_bin(tmp_path, shards=2)
    verdict = {"status": "unsafe", "avScan": {"virusFound": False}, "pickleImportScan": {
        "highestSafetyLevel": "dangerous",
        "imports": [{"module": "collections", "name": "OrderedDict", "safety": "innocuous"},
                    {"module": "posix", "name": "system", "safety": "dangerous"}]}}
    fake_hub.add_repo("org/big-pickle", tmp_path, security={"pytorch_model-00001-of-00002.bin": verdict})
    headers = read_checkpoint(_hub(fake_hub, "org/big-pickle"))
    scans = {s.file: s for s in headers.pickle_scans}
    assert scans["pytorch_model-00001-of-00002.bin"].dangerous == ("posix.system",)
    assert scans["pytorch_model-00002-of-00002.bin"].error.startswith("not scanned")
    assert fake_hub.bytes_sent("pytorch_model-00001-of-00002.bin") == 0
    with pytest.raises(UnsafePickle, match="posix.system"):
        assert_safe(headers)


def test_pointer_only_files_on_the_hub_count_as_absent_weights(fake_hub, realcards):
    fake_hub.add_repo("Qwen/Qwen-7B", realcards / "Qwen__Qwen-7B")
    source = _hub(fake_hub, "Qwen/Qwen-7B")
    shard = source.inventory().get("model-00001-of-00008.safetensors")
    assert shard.lfs and shard.size == 1964066488
    with pytest.raises(EntryNotFound):
        source.read_range("model-00001-of-00008.safetensors", 0, 8)  # the server has only the pointer


def test_server_ignoring_range(fake_hub, tmp_path, monkeypatch):
    build.single_safetensors(tmp_path)
    fake_hub.add_repo("org/norange", tmp_path)
    fake_hub.honour_range = False
    source = _hub(fake_hub, "org/norange")
    data = (tmp_path / "model.safetensors").read_bytes()
    assert source.read_range("model.safetensors", 10, 20) == data[10:30]  # near the start: skip and stop
    assert read_checkpoint(source).tensors == read_checkpoint(open_source(str(tmp_path))).tensors
    monkeypatch.setattr("openscore.sources.hub.MAX_SKIP_BYTES", 1000)
    with pytest.raises(InvalidHubResponse, match="ignores Range") as info:  # far in: refuse to stream up to there
        source.read_range("model.safetensors", 5000, 8)
    assert info.value.exit_code == 16


# -- errors -----------------------------------------------------------------------------------------

def test_gated_repo_metadata_readable_files_not(fake_hub, tmp_path):
    build.single_safetensors(tmp_path)
    fake_hub.add_repo("org/gated", tmp_path, gated="manual")
    source = _hub(fake_hub, "org/gated")
    assert source.inventory().gated == "manual"
    with pytest.raises(GatedRepo) as info:
        read_checkpoint(source)
    assert info.value.exit_code == 12 and "\n" not in str(info.value)
    with_token = HubSource("org/gated", endpoint=fake_hub.endpoint, token="hf_fake", retry=FAST)
    assert read_checkpoint(with_token).tensors


def test_repo_not_found(fake_hub):
    with pytest.raises(RepoNotFound) as info:
        _hub(fake_hub, "org/missing").inventory()
    assert info.value.exit_code == 10


def test_revision_not_found(fake_hub, tmp_path):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/r", tmp_path)
    with pytest.raises(RevisionNotFound) as info:
        _hub(fake_hub, "org/r", revision="nope").inventory()
    assert info.value.exit_code == 11


def test_missing_file(fake_hub, tmp_path):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/f", tmp_path)
    source = _hub(fake_hub, "org/f")
    with pytest.raises(EntryNotFound) as info:
        source.read_range("model.safetensors", 0, 8)
    assert info.value.exit_code == 15
    assert source.read_text("README.md") is None


def test_rate_limit_then_success(fake_hub, tmp_path):
    build.single_safetensors(tmp_path)
    fake_hub.add_repo("org/busy", tmp_path)
    fake_hub.rate_limit_next(2)
    source = _hub(fake_hub, "org/busy")
    assert source.inventory().files
    model_calls = [r for r in fake_hub.requests if r["path"] == "/api/models/org/busy"]
    assert [r["status"] for r in model_calls] == [429, 429, 200]
    fake_hub.rate_limit_next(1)  # a ranged read is retried too
    assert read_checkpoint(source).tensors


def test_rate_limit_persistent(fake_hub, tmp_path):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/busy", tmp_path)
    fake_hub.rate_limit_next(100, reset=3600)
    with pytest.raises(RateLimited) as info:
        _hub(fake_hub, "org/busy").inventory()  # max_wait=0 caps the hour-long reset
    assert info.value.exit_code == 13
    assert sum(1 for r in fake_hub.requests if r["status"] == 429) == FAST.tries


def test_transient_server_errors_are_retried_then_reported(fake_hub, tmp_path):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/flaky", tmp_path)
    fake_hub.fail_next(2, 503)
    assert _hub(fake_hub, "org/flaky").inventory().files
    fake_hub.fail_next(100, 500)
    with pytest.raises(HubServerError, match="HTTP 500 .* after 3 tries") as info:
        _hub(fake_hub, "org/flaky").inventory()
    assert info.value.exit_code == 17 and info.value.evaluation_failure


def test_retry_waits_follow_ratelimit_reset_capped(fake_hub, tmp_path, monkeypatch):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/busy", tmp_path)
    waits = []
    monkeypatch.setattr("openscore.sources.hub.time.sleep", waits.append)
    fake_hub.rate_limit_next(2, reset=7)
    HubSource("org/busy", endpoint=fake_hub.endpoint, token=False,
              retry=RetryPolicy(tries=3, max_wait=5.0)).inventory()
    assert waits == [5.0, 5.0]


def test_offline_mode(fake_hub, tmp_path, monkeypatch):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/off", tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NetworkUnavailable) as info:
        _hub(fake_hub, "org/off").inventory()
    assert info.value.exit_code == 14
    assert fake_hub.requests == []


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = HubSource("org/x", endpoint=f"http://127.0.0.1:{port}", token=False, retry=FAST)
    with pytest.raises(NetworkUnavailable, match="cannot reach"):
        source.inventory()


def test_hf_endpoint_environment_is_used(fake_hub, tmp_path, monkeypatch):
    build.write_config(tmp_path)
    fake_hub.add_repo("org/env", tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    assert open_source("org/env", token=False).ref.location == fake_hub.endpoint


# -- exit codes through the CLI -------------------------------------------------------------------

def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("case, spec, code", [
    ("gated", "org/gated", GatedRepo.exit_code),
    ("missing repo", "org/nothing", RepoNotFound.exit_code),
    ("missing revision", "org/open@v9", RevisionNotFound.exit_code),
    ("rate limited", "org/open", RateLimited.exit_code),
    ("offline", "org/open", NetworkUnavailable.exit_code),
    ("closed port", "org/open", NetworkUnavailable.exit_code),
])
def test_hub_errors_exit_codes_through_the_cli(fake_hub, tmp_path, monkeypatch, case, spec, code):
    from click.testing import CliRunner

    from openscore.cli import cli

    build.single_safetensors(tmp_path)
    fake_hub.add_repo("org/gated", tmp_path, gated=True)
    fake_hub.add_repo("org/open", tmp_path)
    monkeypatch.setenv("OPENSCORE_HUB_MAX_WAIT", "0")
    endpoint = _closed_port() if case == "closed port" else fake_hub.endpoint
    if case == "rate limited":
        fake_hub.rate_limit_next(1000)
    if case == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(cli, ["inspect", spec, "--endpoint", endpoint])
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("openscore: error: ") and result.stderr.count("\n") == 1
