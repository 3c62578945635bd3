"""The base model a checkpoint declares: card `base_model`, a "Base model:" bullet in the card's text,
config `_name_or_path`, or its prose.

Prose counts only when a known base family is named in the same sentence as a derivation phrase
("trained by fine-tuning LLaMA", "based on the Llama-2"), so a comparison table that merely
mentions LLaMA is not read as a lineage claim.
"""

from __future__ import annotations

import re

from openscore.evidence.card import find_card, split_front_matter
from openscore.evidence.card_content import declared_base
from openscore.evidence.context import CollectContext, own_ids
from openscore.evidence.known_bases import known_bases
from openscore.evidence.model import CollectorOutput, Observation
from openscore.evidence.oddities import record_invalid

EXTRACTOR = "lineage@1.2"
#: the Hub's `base_model_relation` values
RELATIONS = ("adapter", "merge", "quantized", "finetune")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: sentences end at . ! ? followed by a space (so "Llama 3.1" and URLs stay whole) or at the line end
_SENTENCE = re.compile(r"(?:[^.!?。\n]|[.!?](?=\S))+(?:[.!?。](?=\s|$)|$)")
_URL = re.compile(r"\]\([^)]*\)|https?://\S+")
#: advice to the reader ("you may fine-tune Pythia") is not a lineage claim
_ADVICE = re.compile(r"\b(?:you|users?|developers?|one) (?:may|can|could|might|should|have to)\b|\brecommend",
                     re.IGNORECASE)
#: "projects built upon Llama" speaks of other work, not of this model
_OTHERS = re.compile(r"\b(?:projects|models|applications|apps|tools|libraries|works)\s+$", re.IGNORECASE)
#: how far after a derivation phrase the base's name may follow ("fine-tuned version of the original LLaMA")
WINDOW = 60


def own_family(bases, repo_id: str):
    """The known family of the audited repo itself, if any."""
    return next((b for i in sorted(own_ids(repo_id)) if (b := bases.by_id(i)) is not None), None)


def prose_claims(line: str, relation: re.Pattern[str], candidates) -> list[tuple[object, str]]:
    """(base, sentence) for each sentence of `line` that derives this model from a known base."""
    found = []
    if not relation.search(line):  # most lines: no derivation phrase at all
        return found
    for sentence in _SENTENCE.findall(_URL.sub(" ", line)):
        if _ADVICE.search(sentence):
            continue
        for m in relation.finditer(sentence):
            if _OTHERS.search(sentence[: m.start()]):
                continue
            window = sentence[m.end(): m.end() + WINDOW]
            base = next((b for b in candidates if b.mention(window)), None)
            if base is not None:
                found.append((base, sentence.strip()))
                break
    return found


def collect_lineage(ctx: CollectContext, front_matter: dict | None, config: dict | None) -> CollectorOutput:
    out = CollectorOutput(extractor=EXTRACTOR)
    bases = known_bases()
    own = ctx.inventory.ref.repo_id
    out.searched.append("card base_model, config.json _name_or_path, and derivation phrases naming a known base")
    card = find_card(ctx)
    declared = (front_matter or {}).get("base_model")
    relation = (front_matter or {}).get("base_model_relation")
    relation = relation if isinstance(relation, str) and relation in RELATIONS else None
    if declared is not None and not isinstance(declared, (str, list)):
        record_invalid(out, ctx, card, "base_model", declared, "a model id or a list of ids", EXTRACTOR)
        declared = None
    for value in ([declared] if isinstance(declared, str) else declared or []):
        if isinstance(value, str) and value and value.lower() not in own_ids(own):
            family = bases.by_id(value)
            out.observations.append(Observation(
                kind="base.declared",
                value={"id": value, "via": "card", "family": family.family if family else None, "relation": relation},
                evidence=_card_line(ctx, card, "base_model", value),
            ))
    name_or_path = (config or {}).get("_name_or_path")
    if isinstance(name_or_path, str) and _HUB_ID.match(name_or_path) and name_or_path.lower() not in own_ids(own):
        family = bases.by_id(name_or_path)
        out.observations.append(Observation(
            kind="base.declared", value={"id": name_or_path, "via": "config", "family": family.family if family else None},
            evidence=ctx.cite(rule="collect/lineage/config", extractor=EXTRACTOR, file="config.json",
                              locator="/_name_or_path", snippet=f'"_name_or_path": "{name_or_path}"'),
        ))
    text = ctx.read_text(card) if card else None
    listed = {v.lower() for v in ([declared] if isinstance(declared, str) else declared or []) if isinstance(v, str)}
    for value, number, line in declared_base(text or ""):
        if value.lower() not in own_ids(own) and value.lower() not in listed:
            listed.add(value.lower())
            family = bases.by_id(value)
            out.observations.append(Observation(
                kind="base.declared",
                value={"id": value, "via": "card-text", "family": family.family if family else None, "relation": None},
                evidence=ctx.cite(rule="collect/lineage/card-text", extractor=EXTRACTOR, file=card, line=number,
                                  snippet=line),
            ))
    if text:
        _, _, lines = split_front_matter(text)
        relation = re.compile("|".join(f"(?:{p})" for p in bases.relation_phrases), re.IGNORECASE)
        own_base = own_family(bases, own)
        found: set[str] = set()
        for number, line in enumerate(lines, start=1):
            for base, sentence in prose_claims(line, relation, [b for b in bases.bases if b is not own_base]):
                if base.family in found:
                    continue
                found.add(base.family)
                out.observations.append(Observation(
                    kind="base.mentioned", value={"id": None, "via": "prose", "family": base.family},
                    evidence=ctx.cite(rule="collect/lineage/prose", extractor=EXTRACTOR, file=card, line=number,
                                      snippet=sentence),
                ))
    return out


def _card_line(ctx: CollectContext, card: str | None, key: str, value: str):
    text = ctx.read_text(card) if card else ""
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.lstrip().startswith(f"{key}:") or (value in line and number < 200):
            return ctx.cite(rule="collect/lineage/card", extractor=EXTRACTOR, file=card, line=number, snippet=line)
    return ctx.cite(rule="collect/lineage/card", extractor=EXTRACTOR, file=card, snippet=f"{key}: {value}")
