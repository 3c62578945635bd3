"""`openscore fingerprint` / `openscore compare` through the CLI, and the Hub path by Range reads."""

from __future__ import annotations

import json

import pytest

from click.testing import CliRunner

from openscore.cli import cli
from openscore.weights import Fingerprint, compare
from test_weights_support import config, family, init_state, write_model


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_fingerprint_then_compare_files_says_renamed_copy(tmp_path):
    a, b = tmp_path / "a.osfp", tmp_path / "b.osfp"
    assert run("fingerprint", "sample:tiny-llama", "-o", str(a)).exit_code == 0
    assert run("fingerprint", "sample:tiny-llama-shell", "-o", str(b)).exit_code == 0
    res = run("compare", str(a), str(b), "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["verdict"] == "renamed-copy"
    assert ["model.layers.0.input_layernorm.weight", "model.layers.0.ln1.weight"] in doc["renames"]
    text = run("compare", str(a), "sample:tiny-llama-shell").stdout
    assert "verdict: renamed-copy" in text and "renamed: model.layers.3.post_attention_layernorm.weight" in text


def test_truncated_shard_exits_20_and_leaves_no_file(tmp_path):
    folder = write_model(tmp_path / "m", family()["base"], shards=2)
    shard = folder / "model-00001-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-1000])
    out = tmp_path / "out" / "fp.osfp"
    res = CliRunner().invoke(cli, ["fingerprint", str(folder), "-o", str(out)])
    assert res.exit_code == 20
    assert "truncated" in res.stderr or "short" in res.stderr
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_hub_fingerprint_by_range_reads_equals_the_local_one(fake_hub, tmp_path):
    g = dict(hidden=256, inter=768, layers=2, vocab=2048, heads=4, kv_heads=2)
    folder = write_model(tmp_path / "m", init_state(21, g), shards=2, cfg=config(g))
    fake_hub.add_repo("org/wide", folder)
    local, remote = tmp_path / "local.osfp", tmp_path / "remote.osfp"
    assert run("fingerprint", str(folder), "-o", str(local)).exit_code == 0
    hub = CliRunner(env={"HF_ENDPOINT": fake_hub.endpoint})
    assert hub.invoke(cli, ["fingerprint", "org/wide", "-o", str(remote)], catch_exceptions=False).exit_code == 0
    weight_reads = [r for r in fake_hub.requests if r["path"].endswith(".safetensors") and r["method"] == "GET"]
    assert weight_reads and all(r["range"] for r in weight_reads)
    assert compare(Fingerprint.load(local), Fingerprint.load(remote)).verdict == "identical"

    fake_hub.reset_counters()
    sampled = tmp_path / "sampled.osfp"
    res = hub.invoke(cli, ["fingerprint", "org/wide", "--sparse", "-o", str(sampled)], catch_exceptions=False)
    assert res.exit_code == 0
    fp = Fingerprint.load(sampled)
    shard_bytes = sum((folder / f).stat().st_size for f in fp.files)
    sent = sum(fake_hub.bytes_sent(f) for f in fp.files)
    assert fp.bytes_read < 0.10 * fp.bytes_total  # what the fingerprint reports ...
    assert sent < 0.12 * shard_bytes  # ... and what the server actually sent (headers included)
    assert compare(Fingerprint.load(local), fp).verdict == "identical"


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = CliRunner().invoke(cli, ["fingerprint", "sample:tiny-llama", "--device", "cuda", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no CUDA device" in res.stderr
    assert not (tmp_path / "x").exists()
