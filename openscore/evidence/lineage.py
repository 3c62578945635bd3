"""The base model a checkpoint declares: card `base_model`, config `_name_or_path`, or its prose.

Prose counts only when a known base family is named in the same sentence as a derivation phrase
("trained by fine-tuning LLaMA", "based on the Llama-2"), so a comparison table that merely
mentions LLaMA is not read as a lineage claim.
"""

from __future__ import annotations

import re

from openscore.evidence.card import find_card, split_front_matter
from openscore.evidence.context import CollectContext
from openscore.evidence.known_bases import known_bases
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "lineage@1.0"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SENTENCE = re.compile(r"[^.!?。\n]+(?:[.!?。]|$)")
#: advice to the reader ("you may fine-tune Pythia") is not a lineage claim
_ADVICE = re.compile(r"\byou (?:may|can|could|might|should)\b|\brecommend|\busers? (?:can|may|should)\b", re.IGNORECASE)


def own_family(bases, repo_id: str):
    """The known family of the audited repo itself (a local folder `org__name` names its Hub repo)."""
    name = repo_id.split("/", 1)[-1]
    return bases.by_id(repo_id) or (bases.by_id(name.replace("__", "/", 1)) if "__" in name else None)


def collect_lineage(ctx: CollectContext, front_matter: dict | None, config: dict | None) -> CollectorOutput:
    out = CollectorOutput(extractor=EXTRACTOR)
    bases = known_bases()
    own = ctx.inventory.ref.repo_id
    out.searched.append("card base_model, config.json _name_or_path, and derivation phrases naming a known base")
    card = find_card(ctx)
    declared = (front_matter or {}).get("base_model")
    for value in ([declared] if isinstance(declared, str) else declared or []):
        if isinstance(value, str) and value:
            family = bases.by_id(value)
            out.observations.append(Observation(
                kind="base.declared", value={"id": value, "via": "card", "family": family.family if family else None},
                evidence=_card_line(ctx, card, "base_model", value),
            ))
    name_or_path = (config or {}).get("_name_or_path")
    if isinstance(name_or_path, str) and _HUB_ID.match(name_or_path) and name_or_path.lower() != own.lower():
        family = bases.by_id(name_or_path)
        out.observations.append(Observation(
            kind="base.declared", value={"id": name_or_path, "via": "config", "family": family.family if family else None},
            evidence=ctx.cite(rule="collect/lineage/config", extractor=EXTRACTOR, file="config.json",
                              locator="/_name_or_path", snippet=f'"_name_or_path": "{name_or_path}"'),
        ))
    text = ctx.source.read_text(card) if card else None
    if text:
        _, _, lines = split_front_matter(text)
        relation = re.compile("|".join(f"(?:{p})" for p in bases.relation_phrases), re.IGNORECASE)
        own_base = own_family(bases, own)
        found: set[str] = set()
        for number, line in enumerate(lines, start=1):
            for sentence in _SENTENCE.findall(line):
                if not relation.search(sentence) or _ADVICE.search(sentence):
                    continue
                for base in bases.bases:
                    if base.family in found or base is own_base or not base.mention(sentence):
                        continue
                    found.add(base.family)
                    out.observations.append(Observation(
                        kind="base.mentioned", value={"id": None, "via": "prose", "family": base.family},
                        evidence=ctx.cite(rule="collect/lineage/prose", extractor=EXTRACTOR, file=card, line=number,
                                          snippet=sentence.strip()),
                    ))
                    break  # the most specific family named in this sentence
    return out


def _card_line(ctx: CollectContext, card: str | None, key: str, value: str):
    text = ctx.source.read_text(card) if card else ""
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.lstrip().startswith(f"{key}:") or (value in line and number < 200):
            return ctx.cite(rule="collect/lineage/card", extractor=EXTRACTOR, file=card, line=number, snippet=line)
    return ctx.cite(rule="collect/lineage/card", extractor=EXTRACTOR, file=card, snippet=f"{key}: {value}")
