"""The layout fingerprint on the real repositories of ../shared/data/realcards (index + config, no weights).

Headers are read the way users read them (open_source + read_checkpoint); the expected values are
the published geometries of these models, not outputs of the code under test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from openscore.formats import read_checkpoint
from openscore.layout import Layout, build_layout, find_renames
from openscore.sources import open_source

INDEXED = [
    "Qwen__Qwen-7B", "THUDM__chatglm-6b", "allenai__OLMo-2-1124-13B", "allenai__OLMo-2-1124-13B-Instruct",
    "baichuan-inc__Baichuan2-13B-Chat", "bigscience__bloom", "cognitivecomputations__dolphin-2.5-mixtral-8x7b",
    "elyza__ELYZA-japanese-Llama-2-13b-instruct", "google__gemma-2b-it", "internlm__internlm-20b",
    "jeevanchaps__Meta-Llama3.1-8B-Instruct-assessment", "lmsys__vicuna-7b-delta-v0",
    "mattshumer__Reflection-Llama-3.1-70B", "meta-llama__Llama-2-7b-chat-hf__resaved-copy", "meta-llama__Llama-2-7b-hf",
    "microsoft__WizardLM-2-8x22B__alpindale-reupload", "mistralai__Mistral-7B-v0.1", "mistralai__Mixtral-8x7B-v0.1",
    "tiiuae__falcon-40b", "tiiuae__falcon-7b", "tiiuae__falcon-7b-instruct", "togethercomputer__RedPajama-INCITE-7B-Base",
    "unofficial__phi-2-reupload",
]

FAMILY = {
    "Qwen__Qwen-7B": "qwen", "THUDM__chatglm-6b": "chatglm", "allenai__OLMo-2-1124-13B": "olmo2",
    "allenai__OLMo-2-1124-13B-Instruct": "olmo2", "baichuan-inc__Baichuan2-13B-Chat": "baichuan",
    "bigscience__bloom": "bloom", "cognitivecomputations__dolphin-2.5-mixtral-8x7b": "mixtral",
    "elyza__ELYZA-japanese-Llama-2-13b-instruct": "llama", "google__gemma-2b-it": "gemma",
    "internlm__internlm-20b": "internlm", "jeevanchaps__Meta-Llama3.1-8B-Instruct-assessment": "llama",
    "lmsys__vicuna-7b-delta-v0": "llama", "mattshumer__Reflection-Llama-3.1-70B": "llama",
    "meta-llama__Llama-2-7b-chat-hf__resaved-copy": "llama", "meta-llama__Llama-2-7b-hf": "llama",
    "microsoft__WizardLM-2-8x22B__alpindale-reupload": "mixtral", "mistralai__Mistral-7B-v0.1": "mistral",
    "mistralai__Mixtral-8x7B-v0.1": "mixtral", "tiiuae__falcon-40b": "falcon", "tiiuae__falcon-7b": "falcon",
    "tiiuae__falcon-7b-instruct": "falcon", "togethercomputer__RedPajama-INCITE-7B-Base": "gpt-neox",
    "unofficial__phi-2-reupload": "phi",
}

# Published parameter counts (model cards / papers), counted from the tensor list + config here.
PARAMS = {
    "meta-llama__Llama-2-7b-hf": 6_738_415_616,
    "mistralai__Mistral-7B-v0.1": 7_241_732_096,
    "mistralai__Mixtral-8x7B-v0.1": 46_702_792_704,
    "Qwen__Qwen-7B": 7_721_324_544,
    "tiiuae__falcon-7b": 7_217_189_760,
    "unofficial__phi-2-reupload": 2_779_683_840,
    "bigscience__bloom": 176_247_271_424,
    "google__gemma-2b-it": 2_506_172_416,
}

# (hidden, layers, heads, kv heads, head dim, one-branch FFN width, vocab, tied, experts) from each model's paper/card.
GEOMETRY = {
    "Qwen__Qwen-7B": (4096, 32, 32, 32, 128, 11008, 151936, False, None),
    "Qwen__Qwen-7B-Chat": (4096, 32, 32, 32, 128, 11008, 151936, False, None),
    "Qwen__Qwen1.5-7B": (4096, 32, 32, 32, 128, 11008, 151936, False, None),
    "THUDM__chatglm-6b": (4096, 28, 32, 32, 128, 16384, 130528, False, None),
    "allenai__OLMo-2-1124-13B": (5120, 40, 40, 40, 128, 13824, 100352, False, None),
    "baichuan-inc__Baichuan2-13B-Chat": (5120, 40, 40, 40, 128, 13696, 125696, False, None),
    "bigscience__bloom": (14336, 70, 112, 112, 128, 57344, 250880, True, None),
    "cognitivecomputations__dolphin-2.5-mixtral-8x7b": (4096, 32, 32, 8, 128, 14336, 32002, False, 8),
    "elyza__ELYZA-japanese-Llama-2-13b-instruct": (5120, 40, 40, 40, 128, 13824, 32000, False, None),
    "google__gemma-2b-it": (2048, 18, 8, 1, 256, 16384, 256000, True, None),
    "internlm__internlm-20b": (5120, 60, 40, 40, 128, 13824, 103168, False, None),
    "jeevanchaps__Meta-Llama3.1-8B-Instruct-assessment": (4096, 32, 32, 8, 128, 14336, 128256, False, None),
    "lmsys__vicuna-7b-delta-v0": (4096, 32, 32, 32, 128, 11008, 32001, False, None),
    "mattshumer__Reflection-Llama-3.1-70B": (8192, 80, 64, 8, 128, 28672, 128262, False, None),
    "meta-llama__Llama-2-7b-hf": (4096, 32, 32, 32, 128, 11008, 32000, False, None),
    "meta-llama__Meta-Llama-3-8B": (4096, 32, 32, 8, 128, 14336, 128256, False, None),
    "microsoft__WizardLM-2-8x22B__alpindale-reupload": (6144, 56, 48, 8, 128, 16384, 32000, False, 8),
    "mistralai__Mistral-7B-v0.1": (4096, 32, 32, 8, 128, 14336, 32000, False, None),
    "tiiuae__falcon-40b": (8192, 60, 128, 8, 64, 32768, 65024, True, None),
    "tiiuae__falcon-7b": (4544, 32, 71, 1, 64, 18176, 65024, True, None),
    "togethercomputer__RedPajama-INCITE-7B-Base": (4096, 32, 32, 32, 128, 16384, 50432, False, None),
    "unofficial__phi-2-reupload": (2560, 32, 32, 32, 80, 10240, 51200, False, None),
}

_cache: dict[str, Layout] = {}


def layout_of(folder: Path) -> Layout:
    key = str(folder)
    if key not in _cache:
        source = open_source(key)
        _cache[key] = build_layout(read_checkpoint(source))
    return _cache[key]


def test_every_indexed_realcard_is_listed(realcards):
    found = sorted(p.parent.name for p in realcards.glob("*/*.index.json"))
    assert sorted(set(found)) == sorted(INDEXED)


@pytest.mark.parametrize("name", INDEXED)
def test_realcard_layout_maps_every_tensor(realcards, name):
    layout = layout_of(realcards / name)
    assert layout.family == FAMILY[name]
    assert layout.unmapped == []
    assert layout.tensors, "the index names the tensors"
    assert {t.shape_source for t in layout.tensors} == {"config"}  # weights are LFS pointers: shapes from config
    assert all(t.role_source == "name" for t in layout.tensors)
    assert find_renames(layout).kinds_renamed == 0  # no real checkpoint is flagged as renamed
    assert layout.warnings == []
    if name in PARAMS:
        assert layout.params_total == PARAMS[name]


@pytest.mark.parametrize("name", sorted(GEOMETRY))
def test_config_normalisation_on_real_configs(realcards, name):
    cfg = layout_of(realcards / name).config
    hidden, layers, heads, kv, head_dim, ffn, vocab, tied, experts = GEOMETRY[name]
    assert (cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (
        hidden, layers, heads, kv, head_dim)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.tied_embeddings, cfg.num_experts) == (ffn, vocab, tied, experts)


def test_config_normalisation_details(realcards):
    llama31 = layout_of(realcards / "jeevanchaps__Meta-Llama3.1-8B-Instruct-assessment").config
    assert llama31.rope_scaling["rope_type"] == "llama3" and llama31.rope_theta == 500000.0
    assert llama31.max_positions == 131072 and llama31.norm_type == "rmsnorm" and llama31.activation == "silu"
    falcon = layout_of(realcards / "tiiuae__falcon-7b").config
    assert falcon.norm_type == "layernorm" and falcon.norm_eps == 1e-5
    qwen = layout_of(realcards / "Qwen__Qwen-7B").config
    assert qwen.rope_theta == 10000.0  # from `rotary_emb_base`
    # Reflection-Llama-3.1-70B's config has Llama-3 (not 3.1) rope settings: visible in the normalised config
    reflection = layout_of(realcards / "mattshumer__Reflection-Llama-3.1-70B").config
    assert reflection.rope_scaling is None and reflection.max_positions == 8192


def test_artefacts_are_listed_apart_and_kept_out_of_the_signature(realcards):
    base = layout_of(realcards / "meta-llama__Llama-2-7b-hf")  # carries rotary_emb.inv_freq buffers
    resaved = layout_of(realcards / "meta-llama__Llama-2-7b-chat-hf__resaved-copy")  # pickle, no buffers
    assert len(base.artefacts) == 32 and all(a.name.endswith("rotary_emb.inv_freq") for a in base.artefacts)
    assert resaved.artefacts == []
    assert base.signature == resaved.signature
    bnb = layout_of(realcards / "jeevanchaps__Meta-Llama3.1-8B-Instruct-assessment")  # bitsandbytes int8
    assert {a.name.rsplit(".", 1)[1] for a in bnb.artefacts} == {"SCB", "weight_format"}
    neox = layout_of(realcards / "togethercomputer__RedPajama-INCITE-7B-Base")
    assert {a.name.split(".", 3)[-1] for a in neox.artefacts} == {
        "attention.bias", "attention.masked_bias", "attention.rotary_emb.inv_freq"}


def _copy_index_repo(src: Path, dest: Path, rename=None) -> Path:
    """Index + config of a real repo, tensor names passed through `rename` (the test's own Yi-style edit)."""
    dest.mkdir(parents=True)
    shutil.copy(src / "config.json", dest / "config.json")
    index = json.loads((src / "model.safetensors.index.json").read_text())
    if rename:
        index["weight_map"] = {rename(k): v for k, v in index["weight_map"].items()}
    (dest / "model.safetensors.index.json").write_text(json.dumps(index))
    return dest


def _yi_rename(name: str) -> str:
    return name.replace(".input_layernorm.", ".ln1.").replace(".post_attention_layernorm.", ".ln2.")


def test_yi_style_rename_of_llama2_is_a_llama_layout_with_two_kinds_renamed(realcards, tmp_path):
    llama = realcards / "meta-llama__Llama-2-7b-hf"
    yi = layout_of(_copy_index_repo(llama, tmp_path / "yi", _yi_rename))
    assert yi.family == "llama" and yi.scheme == "llama"
    assert yi.unmapped == []

    report = find_renames(yi)
    assert report.kinds_renamed == 2 and report.tensors_renamed == 64
    by_kind = {k.kind: k for k in report.renamed}
    assert by_kind["model.layers.{L}.ln1.weight"].role == "attn_norm"
    assert by_kind["model.layers.{L}.ln1.weight"].expected == "model.layers.{L}.input_layernorm.weight"
    assert by_kind["model.layers.{L}.ln2.weight"].role == "mlp_norm"
    assert by_kind["model.layers.{L}.ln2.weight"].expected == "model.layers.{L}.post_attention_layernorm.weight"

    against_base = find_renames(yi, layout_of(llama))
    assert against_base.kinds_renamed == 2 and against_base.same_geometry is True
    assert against_base.tensors_matched == 291 and against_base.candidate_only == against_base.reference_only == []
    assert yi.signature == layout_of(llama).signature  # names do not enter the signature


def test_rename_detection_does_not_depend_on_the_new_names(realcards, tmp_path):
    """Not a lookup of 'ln1': any names placed in every block are recognised the same way."""
    def rename(name: str) -> str:
        return name.replace(".input_layernorm.", ".pre_mix_scale.").replace(".post_attention_layernorm.", ".zz_norm.")

    layout = layout_of(_copy_index_repo(realcards / "meta-llama__Llama-2-7b-hf", tmp_path / "x", rename))
    report = find_renames(layout)
    assert {(k.kind, k.role) for k in report.renamed} == {
        ("model.layers.{L}.pre_mix_scale.weight", "attn_norm"), ("model.layers.{L}.zz_norm.weight", "mlp_norm")}


def test_a_kind_missing_from_some_blocks_is_not_taken_for_a_rename(realcards, tmp_path):
    def rename(name: str) -> str:  # only block 0's norm renamed: not a systematic rename of a required kind
        return name.replace("model.layers.0.input_layernorm.", "model.layers.0.ln1.")

    layout = layout_of(_copy_index_repo(realcards / "meta-llama__Llama-2-7b-hf", tmp_path / "x", rename))
    assert layout.unmapped == ["model.layers.0.ln1.weight"]
    assert find_renames(layout).kinds_renamed == 0


def test_qwen1_gpt2_style_names_are_not_a_renamed_llama(realcards):
    qwen = layout_of(realcards / "Qwen__Qwen-7B")
    assert qwen.family == "qwen" and qwen.scheme == "qwen"
    assert find_renames(qwen).kinds_renamed == 0
    assert qwen.signature != layout_of(realcards / "meta-llama__Llama-2-7b-hf").signature


def test_qwen1_without_its_config_is_still_qwen(realcards, tmp_path):
    """The names alone decide: they all belong to the Qwen-1 scheme, so it is not a renamed LLaMA."""
    dest = _copy_index_repo(realcards / "Qwen__Qwen-7B", tmp_path / "q")
    (dest / "config.json").unlink()
    layout = layout_of(dest)
    assert (layout.family, layout.family_source, layout.scheme) == ("qwen", "names", "qwen")
    assert layout.unmapped == [] and find_renames(layout).kinds_renamed == 0
    assert layout.config.num_layers == 32 and "num_layers" in layout.config_from_tensors


def _gguf_names(name: str) -> str:
    """llama.cpp's names for a HF LLaMA checkpoint (convert_hf_to_gguf.py)."""
    table = {
        "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if name in table:
        return table[name]
    block = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    _, _, index, rest = name.split(".", 3)
    return f"blk.{index}.{block[rest.rsplit('.', 1)[0]]}.weight"


def test_equal_geometry_under_different_names_gives_one_signature(realcards, tmp_path):
    llama2 = layout_of(realcards / "meta-llama__Llama-2-7b-hf")
    resaved_chat = layout_of(realcards / "meta-llama__Llama-2-7b-chat-hf__resaved-copy")
    gguf_named = layout_of(_copy_index_repo(
        realcards / "meta-llama__Llama-2-7b-hf", tmp_path / "g",
        lambda n: n if n.endswith("inv_freq") else _gguf_names(n)))
    assert gguf_named.scheme == "gguf" and gguf_named.family == "llama" and gguf_named.unmapped == []
    assert llama2.signature == resaved_chat.signature == gguf_named.signature
    report = find_renames(gguf_named, llama2)
    assert report.same_geometry and report.kinds_renamed == 12 and report.tensors_matched == 291


def test_different_geometries_give_different_signatures(realcards):
    signatures = {
        name: layout_of(realcards / name).signature
        for name in ("meta-llama__Llama-2-7b-hf", "lmsys__vicuna-7b-delta-v0", "mistralai__Mistral-7B-v0.1",
                     "elyza__ELYZA-japanese-Llama-2-13b-instruct", "internlm__internlm-20b",
                     "mistralai__Mixtral-8x7B-v0.1", "cognitivecomputations__dolphin-2.5-mixtral-8x7b",
                     "baichuan-inc__Baichuan2-13B-Chat", "tiiuae__falcon-7b", "tiiuae__falcon-40b")
    }
    assert len(set(signatures.values())) == len(signatures)
    # same geometry, independent repos: the two OLMo-2 13B, and falcon-7b vs its instruct tune
    assert layout_of(realcards / "allenai__OLMo-2-1124-13B").signature == \
        layout_of(realcards / "allenai__OLMo-2-1124-13B-Instruct").signature
    assert layout_of(realcards / "tiiuae__falcon-7b").signature == \
        layout_of(realcards / "tiiuae__falcon-7b-instruct").signature


def test_config_signature_separates_rope_settings(realcards):
    llama2 = layout_of(realcards / "meta-llama__Llama-2-7b-hf")
    resaved = layout_of(realcards / "meta-llama__Llama-2-7b-chat-hf__resaved-copy")
    assert llama2.config_signature == resaved.config_signature
    vicuna = layout_of(realcards / "lmsys__vicuna-7b-delta-v0")  # LLaMA-1: 2048 positions
    assert vicuna.config.max_positions == 2048 and llama2.config_signature != vicuna.config_signature


def test_phi2_mixformer_keeps_embedding_and_head_in_its_block_list(realcards):
    """phi-2's first release: layers.0 is the embedding, layers.1-32 the blocks, layers.33 norm + head."""
    layout = layout_of(realcards / "unofficial__phi-2-reupload")
    roles = {t.name: (t.role, t.layer) for t in layout.tensors}
    assert roles["layers.0.wte.weight"] == ("embed", None)
    assert roles["layers.1.mixer.Wqkv.weight"] == ("attn_qkv", 0)
    assert roles["layers.32.mlp.fc2.bias"] == ("mlp_down.bias", 31)
    assert roles["layers.33.ln.weight"] == ("final_norm", None)
    assert roles["layers.33.linear.weight"] == ("lm_head", None)


def test_qwen1_names_under_a_llama_config_stay_qwen_with_a_warning(realcards, tmp_path):
    dest = _copy_index_repo(realcards / "Qwen__Qwen-7B", tmp_path / "q")
    config = json.loads((dest / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, "model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    layout = layout_of(dest)
    assert (layout.family, layout.family_source, layout.scheme) == ("qwen", "names", "qwen")
    assert any("'llama'" in w and "'qwen'" in w for w in layout.warnings)
    assert find_renames(layout).kinds_renamed == 0
