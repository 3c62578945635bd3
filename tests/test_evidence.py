"""Evidence collectors over local folders: card front matter with lines, sections, links, files, lineage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from openscore.evidence.card import collect_card
from openscore.evidence.context import CollectContext
from openscore.evidence.datasets import collect_datasets
from openscore.evidence.lineage import collect_lineage
from openscore.evidence.links import collect_links
from openscore.evidence.repository import collect_repository
from openscore.sources import LocalSource

CARD = """---
license: apache-2.0
datasets:
  - org/corpus-a
  - org/corpus-b
base_model: meta-llama/Llama-2-7b-hf
tags:
- arxiv:2401.00001
---

# My model

A model that does things, described here in enough words to count as real content.

## Training data

[More Information Needed]

## Training procedure

We fine-tuned the base with AdamW for three epochs at learning rate 2e-5 on eight GPUs.

```python
# Evaluation
print("a heading inside a code block is not a section")
```

## Citation

Code: https://github.com/Org/Repo.git and paper https://doi.org/10.18653/v1/2023.acl-long.1
Also written without a scheme: arxiv.org/abs/2307.09288.

| bench | score |
|---|---|
| [MMLU](https://arxiv.org/abs/2009.03300) | 50 |
"""


def _ctx(folder: Path, **inventory_changes) -> CollectContext:
    source = LocalSource(folder)
    inventory = source.inventory()
    if inventory_changes:
        inventory = dataclasses.replace(inventory, **inventory_changes)
    return CollectContext(source=source, inventory=inventory)


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama",'
                                          ' "_name_or_path": "meta-llama/Llama-2-7b-hf"}')
    for name in ("model-00001-of-00002.safetensors", "tokenizer.model", "modeling_custom.py", "train_sft.py",
                 "training_args.bin", "optimizer.pt", "checkpoint-500/model.safetensors"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def _by_kind(output) -> dict[str, list]:
    found: dict[str, list] = {}
    for obs in output.observations:
        found.setdefault(obs.kind, []).append(obs)
    return found


def test_front_matter_fields_are_cited_with_their_lines(model_dir):
    out, card = collect_card(_ctx(model_dir))
    obs = _by_kind(out)
    assert obs["card.field.license"][0].value == "apache-2.0"
    assert obs["card.field.license"][0].evidence.locator == "L2"
    assert obs["card.field.datasets"][0].evidence.locator == "L3-L5"
    assert obs["card.field.datasets"][0].evidence.snippet.startswith("datasets:")
    assert obs["card.field.base_model"][0].evidence.locator == "L6"
    assert card["front_matter"]["datasets"] == ["org/corpus-a", "org/corpus-b"]
    assert out.extractor == "card@2.0"
    assert all(o.evidence.extractor == "card@2.0" for o in out.observations)


def test_placeholder_sections_are_empty_and_code_blocks_hold_no_headings(model_dir):
    out, card = collect_card(_ctx(model_dir))
    obs = _by_kind(out)
    assert obs["card.section.training_data"][0].value == {"heading": "Training data", "filled": False}
    assert obs["card.section.training_procedure"][0].value["filled"] is True
    assert "card.section.evaluation" not in obs  # "# Evaluation" sits in a fenced code block
    assert obs["card.section.training_data"][0].evidence.locator == "L15-L18"
    assert [s["heading"] for s in card["sections"]] == ["My model", "Training data", "Training procedure", "Citation"]


def test_card_without_front_matter_and_with_broken_yaml(tmp_path):
    (tmp_path / "README.md").write_text("# Just prose\n\nSome words.\n")
    out, card = collect_card(_ctx(tmp_path))
    assert _by_kind(out)["card.front_matter"][0].value == "absent"
    assert card["front_matter_status"] == "absent"

    (tmp_path / "README.md").write_text("---\nlicense: [unclosed\n---\n# x\n")
    out, card = collect_card(_ctx(tmp_path))
    status = _by_kind(out)["card.front_matter"][0]
    assert status.value == "invalid" and "invalid YAML" in status.evidence.snippet
    assert card["front_matter"] is None


def test_missing_card_is_an_observation(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    out, card = collect_card(_ctx(tmp_path))
    assert card == {"present": False}
    assert _by_kind(out)["card.missing"][0].evidence.snippet == "no README.md in the repository"


def test_links_know_their_section_and_tables(model_dir):
    ctx = _ctx(model_dir)
    _, card = collect_card(ctx)
    obs = _by_kind(collect_links(ctx))
    code = obs["link.code"][0]
    assert code.value == {"target": "github.com/org/repo", "section": "citation", "table": False}
    assert code.evidence.locator == "L30"
    assert obs["link.paper"][0].value["target"] == "doi:10.18653/v1/2023.acl-long.1"
    tag, bare, mmlu = obs["link.preprint"]
    assert (tag.value["target"], tag.evidence.locator) == ("arxiv:2401.00001", "L8")
    assert tag.evidence.url == "https://arxiv.org/abs/2401.00001"
    assert (bare.value["target"], bare.evidence.url) == ("arxiv:2307.09288", "https://arxiv.org/abs/2307.09288")
    assert mmlu.value["table"] is True and mmlu.evidence.url == "https://arxiv.org/abs/2009.03300"


def test_repository_files_refs_and_config(model_dir):
    ctx = _ctx(model_dir, refs=("main", "step1000", "v1.0", "stage1-tokens100B"))
    out, config = collect_repository(ctx)
    obs = _by_kind(out)
    paths = {k: sorted(o.value["path"] for o in v) for k, v in obs.items() if k.startswith("file.")}
    assert paths["file.weights"] == ["model-00001-of-00002.safetensors"]  # not the checkpoint folder's copy
    assert paths["file.tokenizer"] == ["tokenizer.model"]
    assert paths["file.modeling_code"] == ["modeling_custom.py"]
    assert paths["file.training_code"] == ["train_sft.py"]
    assert paths["file.training_args"] == ["training_args.bin"]
    assert paths["file.optimizer_state"] == ["optimizer.pt"]
    assert sorted(o.value for o in obs["ref.intermediate"]) == ["checkpoint-500", "stage1-tokens100B", "step1000"]
    assert obs["config.architectures"][0].evidence.locator == "/architectures"
    assert config["model_type"] == "llama"
    assert "gating" not in obs and any("gating" in n for n in out.not_checked)


def test_lineage_from_card_config_and_prose(model_dir, tmp_path_factory):
    ctx = _ctx(model_dir)
    _, card = collect_card(ctx)
    _, config = collect_repository(ctx)
    obs = collect_lineage(ctx, card["front_matter"], config).observations
    declared = [o.value for o in obs if o.kind == "base.declared"]
    assert declared == [
        {"id": "meta-llama/Llama-2-7b-hf", "via": "card", "family": "llama-2", "relation": None},
        {"id": "meta-llama/Llama-2-7b-hf", "via": "config", "family": "llama-2"},
    ]
    assert obs[0].evidence.locator == "L6"

    prose = tmp_path_factory.mktemp("prose")
    (prose / "README.md").write_text(
        "# Delta\n\nVicuna is a chatbot trained by fine-tuning LLaMA on conversations.\n"
        "You may also further fine-tune Pythia for your task.\n"
        "| model | LLaMA | 7B |\n")
    obs = collect_lineage(_ctx(prose), {}, None).observations
    assert [(o.kind, o.value["family"], o.evidence.locator) for o in obs] == [("base.mentioned", "llama-1", "L3")]


def test_datasets_are_not_checked_offline(model_dir):
    out = collect_datasets(_ctx(model_dir), {"datasets": ["org/corpus-a", "org/corpus-b"]}, ["org/corpus-a"])
    values = [o.value for o in out.observations]
    assert [v["id"] for v in values] == ["org/corpus-a", "org/corpus-b"]
    assert all(v["checked"] is False and v["not_checked"].startswith("local audit") for v in values)
    assert len(out.not_checked) == 2


def test_hostile_front_matter_is_recorded_not_expanded(tmp_path):
    """An alias bomb would expand to 10**9 items: it is refused as invalid front matter, quickly."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp_path / "README.md").write_text("---\n" + "\n".join(levels) + "\nlicense: mit\n---\n# x\n")
    out, card = collect_card(_ctx(tmp_path))
    status = _by_kind(out)["card.front_matter"][0]
    assert status.value == "invalid" and "alias bomb" in status.evidence.snippet
    assert card["front_matter"] is None


def test_oversized_card_is_a_gap_not_a_failure(tmp_path):
    (tmp_path / "README.md").write_text("# big\n" + "x" * 5_000_000)
    out, card = collect_card(_ctx(tmp_path))
    missing = _by_kind(out)["card.missing"][0].evidence
    assert card == {"present": False} and missing.file == "README.md"
    assert missing.snippet.startswith("README.md not readable:") and "limit" in missing.snippet


def test_hostile_config_is_not_parsed(tmp_path):
    (tmp_path / "config.json").write_text("[" * 100_000)
    out, config = collect_repository(_ctx(tmp_path))
    assert config is None and "config.json: JSON nested too deeply" in out.not_checked
