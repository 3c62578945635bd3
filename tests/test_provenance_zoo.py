"""Acceptance: openscore's provenance detector against the quick zoo, whose ground truth is known.

Every derivation must be found with the right base and relation, no independently trained model
may be called derived, and the `openscore compare` / `openscore registry` commands must say so to
a user. The full zoo, all pairs and the figures are in bench/provenance.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.formats import read_checkpoint
from openscore.layout import build_layout
from openscore.provenance import analyse
from openscore.sources import open_source
from openscore.weights import compare
from openscore.weights.registry import Registry
from openscore.weights.spec import fingerprint_spec
from openscore.zoo.expect import DERIVED_OR_COPY, expected


@pytest.fixture(scope="module")
def prints(quick_zoo):
    return {name: fingerprint_spec(str(case.path), device="cpu")
            for name, case in quick_zoo.items() if case.weight_format != "adapter"}


@pytest.fixture(scope="module")
def bases(quick_zoo):
    return [case for case in quick_zoo.values() if case.base is None]


@pytest.fixture(scope="module")
def registry(prints, bases, tmp_path_factory):
    reg = Registry([], tmp_path_factory.mktemp("zoo-registry"))
    for case in bases:
        reg.add(prints[case.name], case.repo_id, licence="apache-2.0")
    return reg


def _derivations(quick_zoo):
    """Cases with one root base and full weights (the adapter and the two-base stack have their own tests)."""
    return [c for c in quick_zoo.values() if len(c.roots) == 1 and c.weight_format != "adapter"]


def test_every_derivation_gets_its_relation_against_its_base(quick_zoo, prints):
    wrong = {}
    for case in _derivations(quick_zoo):
        result = compare(prints[case.base], prints[case.name])
        if result.verdict not in case.accepted:
            wrong[case.name] = f"expected {case.relation}, got {result.verdict}: {result.reason}"
    assert not wrong


def test_registry_names_the_right_base_for_every_derivation(quick_zoo, prints, registry):
    found = {case.name: registry.match(prints[case.name], top=3)[0] for case in _derivations(quick_zoo)}
    assert {name: m.id for name, m in found.items()} == {
        case.name: f"openscore-zoo/{case.base}" for case in _derivations(quick_zoo)}
    assert all(m.comparison.verdict in DERIVED_OR_COPY for m in found.values())


def test_no_independent_pair_is_called_derived(quick_zoo, prints, bases):
    """Every case against every base it does not come from (same and other architectures)."""
    called = {}
    checked = 0
    for ref in bases:
        for cand in quick_zoo.values():
            if cand.name not in prints or cand.name == ref.name:
                continue
            exp = expected(cand, ref)
            if exp.related:
                continue
            checked += 1
            verdict = compare(prints[ref.name], prints[cand.name]).verdict
            if verdict not in exp.accepted:
                called[f"{cand.name} vs {ref.name}"] = verdict
    assert checked >= 100 and not called


def test_the_evidence_of_each_transformation_is_reported(quick_zoo, prints):
    def run(name):
        return compare(prints[quick_zoo[name].base], prints[name])

    yi = run("llama-a-yi")
    assert ("model.layers.0.input_layernorm.weight", "model.layers.0.ln1.weight") in [tuple(r) for r in yi.renames]
    assert {new.rsplit(".", 2)[-2] for _, new in yi.renames} == {"ln1", "ln2"}
    assert run("llama-a-vocab").vocab_rows_added == 32
    for name in ("llama-a-pruned", "llama-a-upscaled"):
        result = run(name)
        assert tuple(result.layer_map[i] for i in range(len(quick_zoo[name].layer_map))) == quick_zoo[name].layer_map
    assert run("llama-a-pruned").layers_dropped == [2]
    for name in ("llama-a-mlp-perm", "llama-a-head-perm"):
        assert any("permuted" in t for t in run(name).transformations), name
    assert any("Q4_0" in t for t in run("llama-a-q4").transformations)


@pytest.fixture(scope="module")
def sampled(quick_zoo):
    names = ("llama-a-yi", "llama-a-mlp-perm", "llama-a-head-perm", "llama-a-residual-perm", "llama-a-sft",
             "llama-b")
    return {name: fingerprint_spec(str(quick_zoo[name].path), device="cpu", sample=True) for name in names}


def test_sampled_fingerprints_reach_the_full_verdicts(quick_zoo, prints, sampled):
    """--sparse reads whole rows only, yet the renamed shell and the permutations get the full-mode verdict."""
    for name, fp in sampled.items():
        ref = prints["llama-a"]
        full, part = compare(ref, prints[name]), compare(ref, fp)
        assert part.verdict == full.verdict, (name, full.verdict, part.verdict, part.reason)
        assert part.verdict in expected(quick_zoo[name], quick_zoo["llama-a"]).accepted
        # a third at most: since format version 8 a model at most 128 wide keeps 4 token rows per dimension of
        # embed and lm_head for the residual alignment (256 of this zoo's 260), the rest is 16 rows a matrix
        assert fp.sample and 0 < fp.bytes_read < 0.33 * fp.bytes_total, name
    yi = compare(prints["llama-a"], sampled["llama-a-yi"])
    assert {new.rsplit(".", 2)[-2] for _, new in yi.renames} == {"ln1", "ln2"}
    assert "hidden units permuted (mlp_up)" in compare(prints["llama-a"], sampled["llama-a-mlp-perm"]).transformations
    assert "residual stream permuted or rotated" in compare(
        prints["llama-a"], sampled["llama-a-residual-perm"]).transformations
    # the residual permutation is matched to its own base, not to another one of the same architecture
    assert compare(prints["llama-b"], sampled["llama-a-residual-perm"]).verdict not in DERIVED_OR_COPY
    read = sum(fp.bytes_read for fp in sampled.values())
    assert read < 0.33 * sum(fp.bytes_total for fp in sampled.values())  # 0.2 before format version 8


def _analyse(case, registry):
    source = open_source(str(case.path))
    headers = read_checkpoint(source)
    return analyse(source, headers, build_layout(headers), registry=registry, device="cpu")


def test_adapter_repo_reports_its_declared_base(quick_zoo, registry):
    result = _analyse(quick_zoo["llama-a-adapter"], registry)
    assert result.base == "openscore-zoo/llama-a"
    assert result.declared_base == "openscore-zoo/llama-a"


def test_merge_is_traced_to_its_base(quick_zoo, registry):
    result = _analyse(quick_zoo["llama-a-linear"], registry)
    assert result.verdict == "derived" and result.base == "openscore-zoo/llama-a"
    assert result.declared_relation == "merge"


def test_frankenmerge_names_both_parents_and_their_layers(quick_zoo, prints, registry):
    stack = quick_zoo["llama-ab-stack"]
    result = _analyse(stack, registry)
    assert {result.base, *result.parents} >= {"openscore-zoo/llama-a", "openscore-zoo/llama-b"}
    from_b = compare(prints["llama-b"], prints["llama-ab-stack"])
    assert from_b.verdict == "partially-derived"
    assert {i: j for i, j in from_b.layer_map.items() if j is not None} == {2: 2, 3: 3}


# ---------------------------------------------------------------- what a user sees
def _cli(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # progress goes to stderr


def test_cli_compare_renamed_only_copy(quick_zoo):
    out = _cli("compare", str(quick_zoo["llama-a"].path), str(quick_zoo["llama-a-yi"].path))
    assert "verdict: renamed-copy" in out
    for i in range(4):
        assert f"renamed: model.layers.{i}.input_layernorm.weight -> model.layers.{i}.ln1.weight" in out
        assert f"renamed: model.layers.{i}.post_attention_layernorm.weight -> model.layers.{i}.ln2.weight" in out


def test_cli_compare_bf16_cast(quick_zoo):
    out = _cli("compare", str(quick_zoo["llama-a"].path), str(quick_zoo["llama-a-bf16"].path), "--format", "json")
    result = json.loads(out)
    assert result["verdict"] == "recast-copy"
    assert any("BF16" in t for t in result["transformations"])


def test_cli_registry_names_the_base_of_a_gguf_q4(quick_zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENSCORE_REGISTRY", str(tmp_path / "registry"))
    for name in ("llama-a", "llama-b"):
        _cli("registry", "add", str(quick_zoo[name].path), "--id", f"openscore-zoo/{name}")
    out = _cli("registry", "match", str(quick_zoo["llama-a-q4"].path), "--format", "json")
    best = json.loads(out)[0]
    assert best["id"] == "openscore-zoo/llama-a"
    assert best["comparison"]["verdict"] == "recast-copy"
    out = _cli("compare", str(quick_zoo["llama-a"].path), str(quick_zoo["llama-a-q4"].path))
    assert "verdict: recast-copy" in out
