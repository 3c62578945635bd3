"""Evidence from what the card links outside the repository: GitHub repositories, arXiv preprints,
papers by DOI. Optional (`--linked`), cached on disk with the date fetched, cited with the URL.

Each source is read through one bounded GET (sources.fetch) from an endpoint an environment variable may move
(tests point them at loopback fakes): OPENSCORE_GITHUB_API (https://api.github.com),
OPENSCORE_ARXIV_API (https://export.arxiv.org/api/query), OPENSCORE_CROSSREF_API
(https://api.crossref.org). GITHUB_TOKEN is sent to GitHub; a rate-limited answer stops GitHub
queries for the rest of the audit. Every answer is bounded in time and bytes, and is untrusted: only
the fields read here are kept. A cached answer is reused, keeping its fetch date, so a rerun gives the
same report. `--offline` or HF_HUB_OFFLINE keeps the audit to the repository alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from openscore.atomic import write_text
from openscore.errors import OpenscoreError
from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation
from openscore.safeio import read_bounded
from openscore.sources.fetch import bounded_get
from openscore.sources.limits import Deadline, current_limits

EXTRACTOR = "linked@1.0"
TIMEOUT_S = 10.0
MAX_BYTES = 2_000_000
#: a cached answer holds facts drawn from at most MAX_BYTES of answer
MAX_CACHE_ENTRY_BYTES = 4 * MAX_BYTES
#: most links of each kind followed per audit (a card linking dozens of repositories is not crawled)
MAX_LINKS = 8
#: files in a code repository that show training / evaluation / data-preparation code
TRAINING = re.compile(r"(?:^|/)(?:train|pretrain|finetune|fine_tune|sft|dpo|rlhf)[\w-]*\.(?:py|sh)$"
                      r"|(?:^|/)(?:configs?|recipes?|scripts)/(?:[^/]+/)*[^/]*(?:train|pretrain|sft)[^/]*\.(?:ya?ml|json|py|sh)$",
                      re.I)
EVALUATION = re.compile(r"(?:^|/)[\w-]*(?:eval|evaluate|evaluation|benchmark)[\w-]*(?:\.(?:py|sh)|/)", re.I)
DATA_CODE = re.compile(r"(?:^|/)(?:prepare|preprocess|process|tokeni[sz]e|dedup|filter|clean)[\w-]*\.(?:py|sh)$", re.I)
_DATA_REPO = re.compile(r"data[-_]?(?:prep|processing|pipeline)|dataset[-_]?(?:prep|tools)|^dolma$", re.I)
DOCS = re.compile(r"^(?:docs?|documentation)/", re.I)
_ATOM = {"a": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}
#: Crossref work types that are peer-reviewed publications
PEER_REVIEWED = ("journal-article", "proceedings-article", "book-chapter")


class LinkedError(Exception):
    """A linked source could not be read (unreachable, refused, malformed, rate limited)."""


@dataclass
class LinkedConfig:
    github_api: str = field(default_factory=lambda: os.environ.get("OPENSCORE_GITHUB_API", "https://api.github.com"))
    arxiv_api: str = field(default_factory=lambda: os.environ.get("OPENSCORE_ARXIV_API",
                                                                  "https://export.arxiv.org/api/query"))
    crossref_api: str = field(default_factory=lambda: os.environ.get("OPENSCORE_CROSSREF_API", "https://api.crossref.org"))
    #: Semantic Scholar's Graph API (openscore.evidence.venues), its key from S2_API_KEY (sent as x-api-key)
    s2_api: str = field(default_factory=lambda: os.environ.get("OPENSCORE_S2_API",
                                                               "https://api.semanticscholar.org/graph/v1"))
    s2_key: str | None = field(default_factory=lambda: os.environ.get("S2_API_KEY") or None)
    #: Hub endpoint for the dataset cards a local folder's card names
    hub_endpoint: str = field(default_factory=lambda: os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    github_token: str | None = field(default_factory=lambda: os.environ.get("GITHUB_TOKEN") or None)
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get(
        "OPENSCORE_CACHE", Path.home() / ".cache" / "openscore")) / "linked")
    timeout_s: float = TIMEOUT_S
    max_bytes: int = MAX_BYTES
    today: str = field(default_factory=lambda: dt.date.today().isoformat())
    github_limited: str | None = None  # set once GitHub says the rate limit is spent
    s2_limited: str | None = None  # likewise Semantic Scholar, once its 429s outlast the retries


def offline() -> bool:
    """HF_HUB_OFFLINE keeps every audit to its repository, linked sources included."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def fetch_linked(url: str, cfg: LinkedConfig, headers: dict[str, str] | None = None,
           deadline: Deadline | None = None) -> tuple[int, dict[str, str], bytes]:
    """One bounded GET (sources.fetch): `cfg.timeout_s` between bytes, `--file-deadline` in all (or the
    `deadline` given, shared by the retries of one answer)."""
    deadline = deadline or Deadline(current_limits().file_deadline, "per-file")
    try:
        status, got, body = bounded_get(url, deadline=deadline, timeout=cfg.timeout_s, max_bytes=cfg.max_bytes,
                                        headers={"User-Agent": "openscore", **(headers or {})})
    except OpenscoreError as exc:
        raise LinkedError(f"unreachable ({type(exc).__name__})") from None
    if len(body) > cfg.max_bytes:
        raise LinkedError(f"answer over {cfg.max_bytes} bytes")
    return status, got, body


def cached(cfg: LinkedConfig, key: str, compute) -> dict:
    """The facts for `key` from the cache, else computed now and stored with today's date."""
    path = cfg.cache_dir / (hashlib.sha256(key.encode()).hexdigest() + ".json")
    try:
        entry = json.loads(read_bounded(path, MAX_CACHE_ENTRY_BYTES, what="cache entry"))
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("facts"), dict):
            return {**entry["facts"], "fetched": str(entry.get("fetched"))}
    except (OpenscoreError, ValueError, RecursionError):
        pass  # absent, not a regular file, too large or not JSON: fetched again
    facts = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"key": key, "fetched": cfg.today, "facts": facts}, sort_keys=True),
               under=cfg.cache_dir)
    return {**facts, "fetched": cfg.today}


def parse_json(body: bytes, what: str):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LinkedError(f"{what}: not JSON") from None


def github(repo: str, cfg: LinkedConfig) -> dict:
    """{exists, licence, default_branch, training_code, eval_code, data_code, documented, example} of owner/name."""
    if cfg.github_limited:
        raise LinkedError(cfg.github_limited)
    owner, _, name = repo.partition("/")
    if {owner, name} & {"", ".", ".."}:
        raise LinkedError("not a repository name")
    headers = {"Accept": "application/vnd.github+json"}
    if cfg.github_token:
        headers["Authorization"] = f"Bearer {cfg.github_token}"
    base = cfg.github_api.rstrip("/") + f"/repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}"

    def get(url: str):
        status, got, body = fetch_linked(url, cfg, headers)
        if status in (403, 429) and (got.get("x-ratelimit-remaining") == "0" or "retry-after" in got):
            cfg.github_limited = f"GitHub rate limit reached (HTTP {status}); set GITHUB_TOKEN for more"
            raise LinkedError(cfg.github_limited)
        return status, body

    def compute() -> dict:
        status, body = get(base)
        if status == 404:
            return {"exists": False}
        if status != 200:
            raise LinkedError(f"GitHub answered HTTP {status}")
        info = parse_json(body, "GitHub repository")
        if not isinstance(info, dict):
            raise LinkedError("GitHub repository: not an object")
        branch = info.get("default_branch") if isinstance(info.get("default_branch"), str) else "main"
        licence = info.get("license") if isinstance(info.get("license"), dict) else {}
        spdx = licence.get("spdx_id") if isinstance(licence.get("spdx_id"), str) else None
        status, body = get(f"{base}/git/trees/{urllib.parse.quote(branch)}?recursive=1")
        tree = parse_json(body, "GitHub tree").get("tree") if status == 200 else None
        paths = sorted(str(t.get("path")) for t in tree if isinstance(t, dict) and isinstance(t.get("path"), str)) \
            if isinstance(tree, list) else []
        training = [p for p in paths if TRAINING.search(p)]
        code = [p for p in paths if p.endswith((".py", ".sh"))]
        return {"exists": True, "licence": None if spdx in (None, "NOASSERTION") else spdx, "default_branch": branch,
                "training_code": bool(training), "eval_code": any(EVALUATION.search(p) for p in paths),
                # a repository named for data preparation ("amber-data-prep") holds data code by its purpose
                "data_code": any(DATA_CODE.search(p) for p in paths) or bool(code and _DATA_REPO.search(name)),
                "documented": any(p.lower() == "readme.md" for p in paths) and any(DOCS.match(p) for p in paths),
                "example": training[0] if training else None, "files": len(paths)}
    return cached(cfg, f"github:{repo.lower()}", compute)


def arxiv(arxiv_id: str, cfg: LinkedConfig) -> dict:
    """{title, published, journal_ref, doi, peer_reviewed} of an arXiv id (the Atom API)."""
    def compute() -> dict:
        status, _, body = fetch_linked(f"{cfg.arxiv_api}?id_list={urllib.parse.quote(arxiv_id)}", cfg)
        if status != 200:
            raise LinkedError(f"arXiv answered HTTP {status}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise LinkedError("arXiv: not an Atom feed") from None
        entry = root.find("a:entry", _ATOM)
        title = entry.findtext("a:title", default="", namespaces=_ATOM) if entry is not None else ""
        if entry is None or not title.strip():
            return {"exists": False}
        journal = (entry.findtext("arxiv:journal_ref", default="", namespaces=_ATOM) or "").strip() or None
        doi = (entry.findtext("arxiv:doi", default="", namespaces=_ATOM) or "").strip() or None
        return {"exists": True, "title": " ".join(title.split())[:300],
                "published": (entry.findtext("a:published", default="", namespaces=_ATOM) or "")[:10] or None,
                "journal_ref": journal[:300] if journal else None, "doi": doi[:200] if doi else None,
                "peer_reviewed": bool(journal or doi)}
    return cached(cfg, f"arxiv:{arxiv_id}", compute)


def crossref(doi: str, cfg: LinkedConfig) -> dict:
    """{title, venue, type, published, peer_reviewed} of a DOI (the Crossref works API)."""
    if {".", ".."} & set(doi.split("/")):
        raise LinkedError("not a DOI")

    def compute() -> dict:
        status, _, body = fetch_linked(f"{cfg.crossref_api.rstrip('/')}/works/{urllib.parse.quote(doi, safe='/')}", cfg)
        if status == 404:
            return {"exists": False}
        if status != 200:
            raise LinkedError(f"Crossref answered HTTP {status}")
        message = parse_json(body, "Crossref work")
        message = message.get("message") if isinstance(message, dict) else None
        if not isinstance(message, dict):
            raise LinkedError("Crossref work: no message")

        def first(key: str) -> str | None:
            value = message.get(key)
            value = value[0] if isinstance(value, list) and value else value
            return " ".join(value.split())[:300] if isinstance(value, str) else None
        kind = message.get("type") if isinstance(message.get("type"), str) else None
        parts = (message.get("published") or {}).get("date-parts") if isinstance(message.get("published"), dict) else None
        year = parts[0][0] if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0] else None
        return {"exists": True, "title": first("title"), "venue": first("container-title"), "type": kind,
                "published": str(year) if isinstance(year, int) else None, "peer_reviewed": kind in PEER_REVIEWED}
    return cached(cfg, f"doi:{doi.lower()}", compute)


def is_own_link(obs: Observation) -> bool:
    """Links where the card speaks of the model itself (not benchmark tables or others' work)."""
    from openscore.openness.checks import OWN_SECTIONS

    return not obs.value.get("table") and obs.value.get("section") in OWN_SECTIONS


def own_paper(obs: Observation) -> bool:
    """A preprint link the card gives as its own paper: in its citation, or called a paper, preprint or
    report next to the link ("features such as [ALiBi](arxiv...)" cites others')."""
    return is_own_link(obs) and (obs.value.get("section") == "citation" or bool(obs.value.get("called_paper")))


def collect_linked(ctx: CollectContext, links: CollectorOutput, cfg: LinkedConfig) -> CollectorOutput:
    """`linked.code` / `linked.preprint` / `linked.paper` observations for the card's own links."""
    out = CollectorOutput(extractor=EXTRACTOR)
    out.searched.append("GitHub repositories, arXiv preprints and DOI papers the card links (at most "
                        f"{MAX_LINKS} of each)")
    readers = {"code": (github, lambda t: t.split("/", 1)[1]), "preprint": (arxiv, lambda t: t[len("arxiv:"):]),
               "paper": (crossref, lambda t: t[len("doi:"):])}
    for kind, (read, ident) in readers.items():
        targets: dict[str, Observation] = {}
        for obs in links.observations:
            if obs.kind == f"link.{kind}" and is_own_link(obs) and obs.value["target"] not in targets:
                if kind == "code" and not obs.value["target"].startswith("github.com/"):
                    continue
                if kind == "paper" and not obs.value["target"].startswith("doi:"):
                    continue
                targets[obs.value["target"]] = obs
        for target, obs in list(targets.items())[:MAX_LINKS]:
            try:
                facts = read(ident(target), cfg)
            except LinkedError as exc:
                out.not_checked.append(f"{target}: {exc}")
                continue
            out.observations.append(Observation(
                kind=f"linked.{kind}", value={"target": target, **facts},
                evidence=ctx.cite(rule=f"collect/linked/{kind}", extractor=EXTRACTOR, url=obs.evidence.url,
                                  snippet=f"{target} (fetched {facts['fetched']}): " + _summary(kind, facts)),
            ))
    return out


def _summary(kind: str, facts: dict) -> str:
    if not facts.get("exists"):
        return "not found"
    if kind == "code":
        return (f"licence {facts.get('licence') or 'none'}, default branch {facts.get('default_branch')}, "
                + (f"training code ({facts['example']})" if facts.get("training_code") else "no training code found"))
    if kind == "preprint":
        return f"{facts.get('title')!r}, {facts.get('published')}" + (
            f", published as {facts.get('journal_ref') or facts.get('doi')}" if facts.get("peer_reviewed") else "")
    return f"{facts.get('title')!r}, {facts.get('type')} in {facts.get('venue')}"
