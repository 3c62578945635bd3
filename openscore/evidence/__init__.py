"""Evidence collectors: every fact an openness grade may rest on, read from a Source and cited.

`collect(source, inventory)` runs every collector (card, card content, licence files, linked sources and the
venues of linked papers, links, repository files and refs, lineage, datasets) and returns an EvidenceBundle plus the card summary the report stores. Collectors are versioned (`extractor: name@version`): change a
collector's behaviour, bump its version.
"""

from __future__ import annotations

from dataclasses import dataclass

from openscore.evidence.card import collect_card
from openscore.evidence.card_content import collect_card_content
from openscore.evidence.context import CollectContext
from openscore.evidence.dataset_card import collect_dataset_cards
from openscore.evidence.datasets import collect_datasets
from openscore.evidence.licence_files import collect_licence_files
from openscore.evidence.lineage import collect_lineage
from openscore.evidence.linked import LinkedConfig, collect_linked
from openscore.evidence.linked import offline as linked_offline
from openscore.evidence.links import collect_links
from openscore.evidence.model import CollectorOutput, EvidenceBundle, Observation
from openscore.evidence.repository import collect_repository
from openscore.evidence.venues import collect_venues
from openscore.sources.base import Inventory, Source

#: card sections whose Hub dataset links are not the model's training data: benchmarks it was evaluated on,
#: datasets a reader may fine-tune it with (Yi's "use" section links BAAI/COIG), leaderboard details
NOT_TRAINING_DATA = ("evaluation", "intended_use", "limitations")

__all__ = ["Collected", "CollectContext", "LinkedConfig", "CollectorOutput", "EvidenceBundle", "Observation", "collect"]


@dataclass
class Collected:
    bundle: EvidenceBundle
    card: dict  # report.card: front matter, sections found


def collect(
    source: Source, inventory: Inventory, *, endpoint: str | None = None, token: str | bool | None = None,
    linked: LinkedConfig | None = None,
) -> Collected:
    """Every collector's output; `linked` also follows the card's links outside the repository (GitHub,
    arXiv, DOI, Semantic Scholar's venue of the card's paper, the Hub datasets of a local folder and the
    datasets' cards), unless HF_HUB_OFFLINE is set."""
    ctx = CollectContext(source=source, inventory=inventory, endpoint=endpoint, token=token)
    linked = None if linked is None or linked_offline() else linked
    bundle = EvidenceBundle(source=ctx.key)
    card_out, card = collect_card(ctx)
    front_matter = card.get("front_matter") or {}  # from README, or the Hub API's cardData when gated
    bundle.collectors["card"] = card_out
    bundle.collectors["card-content"] = collect_card_content(ctx)
    link = front_matter.get("license_link")
    bundle.collectors["licence-files"] = collect_licence_files(ctx, license_link=link if isinstance(link, str) else None)
    bundle.collectors["links"] = links = collect_links(ctx)
    repo_out, config = collect_repository(ctx)
    bundle.collectors["repository"] = repo_out
    bundle.collectors["lineage"] = collect_lineage(ctx, front_matter, config)
    datasets = [o.value["target"] for o in links.observations
                if o.kind == "link.dataset" and o.value.get("section") not in NOT_TRAINING_DATA]
    bundle.collectors["datasets"] = collect_datasets(ctx, front_matter, datasets,
                                                     hub=linked.hub_endpoint if linked is not None else None)
    if linked is not None:
        bundle.collectors["linked"] = collect_linked(ctx, links, linked)
        bundle.collectors["venues"] = collect_venues(ctx, links, linked)
        bundle.collectors["dataset-cards"] = collect_dataset_cards(ctx, bundle.collectors["datasets"], linked)
    return Collected(bundle=bundle, card=card)
