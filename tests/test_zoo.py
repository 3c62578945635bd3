"""The provenance zoo itself: trained bases, derivations that do what their recipe says, determinism and cache.

These tests check the *ground truth* the provenance tests rely on; they read the tensors directly
and never call openscore.weights.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources

import gguf
import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import load_file

from openscore.errors import UsageError
from openscore.zoo import build, load_catalogue, load_model
from openscore.zoo.build import KEYS_DIR
from openscore.zoo.catalogue import Catalogue
from openscore.zoo.corpus import ByteTokenizer, corpus_text
from openscore.zoo.derive import gguf_rope_permute, permute_heads, permute_mlp
from openscore.zoo.expect import expected
from openscore.zoo.families import model_from_state, perplexity_bits


def _state(case) -> dict[str, torch.Tensor]:
    return load_file(str(case.path / "model.safetensors"))


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.float().flatten().numpy(), b.float().flatten().numpy())[0, 1])


def _held_out(seed: int = 7):
    ids = ByteTokenizer().encode(corpus_text("finetune"))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - 65, size=16)
    window = np.stack([ids[s : s + 65] for s in starts])
    return torch.from_numpy(window[:, :-1]), torch.from_numpy(window[:, 1:])


def test_catalogue_covers_every_required_case():
    cat = load_catalogue()
    quick = [c for c in cat.cases if c.quick]
    for family in ("llama", "gpt2", "neox"):
        bases = [c for c in quick if c.recipe == "pretrain" and c.family == family]
        assert len(bases) >= 2, f"{family}: two independently trained bases are needed for negatives"
        assert len({(c.args["seed"], c.args["data_seed"]) for c in bases}) == len(bases)
    recipes = {c.recipe for c in quick}
    assert recipes == {"pretrain", "train", "copy", "rename", "cast", "gguf", "lora", "extend_vocab",
                       "select_layers", "merge", "stack", "permute_mlp", "permute_heads", "permute_residual", "fold_norms",
                       "rotate_residual", "prune_width", "quant_dequant", "gguf_dequant", "transpose", "fuse_qkv"}
    assert {c.args.get("qtype") for c in quick if c.recipe == "gguf"} == {"Q8_0", "Q4_0"}
    assert {c.args.get("method") for c in quick if c.recipe == "merge"} == {"linear", "slerp"}
    cross = cat.get("llama-ab-merge")
    assert {cat.get(p).from_ for p in cross.parents} == {"llama-a", "llama-b"}


def test_catalogue_rejects_a_case_built_on_an_unknown_one():
    data = yaml.safe_load(resources.files("openscore.zoo").joinpath("cases.yaml").read_text())
    data["cases"].append({"name": "orphan", "from": "nowhere", "recipe": "train", "relation": "derived",
                          "notes": "x", "args": {}})
    with pytest.raises(ValidationError, match="nowhere"):
        Catalogue.model_validate(data)
    data["cases"][-1] = {"name": "gpt2-gguf", "from": "gpt2-a", "recipe": "gguf", "relation": "recast-copy",
                         "notes": "x", "args": {"qtype": "Q8_0"}}
    with pytest.raises(ValidationError, match="llama family only"):
        Catalogue.model_validate(data)


def test_bases_are_trained_not_random(quick_zoo):
    inputs, targets = _held_out()
    for name in ("llama-a", "llama-b", "gpt2-a", "gpt2-b", "neox-a", "neox-b"):
        bits = perplexity_bits(load_model(quick_zoo[name]), inputs, targets)
        assert bits < 4.5, f"{name} predicts held-out text at {bits:.2f} bits/byte (uniform is 8.0)"


def test_expected_drift_between_cases(quick_zoo):
    """Ground truth sanity: fine-tunes stay close to their base, independent bases are uncorrelated."""
    name = "model.layers.1.mlp.gate_proj.weight"
    a = _state(quick_zoo["llama-a"])[name]
    assert abs(_pearson(a, _state(quick_zoo["llama-b"])[name])) < 0.1
    assert _pearson(a, _state(quick_zoo["llama-a-sft"])[name]) > 0.95
    assert 0.3 < _pearson(a, _state(quick_zoo["llama-a-cpt"])[name]) < 0.99
    assert _pearson(a, _state(quick_zoo["llama-a-mlp-perm"])[name]) < 0.2  # the point of the permutation
    assert abs(_pearson(a, _state(quick_zoo["llama-a-residual-perm"])[name])) < 0.2


@pytest.mark.parametrize("name, reference", [("llama-a-mlp-perm", "llama-a"), ("llama-a-head-perm", "llama-a-sft"),
                                             ("llama-a-yi", "llama-a"), ("llama-a-residual-perm", "llama-a-sft"),
                                             ("llama-a-gain-fold", "llama-a")])
def test_obfuscations_preserve_the_function(quick_zoo, name, reference):
    inputs, _ = _held_out()
    with torch.no_grad():
        expected = load_model(quick_zoo[reference])(inputs)
        got = load_model(quick_zoo[name])(inputs)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["gpt2", "neox"])
def test_permutations_preserve_the_function_in_every_family(quick_zoo, family):
    case = quick_zoo[f"{family}-a"]
    state = _state(case)
    g = load_catalogue().families[family]
    model = load_model(case)
    inputs, _ = _held_out()
    for permuted in (permute_mlp(family, state, 5), permute_heads(family, state, 6, g.heads, g.kv_heads)):
        assert any(not torch.equal(permuted[k], state[k]) for k in state)
        with torch.no_grad():
            torch.testing.assert_close(model_from_state(family, g, permuted)(inputs), model(inputs), atol=1e-4, rtol=1e-4)


def test_copy_and_yi_rename(quick_zoo):
    base = quick_zoo["llama-a"].path
    assert (quick_zoo["llama-a-copy"].path / "model.safetensors").read_bytes() == (base / "model.safetensors").read_bytes()
    yi = quick_zoo["llama-a-yi"]
    config = json.loads((yi.path / "config.json").read_text())
    assert config["architectures"] == ["YiForCausalLM"] and config["model_type"] == "Yi"
    original, renamed = _state(quick_zoo["llama-a"]), _state(yi)
    assert set(renamed) - set(original) == {f"model.layers.{i}.{n}.weight" for i in range(4) for n in ("ln1", "ln2")}
    assert torch.equal(renamed["model.layers.2.ln1.weight"], original["model.layers.2.input_layernorm.weight"])
    assert "base_model" not in (yi.path / "README.md").read_text()  # the shell does not declare its base


@pytest.mark.parametrize("name, dtype, st_dtype", [("llama-a-fp16", torch.float16, "F16"),
                                                   ("llama-a-bf16", torch.bfloat16, "BF16")])
def test_casts(quick_zoo, name, dtype, st_dtype):
    original = _state(quick_zoo["llama-a"])
    with safe_open(str(quick_zoo[name].path / "model.safetensors"), "pt") as fh:
        assert fh.metadata() == {"format": "pt"}
        for key in original:
            tensor = fh.get_tensor(key)
            assert tensor.dtype == dtype
            assert torch.equal(tensor, original[key].to(dtype))
    assert json.loads((quick_zoo[name].path / "config.json").read_text())["torch_dtype"] == str(dtype)[6:]


@pytest.mark.parametrize("name, qtype, min_r", [("llama-a-q8", "Q8_0", 0.999), ("llama-a-q4", "Q4_0", 0.97)])
def test_gguf_quantisations(quick_zoo, name, qtype, min_r):
    case = quick_zoo[name]
    (file,) = case.path.glob("*.gguf")
    reader = gguf.GGUFReader(file)
    tensors = {t.name: t for t in reader.tensors}
    assert "blk.3.attn_norm.weight" in tensors and "token_embd.weight" in tensors and "output.weight" in tensors
    assert not any(n.startswith("model.") for n in tensors)
    base = _state(quick_zoo["llama-a"])
    q = tensors["blk.1.attn_q.weight"]
    assert q.tensor_type.name == qtype
    values = gguf.quants.dequantize(q.data, q.tensor_type).reshape(base["model.layers.1.self_attn.q_proj.weight"].shape)
    meta = gguf_rope_permute(base["model.layers.1.self_attn.q_proj.weight"].numpy(), 4)
    assert np.corrcoef(values.flatten(), meta.flatten())[0, 1] > min_r
    card = yaml.safe_load((case.path / "README.md").read_text().split("---")[1])
    assert card["base_model"] == "openscore-zoo/llama-a" and card["base_model_relation"] == "quantized"


def test_adapter_repo_and_its_merged_twin(quick_zoo):
    adapter = quick_zoo["llama-a-adapter"]
    assert sorted(p.name for p in adapter.path.iterdir()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    config = json.loads((adapter.path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "openscore-zoo/llama-a" and config["peft_type"] == "LORA"
    lora = load_file(str(adapter.path / "adapter_model.safetensors"))
    a = lora["base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight"]
    b = lora["base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight"]
    assert a.shape == (4, 64) and b.shape == (192, 4)
    # The merged case is the same training merged: base + (alpha/r)·B·A, tensor for tensor.
    base = _state(quick_zoo["llama-a"])["model.layers.0.mlp.gate_proj.weight"]
    merged = _state(quick_zoo["llama-a-lora"])["model.layers.0.mlp.gate_proj.weight"]
    torch.testing.assert_close(merged, base + 2.0 * (b @ a))
    assert torch.linalg.matrix_rank(merged - base, rtol=1e-3) <= 4


def test_vocab_extension_layers_and_merges(quick_zoo):
    vocab = quick_zoo["llama-a-vocab"]
    state = _state(vocab)
    assert state["model.embed_tokens.weight"].shape == (292, 64) and state["lm_head.weight"].shape == (292, 64)
    assert json.loads((vocab.path / "config.json").read_text())["vocab_size"] == 292
    assert vocab.transforms == ("vocab rows added",)
    for name, layers in (("llama-a-pruned", 3), ("llama-a-upscaled", 6)):
        case = quick_zoo[name]
        assert json.loads((case.path / "config.json").read_text())["num_hidden_layers"] == layers
        assert len(case.layer_map) == layers
        state, base = _state(case), _state(quick_zoo["llama-a"])
        for i, j in enumerate(case.layer_map):
            key = "mlp.gate_proj.weight"
            assert _pearson(state[f"model.layers.{i}.{key}"], base[f"model.layers.{j}.{key}"]) > 0.9
    stack, a, b = (_state(quick_zoo[n]) for n in ("llama-ab-stack", "llama-a", "llama-b"))
    assert torch.equal(stack["model.layers.1.mlp.up_proj.weight"], a["model.layers.1.mlp.up_proj.weight"])
    assert torch.equal(stack["model.layers.2.mlp.up_proj.weight"], b["model.layers.2.mlp.up_proj.weight"])
    assert torch.equal(stack["lm_head.weight"], a["lm_head.weight"])
    linear = _state(quick_zoo["llama-a-linear"])
    sft, sft2 = _state(quick_zoo["llama-a-sft"]), _state(quick_zoo["llama-a-sft2"])
    torch.testing.assert_close(linear["lm_head.weight"], 0.5 * sft["lm_head.weight"] + 0.5 * sft2["lm_head.weight"])


def test_cards_declare_what_the_catalogue_says(quick_zoo):
    for case in quick_zoo.values():
        card = yaml.safe_load((case.path / "README.md").read_text().split("---")[1])
        assert card["license"] == "apache-2.0"
        declared = card.get("base_model")
        if case.declared_base is None:
            assert declared is None, case.name
        else:
            assert case.declared_base in ([declared] if isinstance(declared, str) else declared), case.name


def test_second_build_reuses_the_cache_and_a_stale_key_rebuilds_only_that_case(quick_zoo):
    dest = quick_zoo["llama-a"].path.parent

    def published():
        return {p: p.stat().st_mtime_ns for p in dest.glob("*/*") if p.parent.name != KEYS_DIR}

    mtimes = published()
    again = build(dest, quick=True)
    assert [c.name for c in again] == list(quick_zoo)
    assert published() == mtimes
    (dest / KEYS_DIR / "llama-a-copy").write_text("stale")
    build(dest, only=("llama-a-copy",))
    rebuilt = [p for p, mtime in published().items() if mtime != mtimes[p]]
    assert {p.parent.name for p in rebuilt} == {"llama-a-copy"}
    assert (dest / KEYS_DIR / "llama-a-copy").read_text() != "stale"
    assert not list(dest.glob(".llama-a-copy.*"))  # no temporary folder left behind


def test_a_fresh_build_is_byte_identical(quick_zoo, tmp_path):
    """Training is deterministic: the fine-tune retrained from the cached base gives the same bytes."""
    base = quick_zoo["neox-a"].path
    shutil.copytree(base, tmp_path / "neox-a")
    shutil.copytree(base.parent / KEYS_DIR, tmp_path / KEYS_DIR)
    (tmp_path / KEYS_DIR / "neox-a-sft").unlink()
    fresh = {c.name: c for c in build(tmp_path, only=("neox-a-sft",))}
    for rel in ("model.safetensors", "config.json", "README.md"):
        assert (fresh["neox-a-sft"].path / rel).read_bytes() == (quick_zoo["neox-a-sft"].path / rel).read_bytes()


def test_expectations_for_any_pair(quick_zoo):
    z = quick_zoo
    lineage = expected(z["llama-a-q4"], z["llama-a"])
    assert lineage.lineage and lineage.related and lineage.accepted == {"recast-copy"}
    assert expected(z["llama-a-vocab"], z["llama-a"]).accepted == {"partially-derived", "derived"}
    assert expected(z["llama-a-head-perm"], z["llama-a"]).label == "derived"  # through its fine-tune, to the root
    reverse = expected(z["llama-a"], z["llama-a-sft"])
    assert reverse.related and not reverse.lineage and "derived" in reverse.accepted
    siblings = expected(z["llama-a-sft"], z["llama-a-cpt"])
    assert siblings.label == "common ancestor" and siblings.related
    clone = expected(z["llama-a-sft"], z["llama-b"])
    assert not clone.related and clone.accepted == {"architecture-clone", "independent", "inconclusive"}
    other = expected(z["gpt2-a-sft"], z["llama-a"])
    assert not other.related and "architecture-clone" not in other.accepted


def test_unknown_case_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no zoo case named 'nope'"):
        build(tmp_path, only=("nope",))
    assert not any(p.name != KEYS_DIR for p in tmp_path.iterdir())
