"""Training datasets the card names, and (for Hub audits) each dataset card's licence and gating.

A local audit never goes online: the datasets are then listed as "not checked", which grading
turns into a partial or unknown grade rather than pretending the data is open or closed.
"""

from __future__ import annotations

from openscore.evidence.card import find_card
from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation
from openscore.evidence.oddities import record_invalid

EXTRACTOR = "datasets@1.0"
MAX_DATASETS = 20  # a card listing hundreds of datasets is not fetched one by one


def dataset_ids(front_matter: dict | None, linked: list[str]) -> list[str]:
    """The ids named, sorted (never in set order: reports are the same bytes under any hash seed)."""
    listed = (front_matter or {}).get("datasets") or []
    if isinstance(listed, str):
        listed = [listed]
    ids = [d for d in listed if isinstance(d, str) and d.strip()] if isinstance(listed, list) else []
    return sorted(set(ids) | set(linked))


def _fetch(ctx: CollectContext, dataset_id: str, endpoint: str | None) -> tuple[dict | None, str | None]:
    """(facts, None) or (None, why it could not be checked)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    from openscore.sources.hub import TRANSPORT_ERROR  # the HTTP client's own base error (not wrapped by the Hub)

    try:
        info = HfApi(endpoint=endpoint, token=ctx.token).dataset_info(dataset_id)
    except GatedRepoError:  # a subclass of RepositoryNotFoundError: first
        return {"licence": None, "gated": True, "card": False}, None
    except RepositoryNotFoundError:
        return None, "dataset not found on the Hub"
    except HfHubHTTPError as exc:  # rate limited, server error, an endpoint without dataset routes
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return None, f"the Hub answered HTTP {status}" if status else f"Hub error ({type(exc).__name__})"
    except (ConnectionError, OSError, TRANSPORT_ERROR) as exc:  # offline, DNS, refused
        return None, f"Hub unreachable ({type(exc).__name__})"
    card = info.card_data.to_dict() if info.card_data is not None else {}
    return {"licence": card.get("license"), "gated": info.gated or False, "card": bool(card)}, None


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
