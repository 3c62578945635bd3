"""Token responses (fingerprint version 9, openscore/weights/responses.py): the residual rotation of a model
wider than the sketch's 128 columns, with its MLP units and heads permuted, found by matching units through
their responses to shared probe tokens (issue 15, point 5, the rotation bullet). Trained weights: the quick
zoo's wide LLaMA bases (hidden 192, AdamW on real text) and the real SmolLM2-135M."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openscore.errors import InvalidCheckpoint
from openscore.weights import compare
from openscore.weights.calibrate import response_null_of
from openscore.weights.compare import _response_verdict, _similarity, calibration
from openscore.weights.fingerprint import Fingerprint
from openscore.weights.responses import RESPONSE_UNITS, ResponseInputs, response_matches, unit_responses
from openscore.weights.spec import fingerprint_spec

NEGATIVE = ("architecture-clone", "independent")


@pytest.fixture(scope="module")
def wide(quick_zoo):
    return {name: fingerprint_spec(str(quick_zoo[name].path), device="cpu")
            for name in ("llama-w-a", "llama-w-b", "llama-w-a-sft", "llama-w-a-rotated")}


def as_version_8(fp: Fingerprint) -> Fingerprint:
    """The same fingerprint as format version 8 wrote it: no token responses."""
    tensors = [t.model_copy(update={"sketch": [k for k in t.sketch if k != "responses"]}) for t in fp.tensors]
    old = fp.model_copy(update={"version": 8, "response_tokens": [], "tensors": tensors})
    old.arrays = {k: v for k, v in fp.arrays.items() if not k.endswith((".responses", ".response_units"))}
    return Fingerprint.from_bytes(old.to_bytes())


def test_responses_are_invariant_to_rotation_gain_folding_and_unit_permutation():
    """P = X·diag(g)·Wᵀ over the strongest units: the same after E -> E·R, W -> W·diag(g)·R, g -> 1 and the
    units permuted (the derivation derive.rotate_residual makes), up to the fp16 it is stored in."""
    gen = torch.Generator().manual_seed(0)
    hidden, units = 160, 96
    e = torch.randn(128, hidden, generator=gen)
    w = torch.randn(units, hidden, generator=gen) * torch.linspace(0.2, 3, units)[:, None]
    g = torch.rand(hidden, generator=gen) + 0.5
    r, _ = torch.linalg.qr(torch.randn(hidden, hidden, generator=gen, dtype=torch.float64))
    r = r.float()
    perm = torch.randperm(units, generator=gen)

    def inputs(rows, gain):
        x = rows * torch.rsqrt(rows.pow(2).mean(1, keepdim=True))
        return ResponseInputs(np.arange(128, dtype=np.int32), x, {("attn_norm", 0): gain})

    ids, before = unit_responses(w, "attn_q", 0, inputs(e, g))
    ids_r, after = unit_responses((w * g)[perm] @ r, "attn_q", 0, inputs(e @ r, torch.ones(hidden)))
    assert before.shape == (128, RESPONSE_UNITS) and before.dtype == np.float16
    assert np.array_equal(perm.numpy()[ids_r], ids)  # the same units, found through the permutation
    np.testing.assert_allclose(after.astype(np.float32), before.astype(np.float32), rtol=0.02, atol=0.02)
    # a matrix writing the stream ([hidden, units]; W -> Rᵀ·W, columns permuted): the same, no gain applied
    ids, before = unit_responses(w.T, "mlp_down", 0, ResponseInputs(*inputs(e, g)[:2], {("mlp_norm", 0): g}))
    ids_r, after = unit_responses(r.T @ w.T[:, perm], "mlp_down", 0,
                                  ResponseInputs(*inputs(e @ r, g)[:2], {("mlp_norm", 0): torch.ones(hidden)}))
    assert np.array_equal(perm.numpy()[ids_r], ids)
    np.testing.assert_allclose(after.astype(np.float32), before.astype(np.float32), rtol=0.02, atol=0.02)
    # stored per unit scaled to a largest response of 1: weights far beyond fp16's range stay finite
    huge = unit_responses(w * 1e6, "attn_q", 0, inputs(e, g))[1]
    assert np.isfinite(huge).all() and np.abs(huge).max() == 1.0
    # no gain of its layer (a post-norm block): no responses, the invariance would not hold
    assert unit_responses(w, "attn_q", 1, inputs(e, g)) is None


def test_wide_rotated_and_permuted_fine_tune_is_derived_by_token_responses(wide):
    """Hidden 192 > 128: no whole token rows or units to align, so on format version 8 the rotated fine-tune is
    only partially-derived through the unit-indexed Gram (the real SmolLM2 below: inconclusive)."""
    for ref in ("llama-w-a", "llama-w-a-sft"):
        result = compare(wide[ref], wide["llama-w-a-rotated"])
        assert result.verdict == "derived" and result.confidence > 0.99, result.reason
        assert "residual stream rotated or permuted; units matched by their token responses" in result.transformations
        assert "hidden units permuted (mlp_up)" in result.transformations and "residual" in result.permuted
        matched = [m for m in result.tensors if m.statistic == "token-responses"]
        assert len(matched) == 14 and min(m.r for m in matched) >= 0.95  # the 7 matrices of 2 layers
        assert not any(m.role in ("embed", "lm_head") for m in matched)  # the probes are never evidence
    before = compare(as_version_8(wide["llama-w-a"]), wide["llama-w-a-rotated"])
    assert before.verdict == "partially-derived", before.reason
    # an unrotated fine-tune keeps its verdict and no rotation is claimed
    plain = compare(wide["llama-w-a"], wide["llama-w-a-sft"])
    assert plain.verdict == "derived" and plain.transformations == []


def test_token_responses_create_no_similarity_between_independent_wide_models(wide):
    """Independent wide bases trained on the same text: every tensor's response match stays below the guard,
    so the confident negative verdict stands, forced through the response layer too."""
    cal = calibration()
    for ref, cand in (("llama-w-b", "llama-w-a"), ("llama-w-b", "llama-w-a-rotated"), ("llama-w-a", "llama-w-b")):
        first = _similarity(wide[ref], wide[cand])
        assert _response_verdict(wide[ref], wide[cand], first) is first
        result = compare(wide[ref], wide[cand])
        assert result.verdict in NEGATIVE and result.confidence > 0.99, result.reason
    null = response_null_of([wide["llama-w-a"], wide["llama-w-b"]])
    assert null["pairs"] == 2 and 0.25 < null["mean"] < 0.5 and null["max"] < cal.response_guard


def test_version_8_fingerprints_stay_readable_and_comparable(wide, tmp_path):
    """A version 8 file loads and compares with a version 9 one as before (no responses on one side: no token
    response step); a version 7 file is still refused with its hint."""
    old = as_version_8(wide["llama-w-a-rotated"])
    assert old.version == 8 and not old.response_tokens
    assert compare(wide["llama-w-a"], old).verdict == "partially-derived"
    assert compare(old, wide["llama-w-a-sft"]).verdict not in NEGATIVE
    path = tmp_path / "v8.osfp"
    old.save(path)
    assert Fingerprint.load(path).version == 8
    v7 = old.model_copy(update={"version": 7})
    v7.arrays = old.arrays
    with pytest.raises(InvalidCheckpoint, match="version 7"):
        Fingerprint.from_bytes(v7.to_bytes())


def test_negative_verdicts_without_responses_keep_a_capped_confidence(wide):
    """Wide pre-norm models with no responses to compare (a version 8 or sampled side): a confident negative
    would ignore a rotation nothing could have seen; with responses on both sides the confidence stands."""
    cal = calibration()
    full = compare(wide["llama-w-b"], wide["llama-w-a"])
    assert full.verdict in NEGATIVE and full.confidence > 0.99
    capped = compare(wide["llama-w-b"], as_version_8(wide["llama-w-a"]))
    assert capped.verdict == full.verdict and capped.confidence == cal.rotation_unexcluded
    assert "a rotated derivative is not excluded (no token responses in the candidate" in capped.reason


def test_responses_are_deterministic(quick_zoo, wide):
    again = fingerprint_spec(str(quick_zoo["llama-w-a-rotated"].path), device="cpu")
    assert again.to_bytes() == wide["llama-w-a-rotated"].to_bytes()
    assert len(again.response_tokens) == 128


@pytest.fixture(scope="module")
def wide_sampled(quick_zoo):
    return {name: fingerprint_spec(str(quick_zoo[name].path), device="cpu", sample=True)
            for name in ("llama-w-a", "llama-w-b", "llama-w-a-rotated")}


def as_version_9(fp: Fingerprint) -> Fingerprint:
    """A sampled fingerprint as format version 9 wrote it: no token responses, nothing read whole."""
    return Fingerprint.from_bytes(as_version_8(fp).model_copy(update={"version": 9}).to_bytes())


def test_sampled_fingerprints_keep_the_full_responses_of_attn_k_of_the_first_and_last_layer(wide, wide_sampled):
    """Version 10: a sampled fingerprint reads attn_k of layers 0 and 1 whole (the cheapest reading matrix of
    the budget's first strata) and keeps exactly the responses a full fingerprint keeps for them, so the two
    compare; the bytes are counted."""
    for name in ("llama-w-a", "llama-w-a-rotated"):
        full, sampled = wide[name], wide_sampled[name]
        kept = [t for t in sampled.tensors if "responses" in t.sketch]
        assert [(t.role, t.layer) for t in kept] == [("attn_k", 0), ("attn_k", 1)]
        assert sampled.version == 11 and sampled.response_tokens == full.response_tokens
        by_name = {t.name: t for t in full.tensors}
        for t in kept:
            for kind in ("responses", "response_units"):
                assert np.array_equal(sampled.array(t, kind), full.array(by_name[t.name], kind)), (name, t.name)
            # its direct sketch, taken from the whole matrix, is the full one's on the sampled rows (a subset)
            full_rows = list(full.array(by_name[t.name], "rows"))
            at = [full_rows.index(r) for r in sampled.array(t, "rows")]
            assert np.array_equal(sampled.array(t, "direct"), full.array(by_name[t.name], "direct")[at])
        assert sampled.budget is None  # fits the default budget whole, its bytes counted
        assert sampled.bytes_read > sum(t.shape[0] * t.shape[1] * 4 for t in kept) + 128 * 192 * 4  # F32


def test_wide_rotated_fine_tune_is_derived_from_sampled_fingerprints(wide, wide_sampled):
    """Responses on both sides whatever the mode: sampled against sampled, full against sampled (the full side's
    same two matrices are matched) and sampled against full; between independents no tensor's responses reach
    the guard."""
    pairs = [(wide_sampled["llama-w-a"], wide_sampled["llama-w-a-rotated"]),
             (wide["llama-w-a"], wide_sampled["llama-w-a-rotated"]),
             (wide_sampled["llama-w-a"], wide["llama-w-a-rotated"]),
             (wide_sampled["llama-w-a-rotated"], wide_sampled["llama-w-a"])]
    for ref, cand in pairs:
        result = compare(ref, cand)
        assert result.verdict == "derived" and result.confidence > 0.99, result.reason
        matched = [m for m in result.tensors if m.statistic == "token-responses"]
        assert len(matched) == 2 and min(m.r for m in matched) >= 0.95, [(m.candidate, m.r) for m in matched]
        assert "residual stream rotated or permuted; units matched by their token responses" in result.transformations
    for ref, cand in ((wide_sampled["llama-w-b"], wide_sampled["llama-w-a"]),
                      (wide_sampled["llama-w-b"], wide_sampled["llama-w-a-rotated"]),
                      (wide["llama-w-b"], wide_sampled["llama-w-a-rotated"]),
                      (wide_sampled["llama-w-a"], wide["llama-w-b"])):
        assert max(m.score for m in response_matches(ref, cand)) < calibration().response_guard
        result = compare(ref, cand)
        # a sampled hidden-192 model compares too few values for a negative verdict (the power certificate)
        assert result.verdict == "inconclusive" and result.confidence < 0.9, result.reason


def test_version_9_sampled_fingerprints_stay_readable_and_comparable(wide, wide_sampled, tmp_path):
    """A version 9 sampled file (no responses) loads and compares with version 10 ones, full or sampled, without
    the token response step: the rotated fine-tune is not derived from it, nor denied."""
    old = as_version_9(wide_sampled["llama-w-a-rotated"])
    assert old.version == 9 and not old.response_tokens
    old.save(tmp_path / "v9.osfp")
    assert Fingerprint.load(tmp_path / "v9.osfp").version == 9
    for ref in (wide["llama-w-a"], wide_sampled["llama-w-a"]):
        result = compare(ref, old)
        assert result.verdict not in ("derived",) + NEGATIVE, result.reason
        assert not any(m.statistic == "token-responses" for m in result.tensors)
        assert compare(ref, wide_sampled["llama-w-a-rotated"]).verdict == "derived"


@pytest.fixture(scope="module")
def smollm2_rotated(smollm2_family):
    """Full and sampled fingerprints of the real SmolLM2 base, its GGUF and its AdamW fine-tune rotated and
    permuted."""
    from openscore.zoo import smollm2

    cases = smollm2_family
    dest = cases[0].path.parent
    rotated = smollm2.build_rotated(dest, cases)
    gguf_case = next(c for c in cases if c.name == "smollm2-gguf")
    return {"base": fingerprint_spec(str(cases[0].path), device="cpu"),
            "base sampled": fingerprint_spec(str(cases[0].path), device="cpu", sample=True),
            "gguf": fingerprint_spec(str(gguf_case.path), device="cpu"),
            "gguf sampled": fingerprint_spec(str(gguf_case.path), device="cpu", sample=True),
            "gguf sampled unbudgeted": fingerprint_spec(str(gguf_case.path), device="cpu", sample=True,
                                                        read_budget=None),
            "rotated": fingerprint_spec(str(rotated.path), device="cpu"),
            "rotated sampled": fingerprint_spec(str(rotated.path), device="cpu", sample=True)}


@pytest.mark.slow  # builds the SmolLM2 family (a fine-tune of a 135M model) unless OPENSCORE_ZOO_CACHE has it
def test_real_smollm2_rotated_and_permuted_fine_tune_is_derived(smollm2_rotated):
    """Real weights, 576 wide: derived with every q/k/v/o/gate/up/down matched (210 tensors). As version 8 the same
    pair is only partially-derived (the unit-indexed Gram of 22 of 211 tensors). Sampled (version 10), by the
    responses of attn_k of layers 0 and 29 read whole: derived against the base full or sampled and against the
    GGUF full or sampled; as version 9 (no responses) it was inconclusive with confidence 0."""
    fps = smollm2_rotated
    base, rotated = fps["base"], fps["rotated"]
    for ref, cand in ((base, rotated), (rotated, base)):
        result = compare(ref, cand)
        assert result.verdict == "derived" and result.confidence > 0.99, result.reason
        matched = [m for m in result.tensors if m.statistic == "token-responses"]
        assert len(matched) == 210 and min(m.r for m in matched) >= 0.95
        assert "hidden units permuted (mlp_gate)" in result.transformations
    before = compare(as_version_8(base), rotated)
    assert before.verdict == "partially-derived", before.reason
    assert compare(base, as_version_9(fps["rotated sampled"])).verdict == "inconclusive"
    for ref in ("base", "base sampled", "gguf", "gguf sampled unbudgeted"):
        for a, b in ((fps[ref], fps["rotated sampled"]), (fps["rotated sampled"], fps[ref])):
            result = compare(a, b)
            assert result.verdict == "derived" and result.confidence > 0.99, (ref, result.reason)
            matched = [m for m in result.tensors if m.statistic == "token-responses"]
            assert {m.candidate.split(".")[2 if "model." in m.candidate else 1] for m in matched} == {"0", "29"}
            assert min(m.r for m in matched) >= 0.95
    # the same arrays as the full pass's, bf16 safetensors and Q4_1 GGUF alike
    for full, sampled in (("base", "base sampled"), ("gguf", "gguf sampled unbudgeted"), ("rotated", "rotated sampled")):
        by_name = {t.name: t for t in fps[full].tensors}
        kept = [t for t in fps[sampled].tensors if "responses" in t.sketch]
        assert len(kept) == 2 and fps[sampled].response_tokens == fps[full].response_tokens
        for t in kept:
            for kind in ("responses", "response_units"):
                assert np.array_equal(fps[sampled].array(t, kind), fps[full].array(by_name[t.name], kind))
    # the local GGUF's header (1.8 MB, the vocabulary read whole) leaves no room in its 2 % budget for the responses:
    # none are read, and a negative verdict keeps at most `rotation_unexcluded` (it was `independent` at 1.0)
    assert not fps["gguf sampled"].response_tokens and fps["gguf sampled"].budget.response_bytes == 0
    against_gguf = compare(fps["gguf sampled"], fps["rotated sampled"])
    assert against_gguf.confidence <= calibration().rotation_unexcluded, against_gguf.reason
    # full on both sides, the responses find it whatever the storage
    assert compare(fps["gguf"], rotated).verdict == "derived"


def test_a_version_9_sampled_cache_entry_is_a_miss_refilled_as_version_10(wide_sampled, tmp_path):
    """The cache serves what this version computes: a version 9 sampled entry (no responses) under the same key
    is not served for a version 10 request, and the next put replaces it."""
    from openscore.weights.cache import FingerprintCache

    cache, sha = FingerprintCache(tmp_path / "fingerprints"), "a" * 40
    old = as_version_9(wide_sampled["llama-w-a"])
    path = cache.put("org/wide", sha, old)
    assert Fingerprint.load(path).version == 9 and cache.get("org/wide", sha, sample=True) is None
    assert cache.put("org/wide", sha, wide_sampled["llama-w-a"]) == path
    assert cache.get("org/wide", sha, sample=True).to_bytes() == wide_sampled["llama-w-a"].to_bytes()
