"""Training datasets the card names (its `datasets:` list, and Hub dataset links outside its evaluation and
usage sections), and (for Hub audits) each dataset card's licence and gating.

A local audit never goes online: the datasets are then listed as "not checked". Grading takes the card's
word that a named Hub dataset is shared (OSAI grades availability) but never infers its licence from it.
"""

from __future__ import annotations

from openscore.evidence.card import find_card
from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation
from openscore.evidence.oddities import record_invalid

EXTRACTOR = "datasets@1.1"
MAX_DATASETS = 20  # a card listing hundreds of datasets is not fetched one by one
NOT_FOUND = "dataset not found on the Hub"


def dataset_ids(front_matter: dict | None, linked: list[str]) -> list[str]:
    """The ids named, sorted (never in set order: reports are the same bytes under any hash seed)."""
    listed = (front_matter or {}).get("datasets") or []
    if isinstance(listed, str):
        listed = [listed]
    ids = [d for d in listed if isinstance(d, str) and d.strip()] if isinstance(listed, list) else []
    return sorted(set(ids) | set(linked))


def _fetch(ctx: CollectContext, dataset_id: str, endpoint: str | None) -> tuple[dict | None, str | None]:
    """(facts, None) or (None, why it could not be checked); read like every Hub answer, with the
    timeouts, deadlines and validation of openscore.sources.hub (the audit's own source when on the Hub)."""
    from openscore.errors import GatedRepo, RepoNotFound, SourceError
    from openscore.sources.hub import HubSource

    hub = ctx.source if isinstance(ctx.source, HubSource) and ctx.on_hub else HubSource(
        dataset_id, endpoint=endpoint, token=ctx.token)
    try:
        return hub.dataset_facts(dataset_id), None
    except GatedRepo:
        return {"licence": None, "gated": True, "card": False}, None
    except RepoNotFound:
        return None, NOT_FOUND
    except SourceError as exc:  # rate limited, server error, unreachable, an invalid answer
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def collect_datasets(ctx: CollectContext, front_matter: dict | None, linked: list[str],
                     hub: str | None = None) -> CollectorOutput:
    """`hub`: the endpoint to ask about a local folder's datasets (linked evidence); a Hub audit asks its own."""
    out = CollectorOutput(extractor=EXTRACTOR)
    ids = dataset_ids(front_matter, linked)
    out.searched.append("card `datasets:` list and links to Hub datasets")
    listed = (front_matter or {}).get("datasets")
    if listed is not None and not isinstance(listed, (str, list)):
        record_invalid(out, ctx, find_card(ctx), "datasets", listed, "a dataset id or a list of ids", EXTRACTOR)
    endpoint = ctx.endpoint if ctx.on_hub else hub
    for n, dataset_id in enumerate(ids):
        facts, why = (None, "local audit: the Hub is not queried") if not ctx.on_hub and hub is None else (
            (None, f"more than {MAX_DATASETS} datasets listed") if n >= MAX_DATASETS else _fetch(ctx, dataset_id, endpoint))
        value = {"id": dataset_id, "checked": facts is not None, **(facts or {"licence": None, "gated": None})}
        if why:
            value["not_checked"] = why
            value["missing"] = why == NOT_FOUND  # the Hub says it does not exist: not shared
            out.not_checked.append(f"dataset {dataset_id}: {why}")
        base = (endpoint or "https://huggingface.co").rstrip("/")
        out.observations.append(Observation(
            kind="dataset", value=value,
            evidence=ctx.cite(rule="collect/datasets/card" if facts else "collect/datasets/listed", extractor=EXTRACTOR,
                              url=f"{base}/datasets/{dataset_id}",
                              snippet=f"dataset {dataset_id}: " + (
                                  f"licence {value['licence']!r}, gated {value['gated']!r}" if facts else why)),
        ))
    return out
