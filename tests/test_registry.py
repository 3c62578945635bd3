"""Registry add/list/match through the CLI, shipped entries, and provenance.analyse against the registry."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.formats import read_checkpoint
from openscore.layout import build_layout
from openscore.provenance import analyse
from openscore.samples import materialize
from openscore.sources import open_source
from openscore.weights.registry import Registry
from openscore.weights.spec import fingerprint_spec
from test_weights_support import family, write_model


@pytest.fixture
def user_registry(tmp_path, monkeypatch):
    folder = tmp_path / "registry"
    monkeypatch.setenv("OPENSCORE_REGISTRY", str(folder))
    return folder


def analysed(folder, registry=None):
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    return analyse(source, headers, build_layout(headers), registry=registry)


def test_registry_add_list_match_through_the_cli(user_registry, tmp_path):
    base = write_model(tmp_path / "base", family()["base"])
    tuned = write_model(tmp_path / "tuned", family()["finetune"])
    runner = CliRunner()
    res = runner.invoke(cli, ["registry", "add", str(base), "--id", "acme/base", "--licence", "llama2"])
    assert res.exit_code == 0, res.output
    listed = json.loads(runner.invoke(cli, ["registry", "list", "--format", "json"]).stdout)
    ids = {e["id"]: e for e in listed}
    assert {"acme/base", "openscore-samples/tiny-llama", "sentence-transformers/all-MiniLM-L6-v2"} <= set(ids)
    assert ids["acme/base"]["licence"] == "llama2"
    matches = json.loads(runner.invoke(cli, ["registry", "match", str(tuned), "--format", "json"]).stdout)
    assert matches[0]["id"] == "acme/base" and matches[0]["comparison"]["verdict"] == "derived"
    assert runner.invoke(cli, ["registry", "add", str(base), "--id", "bad id!"]).exit_code == 2


def test_shipped_sample_entry_is_current():
    """The committed fingerprint equals a fresh one: catches a stale registry after a sketch change."""
    registry = Registry.load()
    fresh = fingerprint_spec("sample:tiny-llama")
    assert registry.fingerprint("openscore-samples/tiny-llama").to_bytes() == fresh.to_bytes()


def test_shipped_minilm_entry_records_the_real_file_hash(shared_path):
    entry = Registry.load().get("sentence-transformers/all-MiniLM-L6-v2")
    assert entry.licence == "apache-2.0"
    assert entry.files == {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}
    folder = shared_path("realmodels", "sentence-transformers__all-MiniLM-L6-v2", "model.safetensors").parent
    result = analysed(folder)
    assert result.verdict == "identical" and result.base == entry.id
    assert result.declared_base == "nreimers/MiniLM-L6-H384-uncased"


def test_analyse_names_the_sample_base_of_the_shell(user_registry):
    result = analysed(materialize("tiny-llama-shell"))
    assert result.verdict == "renamed-copy"
    assert result.base == "openscore-samples/tiny-llama"
    assert result.confidence == 1.0
    assert any("renamed 8 tensors" in t for t in result.transformations)
    assert result.evidence and all(e.rule.startswith("provenance/") for e in result.evidence)


def test_lfs_pointers_with_a_registered_hash_are_identical_without_weights(user_registry, tmp_path):
    sample = materialize("tiny-llama")
    folder = tmp_path / "pointers"
    shutil.copytree(sample, folder)
    data = (folder / "model.safetensors").read_bytes()
    import hashlib

    (folder / "model.safetensors").write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n")
    result = analysed(folder)
    assert result.verdict == "identical" and result.base == "openscore-samples/tiny-llama"
    # the same pointers with an unknown hash: inconclusive, with the reason
    (folder / "model.safetensors").write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize {len(data)}\n")
    other = analysed(folder)
    assert other.verdict == "inconclusive" and "pointers" in other.details["reason"]


def test_merge_of_two_registered_lineages_names_both_parents(user_registry, tmp_path):
    states = family()
    registry = Registry.load()
    registry.add(fingerprint_spec(str(write_model(tmp_path / "a", states["base"]))), "acme/a")
    registry.add(fingerprint_spec(str(write_model(tmp_path / "b", states["other"]))), "acme/b")
    merged = {k: 0.5 * states["finetune"][k] + 0.5 * states["other"][k] for k in states["base"]}
    result = analysed(write_model(tmp_path / "merged", merged), registry=registry)
    assert result.verdict in ("derived", "partially-derived")
    assert sorted(result.parents) == ["acme/a", "acme/b"]


def test_adapter_reports_the_declared_base_and_checks_its_shapes(user_registry, tmp_path):
    from safetensors.torch import save_file
    import torch

    registry = Registry.load()
    registry.add(fingerprint_spec(str(write_model(tmp_path / "base", family()["base"]))), "acme/base")
    folder = tmp_path / "adapter"
    folder.mkdir()
    lora = {}
    for i in range(4):
        for mod, (out_dim, in_dim) in {"self_attn.q_proj": (64, 64), "self_attn.v_proj": (32, 64)}.items():
            lora[f"base_model.model.model.layers.{i}.{mod}.lora_A.weight"] = torch.zeros(8, in_dim)
            lora[f"base_model.model.model.layers.{i}.{mod}.lora_B.weight"] = torch.zeros(out_dim, 8)
    save_file(lora, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "acme/base", "peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}))
    result = analysed(folder, registry=registry)
    assert result.declared_base == "acme/base" and result.declared_relation == "adapter"
    assert result.verdict == "derived" and result.base == "acme/base"
    assert result.details["adapter"] == {"modules": 8, "rank": 8, "inconsistent_modules": []}


def test_pickle_only_weights_are_inconclusive_not_an_error(user_registry, tmp_path):
    import pickle

    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    result = analysed(folder)
    assert result.verdict == "inconclusive" and "never unpickled" in result.details["reason"]
