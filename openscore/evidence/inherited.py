"""Documentation inherited from the declared base's Hub card (`--linked`).

A repository with no documentation of its own (no card, or a card without a filled section: a licence
text, a line naming the base) that declares a base (card `base_model`, config `_name_or_path`, an adapter's
`base_model_name_or_path`) or whose weights provenance finds to be a copy of one (identical, renamed-copy,
recast-copy) is documented by that base's card: the experts grade such a copy on the base's card (the
grading maps' `inherit_from_base` dimensions). A derivative with a card of its own that names its base (card
`base_model`, a "Base model:" bullet, config `_name_or_path`, or a derivation sentence naming a release
listed in known_bases.yaml) but links no preprint of its own takes the base's (`fill_from_base`), as
partial: the base's paper covers some parts of the system (the base), not its own fine-tuning (the index's
"partial: Archived preprints cover some parts of the system").

The base's card is read through the Hub client (its model info, then README.md, with the model's bounds)
and run through the same card readers (sections, content, links); the grades that use it say so. Cached
with its fetch date like the other linked evidence; never run offline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from openscore.errors import OpenscoreError
from openscore.evidence.card import collect_card, find_card
from openscore.evidence.card_content import collect_card_content
from openscore.evidence.context import CollectContext, is_hub_id, own_ids
from openscore.evidence.known_bases import known_bases
from openscore.evidence.linked import LinkedConfig, cached
from openscore.evidence.links import collect_links
from openscore.evidence.model import CollectorOutput, EvidenceBundle, Observation
from openscore.report import Evidence, ProvenanceResult
from openscore.sources.base import Inventory, Source

EXTRACTOR = "inherited-card@1.0"
#: provenance verdicts under which the audited weights are the base's own: its card describes them
COPY_VERDICTS = frozenset({"identical", "renamed-copy", "recast-copy"})
#: the collectors whose observations are the card's (the ones a base's card replaces)
CARD_COLLECTORS = ("card", "card-content", "links")
MAX_ADAPTER_BYTES = 64_000


@dataclass
class InheritedCard:
    """The declared base's card, read: what grading uses in place of the repository's missing card."""

    base: str  # the base's Hub id
    copy: bool  # the repository documents nothing itself (else: a derivative filling gaps in its own card)
    url: str  # the card's URL at the commit read
    fetched: str  # ISO date of the read (kept from the cache)
    collectors: dict[str, CollectorOutput]  # the card readers' outputs on the base's card

    def view(self, own: EvidenceBundle) -> EvidenceBundle:
        """The repository's evidence with the base's card in place of its own (absent) one."""
        return EvidenceBundle(source=own.source, collectors={**own.collectors, **self.collectors})

    def note(self, own_source: str, rule: str) -> Evidence:
        return Evidence(source=own_source, rule=rule, extractor=EXTRACTOR, url=self.url,
                        snippet=f"inherited from the declared base {self.base}'s card ({self.url}), "
                                f"fetched {self.fetched}")


def _adapter_base(source: Source, inventory: Inventory) -> str | None:
    """An adapter's `base_model_name_or_path` (adapter_config.json), when it is a Hub id."""
    if inventory.get("adapter_config.json") is None:
        return None
    try:
        doc = json.loads(source.read_text("adapter_config.json", max_bytes=MAX_ADAPTER_BYTES) or "{}")
    except (OpenscoreError, ValueError, RecursionError):
        return None
    value = doc.get("base_model_name_or_path") if isinstance(doc, dict) else None
    return value if is_hub_id(value) else None


def _named_release(mention: Observation) -> str | None:
    """The known release a derivation sentence names ("Based on `pythia-12b`" -> EleutherAI/pythia-12b)."""
    family, sentence = mention.value.get("family"), mention.evidence.snippet or ""
    found = [r.id for r in known_bases().repos if r.family == family and re.search(
        rf"(?<![\w.-]){re.escape(r.id.split('/', 1)[1])}(?![\w.-])", sentence, re.IGNORECASE)]
    return found[0] if len(found) == 1 else None


def undocumented(bundle: EvidenceBundle) -> bool:
    """No card, or a card without one filled section (a licence text, a line naming the base): nothing of
    the repository's own documents the model."""
    return bool(bundle.find("card.missing")) or not any(
        isinstance(o.value, dict) and o.value.get("filled") for o in bundle.find("card.section."))


def base_to_inherit(source: Source, inventory: Inventory, bundle: EvidenceBundle,
                    provenance: ProvenanceResult | None) -> tuple[str, bool] | None:
    """(the base whose card documents this repository, whether the repository has no documentation of its own).

    Undocumented (no card, or no filled section): a copy found by provenance, then the base it declares (card
    `base_model`, "Base model:" bullet, config `_name_or_path`), then an adapter's base. Documented: the base
    provenance finds it derived from, then the one it declares, then a listed release a derivation sentence
    names."""
    from openscore.openness.lineage import DERIVED_VERDICTS

    own = own_ids(inventory.ref.repo_id)
    copy = undocumented(bundle)
    candidates = []
    verdicts = COPY_VERDICTS if copy else DERIVED_VERDICTS
    if provenance is not None and provenance.verdict in verdicts and provenance.base:
        candidates.append(provenance.base.split("@", 1)[0])
    declared = bundle.find("base.declared")
    candidates += [o.value["id"] for o in sorted(declared, key=lambda o: o.value.get("via") == "config")]
    if copy:
        candidates.append(_adapter_base(source, inventory))
    else:
        candidates += [_named_release(o) for o in bundle.find("base.mentioned")]
    found = next((c for c in candidates if is_hub_id(c) and c.lower() not in own), None)
    return (found, copy) if found else None


def _read(base: str, endpoint: str, token) -> dict:
    """The base's card run through the card readers, as cacheable facts."""
    from openscore.sources.hub import HubSource

    source = HubSource(base, endpoint=endpoint, token=token)
    inventory = source.inventory()
    ctx = CollectContext(source=source, inventory=inventory, endpoint=source.endpoint, token=token)
    name = find_card(ctx)
    if name is None:
        return {"exists": False}
    card, _ = collect_card(ctx)
    outputs = {"card": card, "card-content": collect_card_content(ctx), "links": collect_links(ctx)}
    return {"exists": True, "unreadable": sorted(ctx.unreadable.values()), "url": ctx.blob_url(name),
            "collectors": {k: v.model_dump(mode="json") for k, v in outputs.items()}}


def inherit_card(source: Source, inventory: Inventory, bundle: EvidenceBundle, provenance: ProvenanceResult | None,
                 cfg: LinkedConfig, token=None) -> tuple[InheritedCard | None, CollectorOutput | None]:
    """(the base's card, the collector output the report keeps) for a repository that declares a base;
    (None, None) when there is nothing to inherit."""
    found = base_to_inherit(source, inventory, bundle, provenance)
    if found is None:
        return None, None
    base, copy = found
    out = CollectorOutput(extractor=EXTRACTOR)
    out.searched.append(f"the Hub card of the declared base {base}" + (
        " (this repository has no documentation of its own)" if copy else " (for a preprint its own card lacks)"))
    try:
        on_hub = inventory.ref.kind == "hub" and inventory.ref.location
        endpoint = inventory.ref.location if on_hub else cfg.hub_endpoint
        facts = cached(cfg, f"hub-model-card:{base}", lambda: _read(base, endpoint, token))
        collectors = {k: CollectorOutput.model_validate(v) for k, v in (facts.get("collectors") or {}).items()}
    except (OpenscoreError, ValueError) as exc:  # unreachable, refused, malformed, over a bound: not evidence
        out.not_checked.append(f"card of {base}: {type(exc).__name__}: {str(exc)[:200]}")
        return None, out
    if not facts.get("exists") or set(collectors) != set(CARD_COLLECTORS):
        out.not_checked.append(f"card of {base}: the base has no card")
        return None, out
    if facts.get("unreadable"):  # gated: the metadata alone would say the base's card documents nothing
        out.not_checked += [f"card of {base}: {str(why)[:200]}" for why in facts["unreadable"]]
        return None, out
    inherited = InheritedCard(base=base, copy=copy, url=str(facts.get("url")), fetched=facts["fetched"],
                              collectors=collectors)
    topics = sorted({o.kind.rsplit(".", 1)[1] for o in collectors["card"].observations
                     if o.kind.startswith("card.section.") and isinstance(o.value, dict) and o.value.get("filled")})
    evidence = inherited.note(bundle.source, "collect/inherited-card")
    out.observations.append(Observation(kind="inherited.card", value={
        "base": base, "copy": copy, "url": inherited.url, "fetched": inherited.fetched, "sections": topics},
        evidence=evidence))
    return inherited, out
