"""CycloneDX 1.6 AI-BOM: valid against the bundled schema, deterministic, carrying the audit's facts."""

from __future__ import annotations

import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from openscore.audit import audit
from openscore.bom import cyclonedx_document, cyclonedx_json


@pytest.fixture(scope="module")
def olmo(realcards):
    return audit(str(realcards / "allenai__OLMo-2-1124-13B-Instruct"), weights=False)


def test_bom_validates_and_describes_the_model(olmo):
    text = cyclonedx_json(olmo)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["version"] == olmo.source.sha
    assert model["licenses"] == [{"license": {"id": "Apache-2.0", "acknowledgement": "declared"}}]
    assert model["pedigree"]["ancestors"][0]["name"] == "allenai/OLMo-2-1124-13B-Instruct-RLVR2"
    card = model["modelCard"]["modelParameters"]
    assert card["task"] == "text-generation" and card["modelArchitecture"] == "Olmo2ForCausalLM"
    # the card's `datasets:` plus the datasets its prose links, not the logo hosted in allenai/blog-images
    assert {d["name"] for d in card["datasets"]} == {"allenai/RLVR-MATH", "allenai/RLVR-GSM",
                                                     "allenai/tulu-3-sft-olmo-2-mixture",
                                                     "allenai/olmo-2-1124-13b-preference-mix"}
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["openscore:grade:osai-v3:licenses"] == "open"  # Apache-2.0, no part known to be under another
    assert props["openscore:class:osaid"] == "fail"
    hashes = {c["name"]: c["hashes"][0] for c in model["components"]}
    config = next(f for f in olmo.inventory["files"] if f["path"] == "config.json")
    assert hashes["config.json"] == {"alg": "SHA-256", "content": config["sha256"]}


def test_bom_is_deterministic_and_timeless(olmo, realcards):
    again = audit(str(realcards / "allenai__OLMo-2-1124-13B-Instruct"), weights=False)
    first, second = cyclonedx_json(olmo), cyclonedx_json(again)
    assert first == second
    bom = json.loads(first)
    assert "timestamp" not in bom["metadata"]
    other = cyclonedx_document(audit(str(realcards / "microsoft__phi-2"), weights=False))
    assert bom["serialNumber"].startswith("urn:uuid:") and other["serialNumber"] != bom["serialNumber"]


def test_named_ai_licence_is_written_by_name(realcards):
    model = cyclonedx_document(audit(str(realcards / "meta-llama__Meta-Llama-3-8B"), weights=False,
                                     rubrics=["osai-v3"]))["metadata"]["component"]
    assert model["licenses"] == [{"license": {"name": "Meta Llama 3 Community License Agreement",
                                              "acknowledgement": "declared"}}]


def test_hub_model_gets_a_huggingface_purl(fake_hub, realcards):
    fake_hub.add_repo("tiiuae/falcon-7b", realcards / "tiiuae__falcon-7b")
    report = audit("tiiuae/falcon-7b", endpoint=fake_hub.endpoint, token=False, weights=False, rubrics=["osai-v3"])
    model = cyclonedx_document(report)["metadata"]["component"]
    assert model["purl"] == f"pkg:huggingface/tiiuae/falcon-7b@{report.source.sha}"
