"""Training datasets the card names, and (for Hub audits) each dataset card's licence and gating.

A local audit never goes online: the datasets are then listed as "not checked", which grading
turns into a partial or unknown grade rather than pretending the data is open or closed.
"""

from __future__ import annotations

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "datasets@1.0"
MAX_DATASETS = 20  # a card listing hundreds of datasets is not fetched one by one


def dataset_ids(front_matter: dict | None, linked: list[str]) -> list[str]:
    listed = (front_matter or {}).get("datasets") or []
    if isinstance(listed, str):
        listed = [listed]
    ids = [d for d in listed if isinstance(d, str) and d.strip()]
    return sorted(set(ids) | set(linked))


def _fetch(ctx: CollectContext, dataset_id: str) -> tuple[dict | None, str | None]:
    """(facts, None) or (None, why it could not be checked); read through the model's Hub source, so
    with its timeouts, deadlines and validation of the answer."""
    from openscore.errors import GatedRepo, RepoNotFound, SourceError
    from openscore.sources.hub import HubSource

    if not isinstance(ctx.source, HubSource):
        return None, "the model's source cannot query the Hub"
    try:
        return ctx.source.dataset_facts(dataset_id), None
    except GatedRepo:
        return {"licence": None, "gated": True, "card": False}, None
    except RepoNotFound:
        return None, "dataset not found on the Hub"
    except SourceError as exc:  # rate limited, server error, unreachable, an invalid answer
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def collect_datasets(ctx: CollectContext, front_matter: dict | None, linked: list[str]) -> CollectorOutput:
    out = CollectorOutput(extractor=EXTRACTOR)
    ids = dataset_ids(front_matter, linked)
    out.searched.append("card `datasets:` list and links to Hub datasets")
    for n, dataset_id in enumerate(ids):
        facts, why = (None, "local audit: the Hub is not queried") if not ctx.on_hub else (
            (None, f"more than {MAX_DATASETS} datasets listed") if n >= MAX_DATASETS else _fetch(ctx, dataset_id))
        value = {"id": dataset_id, "checked": facts is not None, **(facts or {"licence": None, "gated": None})}
        if why:
            value["not_checked"] = why
            out.not_checked.append(f"dataset {dataset_id}: {why}")
        base = (ctx.endpoint or "https://huggingface.co").rstrip("/")
        out.observations.append(Observation(
            kind="dataset", value=value,
            evidence=ctx.cite(rule="collect/datasets/card" if facts else "collect/datasets/listed", extractor=EXTRACTOR,
                              url=f"{base}/datasets/{dataset_id}",
                              snippet=f"dataset {dataset_id}: " + (
                                  f"licence {value['licence']!r}, gated {value['gated']!r}" if facts else why)),
        ))
    return out
