"""`openscore inspect`: offline on the real repos, on checkpoints written here, on the fake Hub; bad input."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.cli.schema import shipped
from openscore.errors import RevisionNotFound
from openscore.inspect import Inspection, inspect
from openscore.samples import materialize
from tests.checkpoint_builders import malicious_pickle
from tests.test_layout_realcards import INDEXED


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(shipped("inspect"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", INDEXED)
def test_json_on_every_indexed_realcard_validates(realcards, validator, name):
    result = run("inspect", str(realcards / name), "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    validator.validate(doc)
    assert doc["weights_absent"] is True and doc["layout"]["unmapped"] == []
    assert doc["source"]["kind"] == "local" and doc["bytes_read"] == 0  # pointers only: nothing to read


def test_text_summary_of_the_renamed_sample():
    result = run("inspect", "sample:tiny-llama-shell")
    assert result.exit_code == 0
    out = result.stdout
    assert "family:     llama (from config), names follow the llama scheme" in out
    assert "2 tensor kinds renamed" in out and "model.layers.{L}.ln1.weight -> model.layers.{L}.input_layernorm.weight" in out
    assert "parameters: 247,360 (F32 247,360)" in out


def test_output_file_is_the_json_document_and_deterministic(tmp_path, validator):
    target = tmp_path / "out" / "inspection.json"
    first = run("inspect", "sample:tiny-llama", "--format", "json", "-o", str(target))
    assert first.exit_code == 0 and first.stdout == ""
    text = target.read_text()
    validator.validate(json.loads(text))
    assert run("inspect", "sample:tiny-llama", "--format", "json").stdout == text
    assert [p.name for p in target.parent.iterdir()] == ["inspection.json"]  # no temporary file left behind


def test_library_call_returns_the_document():
    result = inspect("sample:tiny-llama")
    assert isinstance(result, Inspection)
    assert result.layout.family == "llama" and result.renames.kinds_renamed == 0
    assert result.formats == ["safetensors"] and not result.weights_absent
    assert {f.path for f in result.inventory.files} >= {"model.safetensors", "config.json"}
    assert result.bytes_read > 0


def test_dangerous_pickle_exits_21_with_one_line_and_no_output(tmp_path):
    repo = tmp_path / "repo"
    marker = tmp_path / "pwned"
    malicious_pickle(repo / "pytorch_model.bin", marker)
    (repo / "config.json").write_text(json.dumps({"model_type": "llama"}))
    target = tmp_path / "inspection.json"
    result = run("inspect", str(repo), "--format", "json", "-o", str(target))
    assert result.exit_code == 21
    assert result.stderr.count("\n") == 1 and "dangerous" in result.stderr and "pytorch_model.bin" in result.stderr
    assert not target.exists() and not marker.exists()


def test_bad_spec_is_a_usage_error():
    result = run("inspect", "not a repo or folder")
    assert result.exit_code == 2 and result.stderr.startswith("openscore: error:")


def test_repo_with_nothing_to_inspect_exits_22(realcards):
    result = run("inspect", str(realcards / "01-ai__Yi-6B"))  # README only
    assert result.exit_code == 22 and "nothing to inspect" in result.stderr
    assert "`openscore audit --no-weights` reads its card and licence" in result.stderr


def test_config_only_repo_still_reports_its_geometry(realcards):
    result = inspect(str(realcards / "meta-llama__Meta-Llama-3-8B"))  # config + shard pointers, no index
    assert result.layout.family == "llama" and result.layout.tensors == []
    assert result.layout.config.num_kv_heads == 8 and result.weights_absent
    assert any("config only" in w for w in result.layout.warnings)


def test_hub_repo_through_the_fake_hub(fake_hub, tmp_path, validator):
    folder = tmp_path / "shell"
    shutil.copytree(materialize("tiny-llama-shell"), folder, ignore=shutil.ignore_patterns(".complete"))
    fake_hub.add_repo("someone/shell-7b", folder)
    result = run("inspect", "someone/shell-7b", "--format", "json", "--endpoint", fake_hub.endpoint)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    validator.validate(doc)
    assert doc["source"]["kind"] == "hub" and doc["source"]["repo_id"] == "someone/shell-7b"
    assert doc["renames"]["kinds_renamed"] == 2
    weights = (folder / "model.safetensors").stat().st_size
    assert 0 < doc["bytes_read"] < weights and fake_hub.bytes_sent("model.safetensors") < weights  # header only
    with pytest.raises(RevisionNotFound):
        inspect("someone/shell-7b@no-such-branch", endpoint=fake_hub.endpoint)
