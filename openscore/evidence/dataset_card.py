"""The content of the training datasets' Hub cards (`--linked`): whether a card documents its dataset as a
datasheet does (Gebru et al.), for the OSAI `datasheet` dimension.

The datasets collector reads each named dataset's licence and gating; this one reads the card itself
(README.md, through the Hub client with the model's bounds) and keeps only which datasheet topics its
headings cover (openscore/data/datasheet_sections.yaml). Cached with its fetch date like the other linked
evidence; never run offline.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from openscore.errors import OpenscoreError
from openscore.evidence.card import sections, split_front_matter
from openscore.evidence.context import CollectContext, is_hub_id
from openscore.evidence.linked import LinkedConfig, cached
from openscore.evidence.model import CollectorOutput, Observation
from openscore.resources import package_data
from openscore.yamlconfig import load_yaml_model

EXTRACTOR = "dataset-card@1.0"
#: dataset cards read per audit at most (a card naming dozens of datasets is not crawled)
MAX_CARDS = 8
#: a dataset card over this size is refused (real ones are tens of KB)
MAX_CARD_BYTES = 1_000_000
#: headings kept in the cached facts and the citation
MAX_HEADINGS = 12


class DatasheetSections(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_topics: int
    required: list[str]
    topics: dict[str, list[str]]


@lru_cache(maxsize=1)
def datasheet_rules() -> tuple[DatasheetSections, dict[str, list[re.Pattern[str]]]]:
    rules, _ = load_yaml_model(DatasheetSections, package_data("datasheet_sections.yaml"))
    return rules, {t: [re.compile(p, re.IGNORECASE) for p in pats] for t, pats in rules.topics.items()}


def datasheet_topics(text: str) -> tuple[list[str], list[str], bool]:
    """(datasheet topics with a filled section, the card's headings, whether it is a datasheet) of a card."""
    rules, patterns = datasheet_rules()
    fm_text, first, lines = split_front_matter(text)
    start = first + fm_text.count("\n") + 1 if fm_text is not None else 0
    found = sections(lines, start)
    topics = sorted({t for s in found if s.filled
                     for t, pats in patterns.items() if any(p.search(s.heading) for p in pats)})
    named = "datasheet" in topics
    content = [t for t in topics if t != "datasheet"]
    documents = named or (len(content) >= rules.min_topics and all(r in content for r in rules.required))
    return topics, [s.heading for s in found][:MAX_HEADINGS], documents


def collect_dataset_cards(ctx: CollectContext, datasets: CollectorOutput, cfg: LinkedConfig) -> CollectorOutput:
    """`dataset.card` observations for the named datasets whose Hub facts were read and are not gated."""
    from openscore.sources.hub import HubSource

    out = CollectorOutput(extractor=EXTRACTOR)
    out.searched.append(f"the Hub cards of the training datasets (at most {MAX_CARDS}) for datasheet sections")
    endpoint = (ctx.endpoint if ctx.on_hub and ctx.endpoint else cfg.hub_endpoint).rstrip("/")
    ids = [o.value["id"] for o in datasets.observations
           if o.kind == "dataset" and o.value.get("checked") and not o.value.get("gated")]
    for dataset_id in ids[:MAX_CARDS]:
        if not is_hub_id(dataset_id):
            out.not_checked.append(f"dataset card {dataset_id[:100]!r}: not a Hub dataset id")
            continue
        def compute(dataset_id=dataset_id) -> dict:
            card = HubSource(dataset_id, endpoint=endpoint, token=ctx.token).dataset_card(dataset_id, MAX_CARD_BYTES)
            if card is None:
                return {"exists": False}
            sha, text = card
            topics, headings, documents = datasheet_topics(text)
            return {"exists": True, "sha": sha, "topics": topics, "headings": headings, "datasheet": documents}
        try:
            facts = cached(cfg, f"hub-dataset-card:{dataset_id}", compute)
        except OpenscoreError as exc:  # unreachable, refused, malformed, over a bound: not evidence
            out.not_checked.append(f"dataset card {dataset_id}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        url = f"{endpoint}/datasets/{dataset_id}"
        summary = ("no card" if not facts.get("exists") else
                   ("a datasheet" if facts.get("datasheet") else "not a datasheet")
                   + f" (sections on {', '.join(facts.get('topics') or []) or 'no datasheet topic'})")
        out.observations.append(Observation(
            kind="dataset.card",
            value={"id": dataset_id, "datasheet": bool(facts.get("datasheet")), "topics": facts.get("topics") or [],
                   "fetched": facts["fetched"]},
            evidence=ctx.cite(rule="collect/dataset-card", extractor=EXTRACTOR, url=url,
                              snippet=f"dataset card of {dataset_id} (fetched {facts['fetched']}): {summary}; "
                                      "headings: "
                                      + "; ".join(facts.get("headings") or [])),
        ))
    return out
