"""Provenance on real pre-trained weights: sentence-transformers/all-MiniLM-L6-v2 and derivatives made here.

Skips when ../shared/data/realmodels is absent (fails in CI). The derivatives are made in the test with
the zoo's real-model tools (an AdamW fine-tune on real text, casts, a layer drop, a rename, an
independent init); the longer versions run in bench/provenance.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from openscore.weights import compare
from openscore.weights.registry import Registry
from openscore.weights.spec import fingerprint_spec
from openscore.zoo.derive import rename
from openscore.zoo.realmodels import (
    MINILM, MINILM_ID, RealCase, WordPiece, contrastive_finetune, drop_layers, embed_similarity, load_real_catalogue,
    random_bert,
)
from openscore.zoo.train import deterministic

TEXTS = ["Return a new list containing the items.", "Open the file and return a stream.",
         "The server handles one request at a time."]


@pytest.fixture(scope="module")
def minilm(shared_path) -> Path:
    return shared_path("realmodels", MINILM, "model.safetensors").parent


@pytest.fixture(scope="module")
def base_state(minilm):
    return load_file(str(minilm / "model.safetensors"))


@pytest.fixture(scope="module")
def base_print(minilm):
    return fingerprint_spec(str(minilm), device="cpu")


def _write(folder: Path, minilm: Path, state: dict, **config_changes) -> Path:
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = {**json.loads((minilm / "config.json").read_text()), **config_changes}
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(minilm / "vocab.txt", folder / "vocab.txt")
    return folder


def test_wordpiece_matches_bert_uncased(minilm):
    tok = WordPiece(minilm / "vocab.txt")
    # ids from the published tokenizer.json of all-MiniLM-L6-v2 for this sentence
    assert tok.encode("Hello, world!", 16) == [101, 7592, 1010, 2088, 999, 102]


def test_real_fine_tune_is_derived_and_the_shipped_registry_names_its_base(minilm, base_state, base_print, tmp_path):
    config = json.loads((minilm / "config.json").read_text())
    with deterministic():
        tuned = contrastive_finetune(base_state, config, WordPiece(minilm / "vocab.txt"), steps=4, lr=1e-4, seed=3)
    folder = _write(tmp_path / "minilm-sft", minilm, tuned)
    assert embed_similarity(minilm, folder, TEXTS) < 0.9999  # the optimizer really changed the model
    tuned_print = fingerprint_spec(str(folder), device="cpu")
    assert compare(base_print, tuned_print).verdict == "derived"
    best = Registry.load(tmp_path / "empty-user-registry").match(tuned_print, top=2)[0]
    assert best.id == MINILM_ID and best.comparison.verdict == "derived"


@pytest.mark.parametrize("dtype, name", [(torch.bfloat16, "BF16"), (torch.float16, "F16")])
def test_real_casts_are_recast_copies(minilm, base_state, base_print, tmp_path, dtype, name):
    cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in base_state.items()}
    result = compare(base_print, fingerprint_spec(str(_write(tmp_path / "cast", minilm, cast)), device="cpu"))
    assert result.verdict == "recast-copy"
    assert any(name in t for t in result.transformations)


def test_real_renamed_copy_lists_the_renames(minilm, base_state, base_print, tmp_path):
    renamed = rename(base_state, {"LayerNorm": "layer_norm"})
    result = compare(base_print, fingerprint_spec(str(_write(tmp_path / "renamed", minilm, renamed)), device="cpu"))
    assert result.verdict == "renamed-copy"
    assert ("encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.layer_norm.weight") in \
        [tuple(r) for r in result.renames]


def test_real_layer_drop_is_partially_derived_with_the_layer_map(minilm, base_state, base_print, tmp_path):
    dropped = drop_layers(base_state, (0, 1, 2, 4, 5))
    folder = _write(tmp_path / "dropped", minilm, dropped, num_hidden_layers=5)
    result = compare(base_print, fingerprint_spec(str(folder), device="cpu"))
    assert result.verdict == "partially-derived"
    assert result.layers_dropped == [3]
    assert [result.layer_map[i] for i in range(5)] == [0, 1, 2, 4, 5]


def test_independent_init_of_the_same_architecture_is_not_derived(minilm, base_state, base_print, tmp_path):
    folder = _write(tmp_path / "independent", minilm, random_bert(base_state, seed=5))
    result = compare(base_print, fingerprint_spec(str(folder), device="cpu"))
    assert result.verdict in {"architecture-clone", "independent", "inconclusive"}


def test_real_recipes_are_data_and_validated():
    catalogue = load_real_catalogue()
    assert {c.op for c in catalogue.cases} == {"finetune", "cast", "drop_layers", "rename", "independent"}
    assert [c.name for c in catalogue.cases if c.relation is None] == ["minilm-independent"]
    with pytest.raises(ValidationError):
        RealCase.model_validate({"name": "x", "op": "distil", "relation": None, "args": {}, "notes": "x"})
