"""compare(): each derivation gives its verdict, with the transformations named; unrelated models never 'derived'."""

from __future__ import annotations

import pytest
import torch

from openscore.weights import compare
from test_weights_support import (GEOMETRY, config, drop_layer, family, fingerprint_of, permuted,
                                  residual_permuted, write_gguf, write_model)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights-compare")
    states = family()
    return {
        name: fingerprint_of(write_model(root / name, state))
        for name, state in {**states, "permuted": permuted(states["finetune"], seed=5)}.items()
    } | {"root": root}


def test_renamed_only_copy_lists_the_renamed_tensors(models):
    state = {k.replace("input_layernorm", "ln1").replace("post_attention_layernorm", "ln2"): v
             for k, v in family()["base"].items()}
    result = compare(models["base"], fingerprint_of(write_model(models["root"] / "renamed", state)))
    assert result.verdict == "renamed-copy"
    assert ("model.layers.0.input_layernorm.weight", "model.layers.0.ln1.weight") in result.renames
    assert len(result.renames) == 2 * GEOMETRY["layers"]
    assert result.confidence == 1.0


@pytest.mark.parametrize("dtype, label", [(torch.bfloat16, "F32->BF16"), (torch.float16, "F32->F16")])
def test_a_cast_copy_is_a_recast_copy(models, dtype, label):
    result = compare(models["base"], fingerprint_of(write_model(models["root"] / label, family()["base"], dtype=dtype)))
    assert result.verdict == "recast-copy"
    assert f"cast {label}" in result.transformations


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0"])
def test_a_gguf_quantisation_is_a_recast_copy_and_its_fine_tune_is_derived(models, qtype):
    folder = models["root"] / f"gguf-{qtype}"
    folder.mkdir()
    write_gguf(folder / "model.gguf", family()["base"], qtype)
    result = compare(models["base"], fingerprint_of(folder))
    assert result.verdict == "recast-copy"
    assert f"cast F32->{qtype}" in result.transformations
    folder_ft = models["root"] / f"gguf-ft-{qtype}"
    folder_ft.mkdir()
    write_gguf(folder_ft / "model.gguf", family()["finetune"], qtype)
    assert compare(models["base"], fingerprint_of(folder_ft)).verdict == "derived"


def test_a_fine_tune_is_derived_layer_by_layer(models):
    result = compare(models["base"], models["finetune"])
    assert result.verdict == "derived"
    assert result.layer_map == {i: i for i in range(GEOMETRY["layers"])}
    assert all(s > 0.9 for s in result.layer_similarity)
    assert result.confidence > 0.999


def test_independent_models_of_the_same_layout_are_an_architecture_clone(models):
    result = compare(models["base"], models["other"])
    assert result.verdict == "architecture-clone"
    assert result.max_z < 5.5
    assert result.matched_tensors == 0
    # and the other way round
    assert compare(models["other"], models["finetune"]).verdict == "architecture-clone"


def test_permuted_hidden_units_and_heads_are_still_derived(models):
    result = compare(models["base"], models["permuted"])
    assert result.verdict == "derived"
    assert {"mlp_gate", "mlp_up", "mlp_down", "attn_q", "attn_o"} <= set(result.permuted)
    assert "hidden units permuted (mlp_up)" in result.transformations


def test_residual_stream_permutation_is_still_derived(models):
    folder = write_model(models["root"] / "residual", residual_permuted(family()["finetune"], seed=9))
    result = compare(models["base"], fingerprint_of(folder))
    assert result.verdict == "derived"
    assert "residual stream permuted or rotated" in result.transformations


def test_dropped_layer_is_partially_derived_with_the_layer_map(models):
    g = dict(GEOMETRY, layers=3)
    folder = write_model(models["root"] / "pruned", drop_layer(family()["finetune"], 2), cfg=config(g))
    result = compare(models["base"], fingerprint_of(folder))
    assert result.verdict == "partially-derived"
    assert result.layer_map == {0: 0, 1: 1, 2: 3}
    assert result.layers_dropped == [2]


def test_duplicated_layers_are_reported(models):
    state = dict(family()["finetune"])
    extra = {k.replace("model.layers.1.", "model.layers.4."): v.clone() for k, v in state.items()
             if k.startswith("model.layers.1.")}
    state.update(extra)
    folder = write_model(models["root"] / "upscaled", state, cfg=config(dict(GEOMETRY, layers=5)))
    result = compare(models["base"], fingerprint_of(folder))
    assert result.verdict == "partially-derived"
    assert result.layers_duplicated == {1: [1, 4]}


def test_vocabulary_rows_added_are_reported(models):
    state = dict(family()["finetune"])
    gen = torch.Generator().manual_seed(3)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        state[name] = torch.cat([state[name], torch.randn(64, GEOMETRY["hidden"], generator=gen) * 0.1])
    folder = write_model(models["root"] / "vocab", state, cfg=config(dict(GEOMETRY, vocab=GEOMETRY["vocab"] + 64)))
    result = compare(models["base"], fingerprint_of(folder))
    assert result.verdict in ("derived", "partially-derived")
    assert result.vocab_rows_added == 64
    assert "vocabulary +64 rows" in result.transformations
