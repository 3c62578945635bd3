"""The layout fingerprint on small real checkpoints written here (safetensors, GGUF) and the embedded samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from openscore.formats import read_checkpoint
from openscore.formats.records import CheckpointHeaders, TensorRecord
from openscore.layout import Layout, build_layout, find_renames
from openscore.sources import open_source

LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 172,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 512,
    "max_position_embeddings": 256, "rope_theta": 10000.0, "tie_word_embeddings": False,
}


def layout_at(spec: str | Path) -> Layout:
    return build_layout(read_checkpoint(open_source(str(spec))))


def llama_arrays(dtype=np.float32, rename: dict[str, str] | None = None, config: dict = LLAMA) -> dict[str, np.ndarray]:
    h, f, v, layers = config["hidden_size"], config["intermediate_size"], config["vocab_size"], config["num_hidden_layers"]
    kv = config["num_key_value_heads"] * h // config["num_attention_heads"]
    rng = np.random.default_rng(0)

    def mat(*shape):
        return rng.standard_normal(shape).astype(dtype)

    out = {"model.embed_tokens.weight": mat(v, h), "lm_head.weight": mat(v, h), "model.norm.weight": mat(h)}
    for i in range(layers):
        p = f"model.layers.{i}."
        out.update({
            p + "self_attn.q_proj.weight": mat(h, h), p + "self_attn.k_proj.weight": mat(kv, h),
            p + "self_attn.v_proj.weight": mat(kv, h), p + "self_attn.o_proj.weight": mat(h, h),
            p + "mlp.gate_proj.weight": mat(f, h), p + "mlp.up_proj.weight": mat(f, h),
            p + "mlp.down_proj.weight": mat(h, f), p + "input_layernorm.weight": mat(h),
            p + "post_attention_layernorm.weight": mat(h),
        })
    for old, new in (rename or {}).items():
        out = {k.replace(f".{old}.", f".{new}."): a for k, a in out.items()}
    return out


def write_repo(folder: Path, tensors: dict[str, np.ndarray], config: dict | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_sample_shell_is_the_sample_base_with_two_kinds_renamed():
    base, shell = layout_at("sample:tiny-llama"), layout_at("sample:tiny-llama-shell")
    assert {t.shape_source for t in shell.tensors} == {"header"}
    report = find_renames(shell)
    assert report.family == "llama" and report.kinds_renamed == 2 and report.tensors_renamed == 8
    assert shell.signature == base.signature and shell.dtype_signature == base.dtype_signature
    against = find_renames(shell, base)
    assert against.same_geometry and {(k.kind, k.expected) for k in against.renamed} == {
        ("model.layers.{L}.ln1.weight", "model.layers.{L}.input_layernorm.weight"),
        ("model.layers.{L}.ln2.weight", "model.layers.{L}.post_attention_layernorm.weight"),
    }
    assert find_renames(base).kinds_renamed == 0


def test_renamed_kinds_with_distinct_shapes_are_placed_by_shape(tmp_path):
    layout = layout_at(write_repo(tmp_path / "m", llama_arrays(rename={"self_attn.q_proj": "attn.query",
                                                                        "self_attn.k_proj": "attn.key"}), LLAMA))
    roles = {t.name: (t.role, t.role_source) for t in layout.tensors}
    assert roles["model.layers.2.attn.query.weight"] == ("attn_q", "inferred")  # [64, 64]: only attn_q fits
    assert roles["model.layers.2.attn.key.weight"] == ("attn_k", "inferred")  # [32, 64]: attn_k (attn_v is present)
    assert layout.unmapped == []


def test_a_renamed_kind_whose_shape_fits_no_missing_role_stays_unmapped(tmp_path):
    tensors = llama_arrays(rename={"input_layernorm": "ln1"})
    for i in range(LLAMA["num_hidden_layers"]):
        tensors[f"model.layers.{i}.ln1.weight"] = np.ones(32, dtype=np.float32)  # half the hidden size
    layout = layout_at(write_repo(tmp_path / "m", tensors, LLAMA))
    assert len(layout.unmapped) == 4 and find_renames(layout).kinds_renamed == 0
    assert find_renames(layout).reference_only == ["model.layers.{L}.input_layernorm.weight"]


def test_dtype_enters_only_the_dtype_signature(tmp_path):
    f32 = layout_at(write_repo(tmp_path / "a", llama_arrays(np.float32), LLAMA))
    f16 = layout_at(write_repo(tmp_path / "b", llama_arrays(np.float16), LLAMA))
    assert f32.signature == f16.signature and f32.dtype_signature != f16.dtype_signature
    assert f16.params == {"F16": f16.params_total} and f16.params_total == f32.params["F32"]


def test_index_only_copy_has_the_signature_of_the_full_checkpoint(tmp_path):
    """Shapes read from headers and shapes inferred from the config describe the same geometry."""
    full = layout_at(write_repo(tmp_path / "full", llama_arrays(), LLAMA))
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    (pointer / "config.json").write_text(json.dumps(LLAMA))
    names = sorted(llama_arrays())
    (pointer / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {n: "model-00001-of-00001.safetensors" for n in names}}))
    absent = layout_at(pointer)
    assert {t.shape_source for t in absent.tensors} == {"config"}
    assert absent.signature == full.signature and absent.params_total == full.params_total


def test_geometry_comes_from_the_tensors_when_there_is_no_config(tmp_path):
    layout = layout_at(write_repo(tmp_path / "m", llama_arrays(), None))
    assert (layout.family, layout.family_source, layout.scheme) == ("llama", "names", "llama")
    cfg = layout.config
    assert (cfg.hidden_size, cfg.vocab_size, cfg.num_layers, cfg.intermediate_size) == (64, 512, 4, 172)
    assert cfg.tied_embeddings is False
    assert set(layout.config_from_tensors) >= {"hidden_size", "vocab_size", "num_layers", "intermediate_size"}


def test_config_that_contradicts_the_shapes_is_flagged(tmp_path):
    layout = layout_at(write_repo(tmp_path / "m", llama_arrays(), {**LLAMA, "hidden_size": 128}))
    assert any("hidden_size=128" in w and "64" in w for w in layout.warnings)


def test_unknown_model_type_with_llama_names_is_a_llama_layout(tmp_path):
    layout = layout_at(write_repo(tmp_path / "m", llama_arrays(rename={"input_layernorm": "ln1",
                                                                        "post_attention_layernorm": "ln2"}),
                                  {**LLAMA, "model_type": "Yi", "architectures": ["YiForCausalLM"]}))
    assert (layout.family, layout.family_source) == ("llama", "names")
    assert any("'Yi'" in w for w in layout.warnings)
    assert find_renames(layout).kinds_renamed == 2


def test_layout_is_deterministic_and_independent_of_tensor_order(tmp_path):
    headers = read_checkpoint(open_source(str(write_repo(tmp_path / "m", llama_arrays(), LLAMA))))
    first = build_layout(headers).model_dump_json()
    assert build_layout(headers).model_dump_json() == first
    headers.tensors = list(reversed(headers.tensors))
    assert build_layout(headers).model_dump_json() == first


def _write_gguf(path: Path, tensors: dict[str, np.ndarray], quantised: set[str] = frozenset()) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(LLAMA["num_hidden_layers"])
    writer.add_embedding_length(LLAMA["hidden_size"])
    writer.add_feed_forward_length(LLAMA["intermediate_size"])
    writer.add_head_count(LLAMA["num_attention_heads"])
    writer.add_head_count_kv(LLAMA["num_key_value_heads"])
    writer.add_context_length(LLAMA["max_position_embeddings"])
    writer.add_rope_freq_base(LLAMA["rope_theta"])
    for name, array in tensors.items():
        if name in quantised:
            writer.add_tensor(name, gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


GGUF_BLOCK = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
              "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
              "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
GGUF_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight"}


def _to_gguf_name(name: str) -> str:
    if name in GGUF_TOP:
        return GGUF_TOP[name]
    _, _, index, rest = name.split(".", 3)
    return f"blk.{index}.{GGUF_BLOCK[rest.rsplit('.', 1)[0]]}.weight"


def test_gguf_file_of_the_same_geometry_has_the_same_signature(tmp_path):
    hf = layout_at(write_repo(tmp_path / "hf", llama_arrays(), LLAMA))
    folder = tmp_path / "gguf"
    folder.mkdir()
    arrays = {_to_gguf_name(k): v for k, v in llama_arrays().items()}
    _write_gguf(folder / "tiny-q8.gguf", arrays, quantised={"blk.0.ffn_up.weight"})
    layout = layout_at(folder)
    assert (layout.family, layout.family_source, layout.scheme) == ("llama", "gguf", "gguf")
    assert layout.unmapped == [] and layout.config.num_kv_heads == 2 and layout.config.hidden_size == 64
    assert layout.signature == hf.signature
    assert layout.dtype_signature != hf.dtype_signature  # one Q8_0 tensor
    assert layout.params["Q8_0"] == 172 * 64
    report = find_renames(layout, hf)
    assert report.same_geometry and report.kinds_renamed == 12 and report.tensors_matched == len(hf.tensors)


def _records(names_shapes: dict[str, tuple[int, ...]], file: str) -> list[TensorRecord]:
    return [TensorRecord(name=n, file=file, dtype="F16", shape=s) for n, s in names_shapes.items()]


def test_stacked_gguf_experts_compare_with_per_expert_tensors():
    """Mixtral as HF stores it (one tensor per expert) and as newer GGUF files do (stacked per block)."""
    h, f, e, v = 32, 48, 4, 100
    hf: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,),
                                      "lm_head.weight": (v, h)}
    gg: dict[str, tuple[int, ...]] = {"token_embd.weight": (v, h), "output_norm.weight": (h,), "output.weight": (v, h)}
    for i in range(2):
        p = f"model.layers.{i}."
        hf.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
                   p + "self_attn.q_proj.weight": (h, h), p + "self_attn.k_proj.weight": (h, h),
                   p + "self_attn.v_proj.weight": (h, h), p + "self_attn.o_proj.weight": (h, h),
                   p + "block_sparse_moe.gate.weight": (e, h)})
        for x in range(e):
            q = f"{p}block_sparse_moe.experts.{x}."
            hf.update({q + "w1.weight": (f, h), q + "w3.weight": (f, h), q + "w2.weight": (h, f)})
        b = f"blk.{i}."
        gg.update({b + "attn_norm.weight": (h,), b + "ffn_norm.weight": (h,), b + "attn_q.weight": (h, h),
                   b + "attn_k.weight": (h, h), b + "attn_v.weight": (h, h), b + "attn_output.weight": (h, h),
                   b + "ffn_gate_inp.weight": (e, h), b + "ffn_gate_exps.weight": (e, f, h),
                   b + "ffn_up_exps.weight": (e, f, h), b + "ffn_down_exps.weight": (e, h, f)})
    config = {"model_type": "mixtral", "hidden_size": h, "intermediate_size": f, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": v, "num_local_experts": e,
              "tie_word_embeddings": False}
    meta = {"general.architecture": "llama", "llama.embedding_length": h, "llama.block_count": 2,
            "llama.feed_forward_length": f, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 4,
            "llama.expert_count": e}
    hf_layout = build_layout(CheckpointHeaders(tensors=_records(hf, "model.safetensors"), formats=["safetensors"],
                                               config=config))
    gg_layout = build_layout(CheckpointHeaders(tensors=_records(gg, "m.gguf"), formats=["gguf"], config=None,
                                               gguf_metadata=meta))
    assert hf_layout.scheme == "mixtral" and gg_layout.scheme == "gguf"
    assert hf_layout.unmapped == gg_layout.unmapped == []
    assert hf_layout.signature == gg_layout.signature
    assert hf_layout.params_total == gg_layout.params_total


def _gpt2_arrays(d: int, layers: int, vocab: int, positions: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {"wte.weight": rng.standard_normal((vocab, d)), "wpe.weight": rng.standard_normal((positions, d)),
           "ln_f.weight": np.ones(d), "ln_f.bias": np.zeros(d)}
    for i in range(layers):
        p = f"h.{i}."
        out.update({  # Conv1D weights are stored [in, out]
            p + "ln_1.weight": np.ones(d), p + "ln_1.bias": np.zeros(d),
            p + "attn.c_attn.weight": rng.standard_normal((d, 3 * d)), p + "attn.c_attn.bias": np.zeros(3 * d),
            p + "attn.c_proj.weight": rng.standard_normal((d, d)), p + "attn.c_proj.bias": np.zeros(d),
            p + "ln_2.weight": np.ones(d), p + "ln_2.bias": np.zeros(d),
            p + "mlp.c_fc.weight": rng.standard_normal((d, 4 * d)), p + "mlp.c_fc.bias": np.zeros(4 * d),
            p + "mlp.c_proj.weight": rng.standard_normal((4 * d, d)), p + "mlp.c_proj.bias": np.zeros(d),
            p + "attn.bias": np.tril(np.ones((1, 1, positions, positions))),  # the causal-mask buffer
        })
    return {k: v.astype(np.float32) for k, v in out.items()}


def test_gpt2_conv1d_shapes_match_their_config_geometry(tmp_path):
    config = {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 50, "n_positions": 16}
    headers_layout = layout_at(write_repo(tmp_path / "g", _gpt2_arrays(32, 2, 50, 16), config))
    assert headers_layout.family == "gpt2" and headers_layout.unmapped == []
    assert [a.name for a in headers_layout.artefacts] == ["h.0.attn.bias", "h.1.attn.bias"]
    qkv = next(t for t in headers_layout.tensors if t.role == "attn_qkv" and t.layer == 1)
    assert qkv.shape == [32, 96]  # as stored
    headers_only = CheckpointHeaders(
        tensors=[TensorRecord(t.name, "model.bin", None, None) for t in headers_layout.tensors],
        formats=["pickle"], config=config, weights_absent=True)
    inferred = build_layout(headers_only)
    assert next(t for t in inferred.tensors if t.name == qkv.name).shape == [32, 96]  # inferred in storage order
    assert inferred.signature == headers_layout.signature


def test_real_bert_checkpoint_from_its_headers(shared_path):
    folder = shared_path("realmodels", "sentence-transformers__all-MiniLM-L6-v2", "model.safetensors").parent
    layout = layout_at(folder)
    assert (layout.family, layout.scheme) == ("bert", "bert")
    assert layout.unmapped == [] and [a.name for a in layout.artefacts] == ["embeddings.position_ids"]
    assert layout.config.num_layers == 6 and layout.config.hidden_size == 384
    assert {t.shape_source for t in layout.tensors} == {"header"}
    # 22.7 M parameters (sentence-transformers' model card)
    assert layout.params_total == 22_713_216


def test_gptq_packed_weights_keep_the_geometry_of_the_unquantised_model(tmp_path):
    config = {**LLAMA, "intermediate_size": 176}  # GPTQ packs 8 input rows per int32
    plain = llama_arrays(config=config)
    packed: dict[str, np.ndarray] = {}
    for name, array in plain.items():
        if array.ndim == 2 and ".layers." in name:
            out_features, in_features = array.shape
            stem = name[: -len(".weight")]
            packed[stem + ".qweight"] = np.zeros((in_features // 8, out_features), dtype=np.int32)
            packed[stem + ".qzeros"] = np.zeros((in_features // 128 or 1, out_features // 8), dtype=np.int32)
            packed[stem + ".scales"] = np.ones((in_features // 128 or 1, out_features), dtype=np.float16)
            packed[stem + ".g_idx"] = np.zeros(in_features, dtype=np.int32)
        else:
            packed[name] = array
    reference = layout_at(write_repo(tmp_path / "plain", plain, config))
    layout = layout_at(write_repo(tmp_path / "gptq", packed, config))
    assert layout.unmapped == [] and len(layout.artefacts) == 3 * 7 * config["num_hidden_layers"]
    q = next(t for t in layout.tensors if t.name == "model.layers.0.self_attn.q_proj.qweight")
    assert (q.role, q.shape, q.packed_shape, q.shape_source) == ("attn_q", [64, 64], [8, 64], "config")
    assert layout.signature == reference.signature and layout.params_total == reference.params_total


def test_renamed_lm_head_is_placed_only_on_an_exact_shape(tmp_path):
    tensors = llama_arrays()
    tensors["output_projection.weight"] = tensors.pop("lm_head.weight")
    layout = layout_at(write_repo(tmp_path / "m", tensors, LLAMA))
    head = next(t for t in layout.tensors if t.name == "output_projection.weight")
    assert (head.role, head.role_source) == ("lm_head", "inferred")
    assert layout.signature == layout_at(write_repo(tmp_path / "base", llama_arrays(), LLAMA)).signature
    tensors["output_projection.weight"] = tensors["output_projection.weight"][:, :32]  # not [vocab, hidden]
    assert layout_at(write_repo(tmp_path / "other", tensors, LLAMA)).unmapped == ["output_projection.weight"]


def test_language_model_inside_a_multimodal_wrapper(tmp_path):
    tensors = {"language_model." + k: v for k, v in llama_arrays().items()}
    tensors["vision_tower.patch_embed.weight"] = np.zeros((8, 3), dtype=np.float32)
    layout = layout_at(write_repo(tmp_path / "m", tensors, LLAMA))
    assert layout.scheme == "llama" and layout.unmapped == ["vision_tower.patch_embed.weight"]
    assert find_renames(layout).kinds_renamed == 0


def test_lora_adapter_factors_get_the_role_of_the_module_they_adapt(tmp_path):
    from tests.checkpoint_builders import adapter

    adapter(tmp_path / "lora")
    layout = layout_at(tmp_path / "lora")
    roles = {t.role: (t.layer, t.shape) for t in layout.tensors}
    assert roles == {"attn_q.lora_A": (0, [4, 16]), "attn_q.lora_B": (0, [16, 4])}
    assert layout.unmapped == [] and layout.params_total == 128
    assert any("adapter" in w for w in layout.warnings)
    assert find_renames(layout).kinds_renamed == 0


def test_hostile_config_values_do_not_break_the_document(tmp_path):
    """The reader refuses Infinity in config.json; the layout holds even if a caller passes one."""
    config = {**LLAMA, "rope_theta": float("inf"), "rms_norm_eps": float("-inf"), "num_attention_heads": "4",
              "rope_scaling": {"factor": float("nan")}, "vocab_size": 2.5, "num_key_value_heads": True}
    headers = read_checkpoint(open_source(str(write_repo(tmp_path / "m", llama_arrays(), None))))
    headers.config = config
    layout = build_layout(headers)
    cfg = layout.config
    assert cfg.rope_theta == 10000.0  # the llama default, not inf
    assert cfg.norm_eps is None and cfg.rope_scaling is None and cfg.num_heads is None
    assert cfg.vocab_size == 512 and "vocab_size" in layout.config_from_tensors
    json.loads(layout.model_dump_json())  # serialisable: no inf/NaN


def _qwen_moe(shared: bool) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """A Qwen-MoE block layout: narrow routed experts, optionally one shared expert with its gate."""
    h, experts, moe_ffn, shared_ffn, v = 32, 4, 24, 40, 64
    config = {"model_type": "qwen2_moe" if shared else "qwen3_moe", "hidden_size": h, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 96,
              "moe_intermediate_size": moe_ffn, "num_experts": experts, "num_experts_per_tok": 2, "vocab_size": v,
              "tie_word_embeddings": False}
    if shared:
        config["shared_expert_intermediate_size"] = shared_ffn
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,),
                                          "lm_head.weight": (v, h)}
    for i in range(2):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
                       p + "self_attn.q_proj.weight": (32, h), p + "self_attn.k_proj.weight": (16, h),
                       p + "self_attn.v_proj.weight": (16, h), p + "self_attn.o_proj.weight": (h, 32),
                       p + "mlp.gate.weight": (experts, h)})
        if shared:
            shapes.update({p + "mlp.shared_expert.gate_proj.weight": (shared_ffn, h),
                           p + "mlp.shared_expert.up_proj.weight": (shared_ffn, h),
                           p + "mlp.shared_expert.down_proj.weight": (h, shared_ffn),
                           p + "mlp.shared_expert_gate.weight": (1, h)})
        else:
            shapes.update({p + "self_attn.q_norm.weight": (8,), p + "self_attn.k_norm.weight": (8,)})
        for x in range(experts):
            q = f"{p}mlp.experts.{x}."
            shapes.update({q + "gate_proj.weight": (moe_ffn, h), q + "up_proj.weight": (moe_ffn, h),
                           q + "down_proj.weight": (h, moe_ffn)})
    return config, shapes


@pytest.mark.parametrize("shared", [False, True], ids=["qwen3-moe", "qwen2-moe-shared-expert"])
def test_moe_with_narrow_and_shared_experts(shared):
    config, shapes = _qwen_moe(shared)
    with_shapes = build_layout(CheckpointHeaders(tensors=_records(shapes, "model.safetensors"),
                                                 formats=["safetensors"], config=config))
    assert with_shapes.family == config["model_type"] and with_shapes.scheme == "moe"
    assert with_shapes.unmapped == [] and with_shapes.warnings == []
    assert with_shapes.config.expert_intermediate_size == 24 and with_shapes.config.intermediate_size == 96
    names_only = build_layout(CheckpointHeaders(
        tensors=[TensorRecord(n, "model.safetensors", None, None) for n in shapes], formats=["safetensors"],
        config=config, weights_absent=True))
    assert names_only.signature == with_shapes.signature  # config-inferred shapes equal the headers'
    assert names_only.params_total == sum(math.prod(s) for s in shapes.values())
    if shared:
        router = next(t for t in names_only.tensors if t.role == "shared_router")
        assert router.shape == [1, 32]


def test_narrower_experts_than_the_config_says_are_flagged():
    config, shapes = _qwen_moe(shared=False)
    layout = build_layout(CheckpointHeaders(tensors=_records(shapes, "m.safetensors"), formats=["safetensors"],
                                            config={**config, "moe_intermediate_size": 48}))
    assert any("expert_intermediate_size=48" in w for w in layout.warnings)


def test_gguf_q_norm_takes_the_role_its_shape_fits():
    """llama.cpp calls both OLMo-2's per-projection and Qwen3's per-head q/k norms `attn_q_norm`."""
    meta = {"general.architecture": "qwen3", "qwen3.embedding_length": 32, "qwen3.block_count": 1,
            "qwen3.attention.head_count": 4, "qwen3.attention.head_count_kv": 2, "qwen3.attention.key_length": 8}
    for width, role in ((8, "attn_q_head_norm"), (32, "attn_q_norm")):
        layout = build_layout(CheckpointHeaders(
            tensors=_records({"token_embd.weight": (64, 32), "blk.0.attn_q_norm.weight": (width,)}, "m.gguf"),
            formats=["gguf"], config=None, gguf_metadata=meta))
        assert next(t.role for t in layout.tensors if t.name == "blk.0.attn_q_norm.weight") == role


def test_headers_and_layout_are_built_with_the_collector_paused_and_leave_it_as_found(tmp_path, monkeypatch):
    """Reading headers and building the layout allocate objects per tensor and make no cycles: the cyclic
    collector is paused while they run (its walks made 300k tensors superlinear) and resumes after."""
    import gc

    from openscore.formats import safetensors_header
    from openscore.layout import roles

    seen = []
    parse, groups = safetensors_header.parse_header, roles.NameGroups.__init__
    monkeypatch.setattr(safetensors_header, "parse_header", lambda *a: seen.append(gc.isenabled()) or parse(*a))
    monkeypatch.setattr(roles.NameGroups, "__init__", lambda self, *a: seen.append(gc.isenabled()) or groups(self, *a))
    folder = write_repo(tmp_path / "m", llama_arrays(), LLAMA)
    assert gc.isenabled()
    assert layout_at(folder).scheme == "llama"
    assert len(seen) >= 2 and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        layout_at(folder)
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_index_components_int_refuses_are_text_not_a_traceback(tmp_path):
    """A name component of digits int() refuses ("²", 5,000 digits) or too long for a block index is text:
    the checkpoint gets a layout (those tensors unmapped) and a fingerprint, not an internal error."""
    from openscore.weights import fingerprint

    odd = ["model.layers.\u00b2.mlp.up_proj.weight", "model.layers." + "7" * 5000 + ".mlp.up_proj.weight",
           "model.layers." + "1" * 19 + ".mlp.up_proj.weight", "x" + "9" * 5000 + ".weight"]
    arrays = {**llama_arrays(), **{name: np.ones((4, 4), np.float32) for name in odd}}
    folder = write_repo(tmp_path / "m", arrays, LLAMA)
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    layout = build_layout(headers)
    assert layout.scheme == "llama" and set(odd) <= set(layout.unmapped)
    prints = {t.name: t for t in fingerprint(source, headers, layout, device="cpu").tensors}
    assert set(odd) <= set(prints) and prints[odd[-1]].layer is None
