"""Licence engine: Hub ids and names -> facts, licence texts -> ids, the openness order, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openscore.licences import LicenceMatch, conflicting_files, facts, identify_text, is_more_permissive, resolve
from openscore.samples import __file__ as samples_init

SAMPLES = Path(samples_init).parent


@pytest.mark.parametrize(("license_id", "name", "link", "expected", "is_open"), [
    ("apache-2.0", None, None, "Apache-2.0", True),
    ("mit", None, None, "MIT", True),
    ("Apache-2.0", None, None, "Apache-2.0", True),
    ("bsd-3-clause", None, None, "BSD-3-Clause", True),
    ("cc-by-4.0", None, None, "CC-BY-4.0", True),
    ("cc-by-sa-4.0", None, None, "CC-BY-SA-4.0", True),
    ("openmdw-1.0", None, None, "OpenMDW-1.0", True),
    ("cc-by-nc-4.0", None, None, "CC-BY-NC-4.0", False),
    ("cc-by-nc-sa-4.0", None, None, "CC-BY-NC-SA-4.0", False),
    ("llama2", None, None, "llama2", False),
    ("llama3", None, None, "llama3", False),
    ("llama3.1", None, None, "llama3.1", False),
    ("llama3.2", None, None, "llama3.2", False),
    ("llama3.3", None, None, "llama3.3", False),
    ("llama4", None, None, "llama4", False),
    ("gemma", None, None, "gemma", False),
    ("openrail", None, None, "openrail", False),  # the family: every member is a RAIL licence
    ("gpl", None, None, "unknown", False),  # a family with different terms per version
    ("bigscience-openrail-m", None, None, "bigscience-openrail-m", False),
    ("creativeml-openrail-m", None, None, "creativeml-openrail-m", False),
    ("bigscience-bloom-rail-1.0", None, None, "bigscience-bloom-rail-1.0", False),
    ("bigcode-openrail-m", None, None, "bigcode-openrail-m", False),
    ("other", "llama3", "LICENSE", "llama3", False),
    ("other", "gemma-terms-of-use", "https://ai.google.dev/gemma/terms", "gemma", False),
    ("other", "tongyi-qianwen", None, "tongyi-qianwen", False),
    ("other", "deepseek", "LICENSE", "deepseek", False),
    ("other", "falcon-llm-license", None, "tii-falcon", False),
    ("other", "tii-falcon-llm", None, "tii-falcon", False),
    ("tii-falcon-llm", None, None, "tii-falcon", False),
    ("other", None, "https://ai.google.dev/gemma/terms", "gemma", False),
    ("other", None, None, "unknown", False),
    (None, None, None, "unknown", False),
    ("", None, None, "unknown", False),
    ("unknown", None, None, "unknown", False),
    ("my-own-licence", None, None, "unknown", False),
    ("other", "some bespoke terms", "https://example.com/terms", "unknown", False),
    ("MIT OR llama2", None, None, "MIT", True),  # OR: the user may choose the open one
    ("apache-2.0 AND cc-by-nc-4.0", None, None, "CC-BY-NC-4.0", False),  # AND: the most restrictive governs
    ("MIT AND mystery-licence", None, None, "unknown", False),
    ("(MIT OR Apache-2.0) AND CC-BY-NC-4.0", None, None, "unknown", False),
])
def test_resolve(license_id, name, link, expected, is_open):
    result = resolve(license_id, license_name=name, license_link=link)
    assert (result.id, result.open) == (expected, is_open)


def test_ai_licence_facts_come_from_the_table():
    llama31 = resolve("llama3.1")
    assert llama31.user_cap == 700_000_000 and llama31.use_policy and llama31.use_policy_passes_down
    assert llama31.derivative_naming == 'names of distributed derivative models must begin with "Llama"'
    assert "Built with Llama" in llama31.attribution and llama31.commercial_use is True
    assert llama31.osi_approved is False and llama31.tier == "vendor-community"
    assert resolve("llama2").output_restrictions is True and resolve("llama2").derivative_naming is None
    assert resolve("other", license_name="tongyi-qianwen").user_cap == 100_000_000
    assert resolve("cc-by-nc-4.0").commercial_use is False
    assert resolve("bigscience-bloom-rail-1.0").use_policy_passes_down is True
    assert is_more_permissive(resolve("apache-2.0"), resolve("openrail"))
    assert resolve("apache-2.0").osi_approved is True
    unknown = resolve("other")
    assert unknown.open is False and unknown.osi_approved is None and unknown.commercial_use is None


def test_the_licence_docs_show_the_openness_order_of_the_table():
    from openscore.licences.catalogue import load_catalogue
    from openscore.resources import PROJECT_ROOT

    docs = (PROJECT_ROOT / "docs" / "licences.md").read_text(encoding="utf-8")
    rows = [line for line in docs.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    documented = {tier.strip(" `"): int(row.split("|")[1]) for row in rows for tier in row.split("|")[2].split(",")}
    assert documented == {tier.id: tier.rank for tier in load_catalogue().table.tiers}


def test_unlisted_spdx_ids_take_their_flags_from_the_spdx_list():
    assert (facts("EPL-2.0").osi_approved, facts("EPL-2.0").open) == (True, True)
    xfig = resolve("Xfig")  # SPDX-listed, neither OSI nor FSF nor open data
    assert (xfig.id, xfig.open, xfig.tier) == ("Xfig", False, "unclassified")


def test_realcards_declared_licences(realcards: Path):
    def declared(repo: str, readme: str = "README.md"):
        text = (realcards / repo / readme).read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---\n")[1])
        return resolve(meta.get("license"), license_name=meta.get("license_name"), license_link=meta.get("license_link"))

    llama3 = declared("meta-llama__Meta-Llama-3-8B")
    assert (llama3.id, llama3.open) == ("llama3", False)
    assert declared("google__gemma-2b-it").id == "gemma"
    assert declared("Qwen__Qwen1.5-7B").id == "tongyi-qianwen"
    assert declared("deepseek-ai__deepseek-llm-7b-chat").id == "deepseek"
    assert declared("stabilityai__stablelm-tuned-alpha-7b").id == "CC-BY-NC-SA-4.0"
    assert declared("baichuan-inc__Baichuan2-13B-Chat").id == "unknown"  # `other` with no name or link


def test_falcon_40b_card_and_licence_file_conflict(realcards: Path):
    card = (realcards / "tiiuae__falcon-40b" / "_variants" / "README.hf-main-2024.md").read_text(encoding="utf-8")
    declared = resolve(yaml.safe_load(card.split("---\n")[1])["license"])
    assert (declared.id, declared.open) == ("Apache-2.0", True)
    found = identify_text((realcards / "tiiuae__falcon-40b" / "LICENSE.txt").read_text(encoding="utf-8"))
    assert (found.id, found.line) == ("tii-falcon", 1)
    assert conflicting_files(declared, {"LICENSE.txt": found}) == {"LICENSE.txt": "tii-falcon"}
    assert resolve("other", license_name=found.id).open is False
    # agreeing files, unreadable files and an undeclared licence are not conflicts
    assert conflicting_files(declared, {"LICENSE": LicenceMatch("Apache-2.0", 1.0, "spdx-text", 1)}) == {}
    assert conflicting_files(declared, {"NOTICE": LicenceMatch("unknown", 0.0, "none")}) == {}
    assert conflicting_files(resolve(None), {"LICENSE.txt": found}) == {}


def test_licence_laundering_is_a_licence_more_open_than_the_base():
    apache, llama2 = resolve("apache-2.0"), resolve("llama2")
    assert is_more_permissive(apache, llama2)  # hfl/chinese-llama-2-7b
    assert not is_more_permissive(llama2, apache)
    assert not is_more_permissive(llama2, resolve("llama2"))
    assert not is_more_permissive(resolve("llama3"), llama2)  # same tier: not laundering
    assert is_more_permissive(resolve("bigscience-openrail-m"), resolve("cc-by-nc-4.0"))
    assert is_more_permissive(resolve("cc-by-nc-4.0"), resolve("deepfloyd-if-license"))
    assert not is_more_permissive(resolve("cc-by-nc-4.0"), resolve("bigscience-bloom-rail-1.0"))
    # nothing is proven against (or by) an unknown licence
    assert not is_more_permissive(apache, resolve("other"))
    assert not is_more_permissive(resolve(None), llama2)


def test_hfl_chinese_llama_2_declares_apache_on_a_llama_2_base(realcards: Path):
    card = (realcards / "hfl__chinese-llama-2-7b" / "README.md").read_text(encoding="utf-8")
    declared = resolve(yaml.safe_load(card.split("---\n")[1])["license"])
    assert declared.id == "Apache-2.0"
    assert is_more_permissive(declared, resolve("llama2"))


#: Every LICENSE-like file of the real repositories, and what it is. A new file must be added here.
REALCARD_LICENCE_FILES = {
    "Qwen__Qwen-7B/LICENSE": "tongyi-qianwen",
    "Qwen__Qwen-7B-Chat/LICENSE": "tongyi-qianwen",
    # Deliberately unknown: a bundle of the licences of third-party code (Megatron-LM BSD, tiktoken MIT,
    # stanford_alpaca Apache, AutoGPTQ MIT), not the model's licence; no single id describes it.
    "Qwen__Qwen-7B/NOTICE": "unknown",
    "Qwen__Qwen-7B-Chat/NOTICE": "unknown",
    "THUDM__chatglm-6b/LICENSE": "Apache-2.0",  # the code; the weights are under MODEL_LICENSE
    "THUDM__chatglm-6b/MODEL_LICENSE": "chatglm-6b",
    # Deliberately unknown: a PDF, whose text openscore does not extract (binary input must not match).
    "baichuan-inc__Baichuan2-13B-Chat/Community License for Baichuan2 Model.pdf": "unknown",
    "meta-llama__Llama-2-7b-hf/LICENSE.txt": "llama2",
    "meta-llama__Llama-2-7b-hf/USE_POLICY.md": "llama2",  # the Llama 2 acceptable-use policy
    "tiiuae__falcon-40b/LICENSE.txt": "tii-falcon",
    "tiiuae__falcon-7b/_variants/rev-2e35869/LICENSE.txt": "tii-falcon",
}


def _licence_like(path: Path) -> bool:
    name = path.name.upper()
    return path.is_file() and any(key in name for key in ("LICEN", "NOTICE", "USE_POLICY", "COPYING"))


def test_every_licence_file_in_realcards_is_identified(realcards: Path):
    found = {str(p.relative_to(realcards)): p for p in sorted(realcards.rglob("*")) if _licence_like(p)}
    assert set(found) == set(REALCARD_LICENCE_FILES)
    for rel, path in found.items():
        match = identify_text(path.read_bytes().decode("utf-8", errors="replace"))
        assert match.id == REALCARD_LICENCE_FILES[rel], rel
        if match.id != "unknown":
            assert match.confidence >= 0.9 and match.line == 1 and match.snippet, rel


def test_licence_texts_inside_cards_are_found_with_their_line(realcards: Path):
    llama3 = identify_text((realcards / "meta-llama__Meta-Llama-3-8B" / "README.md").read_text(encoding="utf-8"))
    assert (llama3.id, llama3.line, llama3.method) == ("llama3", 15, "fingerprint:title")
    assert "META LLAMA 3 COMMUNITY LICENSE AGREEMENT" in llama3.snippet
    # a card that only cites its licence in a sentence: identified, but as a mention, below a licence text
    falcon = identify_text((realcards / "tiiuae__falcon-40b" / "README.md").read_text(encoding="utf-8"))
    assert (falcon.id, falcon.method, falcon.line) == ("tii-falcon", "fingerprint:mention", 14)
    assert 0.6 <= falcon.confidence < 0.9
    # a cited title outranks phrases that Llama 3.1, 3.2, 3.3 and 4 share ("Built with Llama", 700M users)
    llama31 = identify_text((realcards / "NousResearch__Meta-Llama-3.1-8B-Instruct" / "README.md").read_text(encoding="utf-8"))
    assert (llama31.id, llama31.method) == ("llama3.1", "fingerprint:mention")


def test_sample_licences_are_recognised_by_their_full_text():
    apache = identify_text((SAMPLES / "tiny-llama" / "LICENSE").read_text(encoding="utf-8"))
    assert (apache.id, apache.method, apache.line) == ("Apache-2.0", "spdx-text", 2)
    mit = identify_text((SAMPLES / "tiny-llama-shell" / "LICENSE").read_text(encoding="utf-8"))
    assert (mit.id, mit.confidence) == ("MIT", 1.0)


def test_a_text_edited_beyond_the_tolerance_is_not_guessed():
    text = (SAMPLES / "tiny-llama-shell" / "LICENSE").read_text(encoding="utf-8")
    lightly = text.replace("free of charge", "free of all charge")
    assert identify_text(lightly).id == "MIT" and identify_text(lightly).confidence < 1.0
    heavily = text.replace("Permission is hereby granted", "No permission is granted except for research use")
    heavily += "\nYou may not use the Software for commercial purposes.\n" * 3
    assert identify_text(heavily).id == "unknown"


@pytest.mark.parametrize("text", [
    "", "hello world", "This model is released under a bespoke licence. Ask us.",
    "Licensed under the Apache License", "\x00\x01 binary junk \xff",
])
def test_unrecognised_text_is_unknown(text):
    match = identify_text(text)
    assert (match.id, match.confidence, match.line) == ("unknown", 0.0, None)


def test_fingerprints_survive_wrapping_markdown_and_quotes():
    text = ("# Terms\n\n**TII   Falcon\nLLM License** Version 1.0\n\nthe “Relevant Percentage” and the\n"
            "Commercial\nApplication Address apply.\n")
    match = identify_text(text)
    assert (match.id, match.line, match.method) == ("tii-falcon", 3, "fingerprint:title")


def test_phrases_without_a_title_need_to_be_unambiguous():
    # two Llama-3.x phrases shared by 3.1, 3.2 and 3.3: no title says which one
    text = "Display Built with Llama.\nOver 700 million monthly active users you need a licence.\n"
    assert identify_text(text) == LicenceMatch("unknown", 0.0, "ambiguous", 1, "Display Built with Llama.")
    assert identify_text("Relevant Percentage\nAttributable Revenue\n").id == "tii-falcon"


def test_huge_input_is_bounded():
    text = "TII Falcon LLM License\n" + "x " * 3_000_000
    assert identify_text(text).id == "tii-falcon"
    assert identify_text("word " * 300_000).id == "unknown"
