"""Where the card's own paper was published: the venue a bibliographic index gives for the arXiv preprint
the card cites as its paper, or for a DOI it links (linked evidence, `--linked`).

A card links the arXiv preprint; the experts (OSAI `paper`) read the conference or journal that published
it, which the card rarely names. Semantic Scholar's Graph API answers `GET /paper/arXiv:<id>` (or
`DOI:<doi>`) with the venue, its type and the paper's identifiers. Peer-reviewed = a venue of type
conference or journal (or, without a typed venue, a paper typed Conference or JournalArticle) whose name
is not a preprint server (openscore/data/preprint_servers.yaml: Semantic Scholar files an unpublished
preprint as a JournalArticle in "arXiv.org").

The endpoint is OPENSCORE_S2_API (https://api.semanticscholar.org/graph/v1); S2_API_KEY is sent as
`x-api-key`. A 429 is retried after its Retry-After (at most MAX_TRIES answers, waits bounded by
MAX_WAIT_S and the answer's deadline); a 429 that outlasts them stops Semantic Scholar queries for the rest
of the audit. Answers go through evidence.linked's bounded GET and cache (fetch date kept), are validated
with pydantic, and anything malformed is "not checked", never evidence.
"""

from __future__ import annotations

import email.utils
import re
import time
import urllib.parse
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openscore.evidence.context import CollectContext
from openscore.evidence.linked import LinkedConfig, LinkedError, cached, fetch_linked, is_own_link, own_paper, parse_json
from openscore.evidence.model import CollectorOutput, Observation
from openscore.resources import package_data
from openscore.sources.limits import Deadline, current_limits
from openscore.yamlconfig import load_yaml_model

EXTRACTOR = "venues@1.0"
FIELDS = "title,venue,publicationVenue,publicationTypes,externalIds,year"
#: answers asked for one paper while Semantic Scholar says 429
MAX_TRIES = 3
#: longest Retry-After honoured; a longer one ends the retries (the paper is "not checked")
MAX_WAIT_S = 30.0
#: wait before a retry when a 429 gives no usable Retry-After (doubled each time)
DEFAULT_WAIT_S = 1.0
#: papers asked about per audit
MAX_PAPERS = 8
PEER_REVIEWED_VENUES = ("conference", "journal")
PEER_REVIEWED_TYPES = ("Conference", "JournalArticle")

_Text = Annotated[str, Field(max_length=1000)]


class _Venue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: _Text | None = None
    type: _Text | None = None


class _Paper(BaseModel):
    """The fields of a Graph API paper openscore reads; the rest of the answer is ignored."""

    model_config = ConfigDict(extra="ignore")
    paperId: _Text | None = None  # noqa: N815 (the API's names)
    title: _Text | None = None
    venue: _Text | None = None
    year: int | None = None
    publicationVenue: _Venue | None = None  # noqa: N815
    publicationTypes: list[_Text] | None = Field(None, max_length=50)  # noqa: N815
    externalIds: dict[_Text, _Text | int | None] | None = Field(None, max_length=50)  # noqa: N815


class _PreprintServers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preprint_servers: list[Annotated[str, Field(min_length=2)]]


@lru_cache(maxsize=1)
def _servers() -> re.Pattern[str]:
    table, _ = load_yaml_model(_PreprintServers, package_data("preprint_servers.yaml"))
    names = sorted({n.strip() for n in table.preprint_servers}, key=lambda n: (-len(n), n))
    return re.compile(r"\s*(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.I)


def peer_reviewed(paper: _Paper) -> bool:
    venue = paper.publicationVenue
    name = (venue.name if venue is not None and venue.name else paper.venue or "").strip()
    if not name or _servers().match(name) or _servers().match(paper.venue or ""):
        return False
    if venue is not None and venue.type:
        return venue.type.lower() in PEER_REVIEWED_VENUES
    return bool(set(paper.publicationTypes or ()) & set(PEER_REVIEWED_TYPES))


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait: Retry-After as seconds or an HTTP date, else DEFAULT_WAIT_S doubled per attempt."""
    if value and value.strip().isdigit():
        return float(value.strip())
    when = None
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
    if when is not None and when.tzinfo is not None:
        return max(0.0, when.timestamp() - time.time())
    return DEFAULT_WAIT_S * 2 ** (attempt - 1)


def paper_url(paper_id: str, cfg: LinkedConfig) -> str:
    return f"{cfg.s2_api.rstrip('/')}/paper/{urllib.parse.quote(paper_id, safe=':/')}"


def semantic_scholar(paper_id: str, cfg: LinkedConfig) -> dict:
    """{exists, title, venue, venue_type, year, doi, peer_reviewed} of `arXiv:<id>` or `DOI:<doi>`."""
    if cfg.s2_limited:
        raise LinkedError(cfg.s2_limited)
    scheme, _, ident = paper_id.partition(":")
    if scheme not in ("arXiv", "DOI") or not ident or {"", ".", ".."} & set(ident.split("/")):
        raise LinkedError("not an arXiv id or a DOI")
    headers = {"x-api-key": cfg.s2_key} if cfg.s2_key else {}
    url = f"{paper_url(paper_id, cfg)}?fields={FIELDS}"

    def compute() -> dict:
        deadline = Deadline(current_limits().file_deadline, "per-file")
        for attempt in range(1, MAX_TRIES + 1):
            status, got, body = fetch_linked(url, cfg, headers, deadline=deadline)
            if status != 429:
                break
            wait = _retry_after(got.get("retry-after"), attempt)
            if attempt == MAX_TRIES or wait > min(MAX_WAIT_S, deadline.remaining()):
                cfg.s2_limited = "Semantic Scholar rate limit reached (HTTP 429)" + (
                    "" if cfg.s2_key else "; set S2_API_KEY for more")
                raise LinkedError(cfg.s2_limited)
            time.sleep(wait)
        if status == 404:
            return {"exists": False}
        if status != 200:
            raise LinkedError(f"Semantic Scholar answered HTTP {status}")
        try:
            paper = _Paper.model_validate(parse_json(body, "Semantic Scholar paper"))
        except ValidationError:
            raise LinkedError("Semantic Scholar paper: not a paper object") from None
        venue = paper.publicationVenue
        doi = (paper.externalIds or {}).get("DOI")
        return {"exists": True, "title": " ".join((paper.title or "").split())[:300] or None,
                "venue": " ".join((venue.name if venue and venue.name else paper.venue or "").split())[:300] or None,
                "venue_type": venue.type[:40] if venue and venue.type else None, "year": paper.year,
                "doi": doi[:200] if isinstance(doi, str) else None, "peer_reviewed": peer_reviewed(paper)}
    return cached(cfg, f"s2:{paper_id.lower()}", compute)


def _targets(links: CollectorOutput) -> dict[str, Observation]:
    """Semantic Scholar id -> the card's link: the arXiv preprints the card gives as its own paper, and the
    DOIs it links in its own sections, in card order."""
    out: dict[str, Observation] = {}
    for obs in links.observations:
        target = obs.value.get("target", "") if isinstance(obs.value, dict) else ""
        if obs.kind == "link.preprint" and own_paper(obs):
            out.setdefault("arXiv:" + target[len("arxiv:"):], obs)
        elif obs.kind == "link.paper" and target.startswith("doi:") and is_own_link(obs):
            out.setdefault("DOI:" + target[len("doi:"):], obs)
    return out


def collect_venues(ctx: CollectContext, links: CollectorOutput, cfg: LinkedConfig) -> CollectorOutput:
    """`linked.venue` observations: the venue Semantic Scholar lists for each paper the card cites as its own."""
    out = CollectorOutput(extractor=EXTRACTOR)
    out.searched.append("Semantic Scholar's venue for the arXiv preprints the card gives as its paper and the DOIs "
                        f"it links (at most {MAX_PAPERS})")
    for paper_id, obs in list(_targets(links).items())[:MAX_PAPERS]:
        try:
            facts = semantic_scholar(paper_id, cfg)
        except LinkedError as exc:
            out.not_checked.append(f"{paper_id}: {exc}")
            continue
        if not facts.get("exists"):
            summary = "not found"
        else:
            summary = f"{facts.get('title')!r}, " + (
                f"published in {facts['venue']} ({facts.get('venue_type') or 'venue'}, {facts.get('year')})"
                if facts.get("peer_reviewed") else f"no peer-reviewed venue (venue: {facts.get('venue') or 'none'})")
        out.observations.append(Observation(
            kind="linked.venue", value={"target": paper_id, "link": obs.value["target"], **facts},
            evidence=ctx.cite(rule="collect/linked/venue", extractor=EXTRACTOR, url=paper_url(paper_id, cfg),
                              snippet=f"Semantic Scholar {paper_id} (fetched {facts['fetched']}): {summary}"),
        ))
    return out
