"""Robustness of the weight comparison against what real derivatives do (issue 15, point 5).

Each case is made from trained weights (the quick zoo: AdamW on real text, then the transformation):
residual rotation with unit and head permutation, transposed storage, unknown tensor names, integer
quantise-dequantise copies, width pruning; plus the frequency direction of token-indexed sketches,
whole sketches of small tensors, cross-architecture pairs and the llama2.c reader on real checkpoints.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from openscore.errors import InvalidCheckpoint
from openscore.weights import compare
from openscore.weights.compare import pearson, strip_frequency
from openscore.weights.spec import fingerprint_spec
from openscore.zoo.expect import DERIVED_OR_COPY

NEGATIVE = ("architecture-clone", "independent")


@pytest.fixture(scope="module")
def prints(quick_zoo):
    wanted = ("llama-a", "llama-b", "llama-a-sft", "llama-a-rotated", "llama-a-transposed", "llama-a-int8",
              "llama-a-int4", "llama-a-q4-bf16", "llama-a-width-pruned", "gpt2-a")
    return {name: fingerprint_spec(str(quick_zoo[name].path), device="cpu") for name in wanted}


@pytest.fixture(scope="module")
def sampled(quick_zoo):
    return {name: fingerprint_spec(str(quick_zoo[name].path), device="cpu", sample=True)
            for name in ("llama-a-rotated", "llama-a-int8", "gpt2-a")}


def test_rotated_and_permuted_fine_tune_is_found_in_full_and_sampled_mode(prints, sampled):
    for candidate in (prints["llama-a-rotated"], sampled["llama-a-rotated"]):
        result = compare(prints["llama-a"], candidate)
        assert result.verdict in DERIVED_OR_COPY, result.reason
        assert "residual stream permuted or rotated" in result.transformations
        assert not result.layers_dropped  # same depth: no layer is "dropped"
    assert compare(prints["llama-b"], prints["llama-a-rotated"]).verdict not in DERIVED_OR_COPY


@pytest.fixture(scope="module")
def stories(tmp_path_factory, shared_path):
    """Full and sampled fingerprints of the real stories260K (llama2.c, dim 64), its AdamW fine-tune and that
    fine-tune rotated in the residual stream with MLP units and heads permuted (openscore.zoo.llama2c)."""
    from openscore.zoo.llama2c import build_llama2c

    root = shared_path("realmodels", "llama2c-tiny").parent
    cases = {c.name: c for c in build_llama2c(tmp_path_factory.mktemp("llama2c"), root)}
    return {(name, sample): fingerprint_spec(str(cases[name].path), device="cpu", sample=sample)
            for name in ("stories260k", "stories260k-sft", "stories260k-rotated") for sample in (False, True)}


@pytest.mark.parametrize("sample", [False, True], ids=["full", "sampled"])
def test_residual_rotation_with_unit_permutation_is_aligned_and_found(stories, sample):
    """Real weights: the residual basis is solved by orthogonal Procrustes on the shared token rows, then
    every matrix correlates again (before: inconclusive, a unit-indexed Gram at z 9.5 and nothing else)."""
    candidate = stories[("stories260k-rotated", sample)]
    for ref in ("stories260k", "stories260k-sft"):
        result = compare(stories[(ref, False)], candidate)
        assert result.verdict == "derived" and result.confidence > 0.99, result.reason
        assert any("orthogonal Procrustes" in t for t in result.transformations)
        assert "hidden units permuted (mlp_up)" in result.transformations and "residual" in result.permuted
        aligned = [m for m in result.tensors if m.statistic == "aligned-units"]
        # every matrix in full; the matrices that read the stream when sampled (16 rows of attn_o / mlp_down
        # hold 16 residual dimensions, not whole units)
        assert len(aligned) == (25 if sample else 35) and min(m.r for m in aligned) >= 0.9
    # the alignment's own data (token rows) never counts as evidence
    assert not any(m.role in ("embed", "lm_head") and m.statistic == "aligned-units" for m in result.tensors)
    # an unrotated fine-tune keeps its verdict and says nothing of a rotation
    plain = compare(stories[("stories260k", False)], stories[("stories260k-sft", sample)])
    assert plain.verdict == "derived" and plain.transformations == []


def test_alignment_creates_no_similarity_between_independent_models(prints):
    """Procrustes always finds some rotation: between independent trained models (hidden 64, the same data) it
    is solved and applied, and their units still match only at the level of chance (below the guard), so the
    negative verdict stands."""
    from openscore.weights.calibrate import aligned_null_of
    from openscore.weights.compare import _aligned_verdict, _similarity, calibration, residual_alignment

    for ref, cand in (("llama-b", "llama-a"), ("llama-b", "llama-a-rotated"), ("llama-a", "llama-b")):
        alignment = residual_alignment(prints[ref], prints[cand])
        assert alignment is not None and alignment.tokens >= 2 * 64 and alignment.rotated
        first = _similarity(prints[ref], prints[cand])
        # forced through the aligned layer even where the sketches already decided
        result = _aligned_verdict(prints[ref], prints[cand], first, alignment)
        assert result is first and result.verdict in NEGATIVE and result.confidence > 0.99, result.reason
    # the calibration command measures the same null: every tensor of both ordered pairs below the guard
    null = aligned_null_of([prints["llama-a"], prints["llama-b"]])
    assert null["pairs"] == 2 and 0.3 < null["mean"] < 0.6 and null["max"] < calibration().aligned_guard



@pytest.fixture(scope="module")
def fused(quick_zoo, tmp_path_factory):
    """The zoo's InternLM2-layout fine-tune (`llama-a-fused`), and llama-a itself re-saved that way."""
    from openscore.zoo.derive import fuse_qkv_internlm2

    base = quick_zoo["llama-a"].path
    config = json.loads((base / "config.json").read_text())
    folder = tmp_path_factory.mktemp("fused")
    save_file(fuse_qkv_internlm2(load_file(str(base / "model.safetensors")), config["num_attention_heads"],
                                 config["num_key_value_heads"]), str(folder / "model.safetensors"))
    config.update(model_type="internlm2", architectures=["InternLM2ForCausalLM"])
    (folder / "config.json").write_text(json.dumps(config))
    paths = {"llama-a": folder, "llama-a-sft": quick_zoo["llama-a-fused"].path}
    return {(name, sample): fingerprint_spec(str(path), device="cpu", sample=sample)
            for name, path in paths.items() for sample in (False, True)}


def test_fused_qkv_is_split_by_the_config_and_compared_role_by_role(prints, fused):
    """InternLM2's grouped wqkv is sketched as attn_q / attn_k / attn_v: the same weights re-laid out are a
    renamed copy of the split checkpoint, and a fine-tune is derived with its attention matched role by role
    (before: the fused matrix had no counterpart, so attention carried no evidence)."""
    fp = fused[("llama-a-sft", False)]
    parts = [t for t in fp.tensors if t.part_of]
    assert {t.role for t in parts} == {"attn_q", "attn_k", "attn_v"} and len(parts) == 12
    assert [t.shape for t in parts if t.layer == 0] == [[64, 64], [32, 64], [32, 64]]
    copy = compare(prints["llama-a"], fused[("llama-a", False)])
    assert copy.verdict == "renamed-copy", copy.reason
    for sample in (False, True):
        result = compare(prints["llama-a"], fused[("llama-a-sft", sample)])
        assert result.verdict == "derived", result.reason
        attention = [m for m in result.tensors if m.role in ("attn_q", "attn_k", "attn_v")]
        assert len(attention) == 12 and all(m.z >= 10 and m.reference_layer == m.layer for m in attention)
        assert compare(prints["llama-b"], fused[("llama-a-sft", sample)]).verdict in NEGATIVE
    # and the other way round: the fused model as the reference of a split fine-tune
    back = compare(fused[("llama-a", False)], prints["llama-a-sft"])
    assert back.verdict == "derived" and sum(m.role == "attn_k" and m.z >= 10 for m in back.tensors) == 4
    assert compare(fused[("llama-a", False)], fused[("llama-a", False)]).verdict == "identical"


def test_fused_rows_follow_each_layout():
    from openscore.weights.fused import part_rows

    sizes = {"q_dim": 8, "kv_dim": 4, "head_dim": 2, "ffn": 3}
    grouped = dict(part_rows("attn_qkv", "grouped", sizes, 16))  # 2 groups of [q q k v] x 2 rows
    assert grouped["attn_q"].tolist() == [0, 1, 2, 3, 8, 9, 10, 11] and grouped["attn_v"].tolist() == [6, 7, 14, 15]
    contiguous = dict(part_rows("attn_qkv", "contiguous", sizes, 16))
    assert contiguous["attn_k"].tolist() == [8, 9, 10, 11]
    assert dict(part_rows("mlp_gate_up", "contiguous", sizes, 6))["mlp_up"].tolist() == [3, 4, 5]
    assert part_rows("attn_qkv", "grouped", sizes, 12) is None  # sizes that do not add up: left fused


def _only(fp, roles):
    """The fingerprint with every tensor outside `roles` unsketched (what survives a rotation at scale)."""
    copy = fp.model_copy(deep=True)
    for t in copy.tensors:
        if t.role not in roles:
            t.sketch = []
    return copy


def test_no_negative_verdict_while_the_token_geometry_matches(prints):
    """At real widths a rotation with unit permutation leaves no statistic at equal indices; the token
    geometry of the embeddings (rotation-invariant) must then block a negative verdict."""
    ref, rotated = _only(prints["llama-a"], {"embed", "lm_head"}), _only(prints["llama-a-rotated"], {"embed", "lm_head"})
    result = compare(ref, rotated)
    assert result.verdict == "inconclusive" and result.confidence <= 0.5
    assert "token geometry" in result.reason and "rotated" in result.reason
    other = compare(_only(prints["llama-b"], {"embed", "lm_head"}), rotated)
    assert "token geometry" not in other.reason


def test_frequency_direction_is_removed_from_token_indexed_blocks(prints):
    """Two independently trained embeddings plus one shared frequency direction (token counts times a
    common vector) correlate far beyond chance; after strip_frequency they do not, while a fine-tune's
    embedding still does."""
    def block(name):
        t = next(t for t in prints[name].tensors if t.role == "embed")
        return prints[name].array(t, "direct").astype(np.float64)

    a, fine_tune, other = block("llama-a"), block("llama-a-sft"), block("llama-b")
    rng = np.random.default_rng(0)
    freq = np.outer(rng.zipf(1.5, a.shape[0]).clip(1, 50), rng.normal(size=a.shape[1])) * a.std() / 5
    before = pearson(a + freq, other + freq)
    after = pearson(strip_frequency(a + freq), strip_frequency(other + freq))
    assert before > 0.5 and abs(after) < 0.1
    assert pearson(strip_frequency(a), strip_frequency(fine_tune)) > 0.9


def test_transposed_storage_is_oriented_before_comparing(prints):
    result = compare(prints["llama-a"], prints["llama-a-transposed"])
    assert result.verdict == "derived", result.reason
    matrices = [t for t in prints["llama-a-transposed"].tensors if t.role.startswith(("attn", "mlp"))]
    assert matrices and all(t.transposed for t in matrices if len(t.shape) == 2)
    assert compare(prints["llama-b"], prints["llama-a-transposed"]).verdict in NEGATIVE


def test_unknown_tensor_names_get_roles_from_shapes_and_the_config(quick_zoo, prints, tmp_path):
    """A fine-tune re-saved under opaque names (w0, w1, ...) with its config: roles come from the shapes."""
    case = quick_zoo["llama-a-sft"]
    state = load_file(str(case.path / "model.safetensors"))
    renamed = {f"w{i}.block{name.split('.')[2] if '.layers.' in name else ''}": v
               for i, (name, v) in enumerate(sorted(state.items()))}
    folder = tmp_path / "opaque"
    folder.mkdir()
    save_file(renamed, str(folder / "model.safetensors"))
    (folder / "config.json").write_text((case.path / "config.json").read_text())
    fp = fingerprint_spec(str(folder), device="cpu")
    roles = {t.role for t in fp.tensors if len(t.shape) == 2}
    assert {"embed", "mlp_down"} <= roles and any(r.startswith("shape:") for r in roles)
    result = compare(prints["llama-a"], fp)
    assert result.verdict in ("derived", "partially-derived"), result.reason
    assert compare(prints["llama-b"], fp).verdict not in DERIVED_OR_COPY


@pytest.mark.parametrize("name, bits", [("llama-a-int8", 8), ("llama-a-int4", 4), ("llama-a-q4-bf16", 4)])
def test_integer_quantise_dequantise_copies_are_recast_copies(prints, name, bits):
    result = compare(prints["llama-a"], prints[name])
    assert result.verdict == "recast-copy", result.reason
    assert f"quantised to a {bits}-bit integer grid and dequantised" in result.transformations
    assert compare(prints["llama-b"], prints[name]).verdict in NEGATIVE
    # a fine-tune is not on the base's grid
    assert compare(prints["llama-a"], prints["llama-a-sft"]).verdict == "derived"


def test_sampled_int8_copy_is_a_recast_copy(prints, sampled):
    assert compare(prints["llama-a"], sampled["llama-a-int8"]).verdict == "recast-copy"


def test_width_pruning_is_partially_derived_and_described_as_pruning(prints):
    result = compare(prints["llama-a"], prints["llama-a-width-pruned"])
    assert result.verdict == "partially-derived", result.reason
    assert "width pruned (mlp_up 192x64 -> 144x64)" in result.transformations
    assert not any("permuted" in t or "dropped" in t or "scaled" in t for t in result.transformations)
    assert not result.permuted


def test_no_structural_claim_without_evidence(prints):
    result = compare(prints["llama-a"], prints["llama-a-sft"])
    assert result.transformations == [] and result.layers_dropped == [] and result.scale is None


def test_small_tensors_are_sketched_whole(prints):
    fp = prints["llama-a"]
    for t in fp.tensors:
        if len(t.shape) == 2 and t.shape[0] * t.shape[1] <= 1 << 14:
            assert len(fp.array(t, "rows")) == t.shape[0] and len(fp.array(t, "cols")) == t.shape[1]
    result = compare(prints["llama-b"], prints["llama-a"])
    assert result.verdict in NEGATIVE and result.confidence > 0.99 and result.elements_compared > 100_000


def test_cross_architecture_pairs_are_independent_with_the_reason(prints, sampled):
    for ref, cand in (("llama-a", "gpt2-a"), ("gpt2-a", "llama-a")):
        result = compare(prints[ref], prints[cand])
        assert result.verdict == "independent"
        assert result.reason.startswith("different architectures")
    # GPT-2's c_attn split into q/k/v meets LLaMA's q/k/v: a clean z of 6.0 (sampled), short of a derivation
    result = compare(prints["llama-b"], sampled["gpt2-a"])
    assert result.verdict == "independent" and result.reason.startswith("different architectures"), result.reason


def test_llama2c_checkpoints_are_read_and_independent_of_each_other(tmp_path, shared_path):
    from openscore.zoo.llama2c import BASES, read_llama2c

    root = shared_path("realmodels", "llama2c-tiny")
    prints = {}
    for name, folder, file in BASES:
        geometry, state = read_llama2c(root / folder / file)
        out = tmp_path / name
        out.mkdir()
        save_file(state, str(out / "model.safetensors"))
        (out / "config.json").write_text(json.dumps({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": geometry.hidden,
            "intermediate_size": geometry.ffn, "num_attention_heads": geometry.heads,
            "num_key_value_heads": geometry.kv_heads, "num_hidden_layers": geometry.layers,
            "vocab_size": geometry.vocab}))
        prints[name] = fingerprint_spec(str(out), device="cpu")
    assert (geometry.hidden, geometry.layers, geometry.ffn, geometry.vocab) == (128, 5, 352, 105)
    result = compare(prints["stories260k"], prints["babyllama"])
    assert result.verdict == "independent" and "different architectures" in result.reason
    bad = tmp_path / "short.bin"
    bad.write_bytes((root / "stories260K" / "stories260K.bin").read_bytes()[:-4])
    with pytest.raises(InvalidCheckpoint, match="llama2.c v0"):
        read_llama2c(bad)


def test_rotation_keeps_the_function(quick_zoo):
    """The rotated case is the fine-tune's function with another residual basis (a fair test case)."""
    from openscore.zoo import load_model

    ids = torch.arange(40).reshape(2, 20) % 250
    with torch.no_grad():
        base, rotated = load_model(quick_zoo["llama-a-sft"])(ids), load_model(quick_zoo["llama-a-rotated"])(ids)
    assert torch.allclose(base, rotated, atol=1e-3)
