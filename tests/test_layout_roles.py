"""roles.yaml: validated on load, and every scheme's patterns resolve as documented."""

from __future__ import annotations

import pytest
import yaml

from openscore.errors import ConfigError
from openscore.layout.roles import load_role_map
from openscore.resources import package_data


def _variant(tmp_path, edit) -> str:
    data = yaml.safe_load(package_data("roles.yaml").read_text())
    edit(data)
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_shipped_role_map_loads():
    role_map = load_role_map()
    assert {"llama", "qwen", "gpt2", "gguf"} <= set(role_map.schemes)
    for family in ("llama", "mistral", "mixtral", "qwen2", "gemma", "olmo2", "baichuan", "internlm", "internlm2",
                   "qwen", "gpt2", "gpt-neox", "bloom", "falcon", "phi", "phi3", "chatglm", "bert", "mpt", "stablelm"):
        assert family in role_map.families


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["schemes"]["llama"]["tensors"].update({"model.extra": "no_such_role"}), "no_such_role"),
    (lambda d: d["schemes"]["mixtral"].update({"extends": "nowhere"}), "nowhere"),
    (lambda d: d["families"]["llama"].update({"norm": "batchnorm"}), "families.llama.norm"),
    (lambda d: d["roles"]["embed"].update({"shape": ["vocab", "width"]}), "roles.embed.shape"),
])
def test_invalid_role_map_is_a_config_error_naming_the_file(tmp_path, edit, message):
    path = _variant(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_role_map(path)
    assert str(tmp_path / "roles.yaml") in str(err.value) and message in str(err.value)
    assert err.value.exit_code == 2


def test_unreadable_role_map_is_a_config_error(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text("schemes: [unclosed")
    with pytest.raises(ConfigError):
        load_role_map(str(path))


def test_scheme_inheritance_drop_and_override():
    schemes = load_role_map().schemes
    mixtral = schemes["mixtral"]
    assert mixtral.match("model.layers.3.block_sparse_moe.experts.7.w2.weight", None).role == "expert_down"
    assert mixtral.match("model.layers.3.mlp.up_proj.weight", None) is None  # dropped from the inherited map
    assert mixtral.match("model.layers.3.self_attn.q_proj.bias", None).role == "attn_q.bias"  # inherited
    olmo2 = schemes["olmo2"]
    assert olmo2.match("model.layers.0.post_attention_layernorm.weight", None).role == "attn_post_norm"
    assert schemes["llama"].match("model.layers.0.post_attention_layernorm.weight", None).role == "mlp_norm"
    assert "attn_norm" not in olmo2.required and "attn_norm" in schemes["llama"].required
    assert "lm_head" not in schemes["llama"].required  # tied checkpoints omit it


def test_optional_prefix_and_indices():
    gpt2 = load_role_map().schemes["gpt2"]
    for name in ("h.11.mlp.c_fc.weight", "transformer.h.11.mlp.c_fc.weight"):
        m = gpt2.match(name, None)
        assert (m.role, m.layer, m.expert) == ("mlp_up", 11, None)
    assert gpt2.match("h.x.mlp.c_fc.weight", None) is None
    assert gpt2.match("h.1.mlp.c_fc.scales", None) is None  # unknown parameter suffix


def test_artefacts():
    role_map = load_role_map()
    assert role_map.is_artefact("model.layers.0.self_attn.rotary_emb.inv_freq")
    assert role_map.is_artefact("model.layers.0.mlp.down_proj.SCB")
    assert role_map.is_artefact("transformer.h.3.attn.masked_bias")
    assert not role_map.is_artefact("transformer.h.3.attn.c_attn.bias")  # a real bias (Qwen-1, GPT-2)
    assert not role_map.is_artefact("model.layers.0.self_attn.q_proj.bias")


def test_llama_scheme_knows_the_optional_per_head_norms_of_qwen3():
    llama = load_role_map().schemes["llama"]
    assert llama.match("model.layers.5.self_attn.k_norm.weight", None).role == "attn_k_head_norm"
    assert "attn_k_head_norm" not in llama.required
    olmo2 = load_role_map().schemes["olmo2"]  # OLMo-2 normalises the whole projection instead
    assert olmo2.match("model.layers.5.self_attn.k_norm.weight", None).role == "attn_k_norm"
    assert "attn_k_norm" in olmo2.required


def _names_of_every_kind(rm) -> list[str]:
    """Each scheme's patterns with block indices in and out of range, under every wrapper and optional
    prefix, with each parameter suffix and LoRA modifier; and names no scheme knows or that only look alike."""
    import random

    from openscore.layout.roles import PARAM_SUFFIXES

    rng = random.Random(7)
    wrappers = ["", *rm.wrapper_prefixes, "transformer.", "bert."]
    names = []
    for scheme in rm.schemes.values():
        texts = list(scheme.patterns) + list(rm.spec.schemes[scheme.name].artefacts)
        for text in texts:
            for _ in range(3):
                stem = ".".join({"{L}": str(rng.choice([0, 1, 2, 3, 11, 12, 13])), "{E}": str(rng.randrange(9)),
                                 "{END}": str(rng.choice([2, 3, 12, 13]))}.get(part, part)
                                for part in text.split("."))
                suffix = rng.choice([*PARAM_SUFFIXES, "lora_A.weight", "lora_B.weight", "scales", "7"])
                names.append(f"{rng.choice(wrappers)}{stem}.{suffix}")
    names += ["weight", ".weight", "model..weight", "model.layers.٣.mlp.up_proj.weight", "h0.attn.c_attn.weight",
              "model.layers.1a.mlp.up_proj.weight", "0.auto_model.encoder.layer.1.output.dense.weight",
              "model.0.auto_model.embeddings.word_embeddings.weight", "1.auto_model.encoder.layer.1.output.dense.weight",
              "inner.weight", "inner..weight", "layers.0.ln.weight", "layers.1.ln.weight", "12.weight",
              "model.layers.\u00b2.mlp.up_proj.weight", "model.layers." + "7" * 5000 + ".mlp.up_proj.weight",
              "model.layers." + "1" * 19 + ".mlp.up_proj.weight", "model.layers." + "1" * 18 + ".mlp.up_proj.weight"]
    return names


@pytest.mark.parametrize("end", [None, 2, 3, 12])
def test_name_groups_place_every_name_as_matching_it_alone_does(end):
    """NameGroups (names grouped by shape, each scheme's patterns looked up once per shape) places every name
    exactly as Scheme.match does one name at a time, for every scheme: same role, block, expert, pattern."""
    from openscore.layout.roles import NameGroups

    rm = load_role_map()
    names = _names_of_every_kind(rm)
    groups = NameGroups(names, rm)
    placed_somewhere = 0
    for scheme in rm.schemes.values():
        alone = {n: m for n in dict.fromkeys(names) if (m := scheme.match(rm.parse(n), end)) is not None}
        grouped = groups.match(scheme, end)
        assert grouped == alone and list(grouped) == list(alone), scheme.name
        assert groups.summary(scheme, end) == (len(alone), {m.role for m in alone.values()}), scheme.name
        placed_somewhere += bool(alone)
    assert placed_somewhere == len(rm.schemes)
    assert groups.artefacts() == {n for n in names if rm.is_artefact(n)} != set()


def test_name_groups_look_at_each_shape_once_not_each_name_per_scheme(monkeypatch):
    """300k names of three shapes are split into three groups (one parse each), and choosing among all the
    schemes binds no name's integers (the winner's patterns bind any block index): the per-name work is a
    regex substitution and, for the winner only, one bind. Hostile names of as many shapes as names cost one
    parse each: linear either way."""
    from openscore.layout import roles

    parses, binds = [], []
    parse, bind = roles.ParsedName.of, roles.Scheme._bind
    monkeypatch.setattr(roles.ParsedName, "of", classmethod(lambda cls, *a: parses.append(1) or parse(*a)))
    monkeypatch.setattr(roles.Scheme, "_bind", lambda self, *a: binds.append(1) or bind(self, *a))
    rm = load_role_map()
    count = 30_000
    names = [f"model.layers.{i // 3}.mlp.{('up', 'down', 'gate')[i % 3]}_proj.weight" for i in range(count)]
    groups = roles.NameGroups(names, rm)
    summaries = {name: groups.summary(scheme, 2) for name, scheme in rm.schemes.items()}
    assert len(parses) == 3 and not binds
    assert summaries["llama"] == (count, {"mlp_up", "mlp_down", "mlp_gate"})
    assert len(groups.match(rm.schemes["llama"], 2)) == count and len(binds) == count

    parses.clear()
    hostile = [f"m{i}.w.weight" for i in range(2000)]
    roles.NameGroups(hostile, rm)
    assert len(parses) == len(hostile)
