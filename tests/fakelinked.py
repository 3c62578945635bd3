"""Loopback fakes of the linked sources openscore.evidence.linked reads, speaking their real protocols:

  GET /github/repos/{owner}/{name}                        GitHub REST repository (404 when unknown)
  GET /github/repos/{owner}/{name}/git/trees/{branch}     GitHub REST tree (?recursive=1)
  GET /arxiv?id_list={id}                                 arXiv Atom API (an empty feed when unknown)
  GET /crossref/works/{doi}                               Crossref works API (404 when unknown)
  GET /s2/paper/{arXiv:id | DOI:doi}?fields=...           Semantic Scholar Graph API paper (404 when unknown)

`environ()` gives the OPENSCORE_*_API variables that point openscore at it. Requests are recorded
(path, Authorization header) so tests can see tokens and caching; `rate_limit_github()` answers
GitHub with 403 and `X-RateLimit-Remaining: 0`, as GitHub does when the hourly limit is spent;
`malformed = True` answers every request with a body no protocol accepts; `s2_429 = n` answers the next n
Semantic Scholar requests 429 with `Retry-After: s2_retry_after` (unset when None), as its rate limiter does.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape


class FakeLinked:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # "owner/name" -> {"licence", "branch", "paths"}
        self.papers: dict[str, dict] = {}  # arXiv id -> {"title", "published", "journal_ref", "doi"}
        self.works: dict[str, dict] = {}  # doi -> {"title", "venue", "type", "year"}
        self.s2: dict[str, dict] = {}  # "arxiv:<id>" / "doi:<doi>" (lower case) -> the paper answered
        self.requests: list[tuple[str, str | None]] = []
        self.s2_keys: list[str | None] = []  # the x-api-key header of each Semantic Scholar request
        self.s2_429 = 0
        self.s2_retry_after: str | None = "0"
        self.github_limited = False
        self.malformed = False  # answer every request 200 with a body no protocol accepts
        self.unknown_status = 404  # what an unknown repository / DOI gets (503: "not recorded", not "absent")
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                fake.requests.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/s2/"):
                    fake.s2_keys.append(self.headers.get("x-api-key"))
                status, body, ctype, headers = fake.answer(self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def environ(self) -> dict[str, str]:
        return {"OPENSCORE_GITHUB_API": f"{self.url}/github", "OPENSCORE_ARXIV_API": f"{self.url}/arxiv",
                "OPENSCORE_CROSSREF_API": f"{self.url}/crossref", "OPENSCORE_S2_API": f"{self.url}/s2"}

    def add_repo(self, repo: str, *, licence: str | None = "Apache-2.0", branch: str = "main",
                 paths: tuple[str, ...] = ("README.md",)) -> None:
        self.repos[repo.lower()] = {"full_name": repo, "licence": licence, "branch": branch, "paths": list(paths)}

    def add_arxiv(self, arxiv_id: str, title: str, published: str, *, journal_ref: str | None = None,
                  doi: str | None = None) -> None:
        self.papers[arxiv_id] = {"title": title, "published": published, "journal_ref": journal_ref, "doi": doi}

    def add_work(self, doi: str, title: str, venue: str, kind: str = "proceedings-article", year: int = 2023) -> None:
        self.works[doi.lower()] = {"title": title, "venue": venue, "type": kind, "year": year}

    def add_s2_paper(self, ids: list[str], title: str, venue: str | None = None, venue_type: str | None = None,
                     *, year: int | None = None, types: list[str] | None = None, doi: str | None = None) -> None:
        """A paper Semantic Scholar knows under each of `ids` ("arXiv:2211.01786", "DOI:10..."); no `venue`:
        answered as Semantic Scholar answers a paper no venue published (venue "", publicationVenue null)."""
        arxiv = [i.split(":", 1)[1] for i in ids if i.lower().startswith("arxiv:")]
        external = {**({"ArXiv": arxiv[0]} if arxiv else {}), **({"DOI": doi} if doi else {}), "CorpusId": 1}
        paper = {"paperId": hashlib.sha1(title.encode()).hexdigest(), "externalIds": external, "title": title,
                 "venue": venue or "", "year": year, "publicationTypes": types,
                 "publicationVenue": {"id": f"venue-{venue}", "name": venue, "type": venue_type,
                                      "alternate_names": []} if venue else None}
        for i in ids:
            self.s2[i.lower()] = paper

    def s2_calls(self) -> int:
        return sum(1 for path, _ in self.requests if path.startswith("/s2/"))

    def rate_limit_github(self) -> None:
        self.github_limited = True

    def github_calls(self) -> int:
        return sum(1 for path, _ in self.requests if path.startswith("/github/"))

    # -- answers --------------------------------------------------------------------------------
    def answer(self, raw: str) -> tuple[int, str, str, dict[str, str]]:
        if self.malformed:
            return 200, "<<<{not json, not xml", "application/json", {}
        url = urlsplit(raw)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts[:2] == ["github", "repos"] and len(parts) >= 4:
            if self.github_limited:
                return 403, json.dumps({"message": "API rate limit exceeded"}), "application/json", {
                    "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}
            repo = self.repos.get(f"{parts[2]}/{parts[3]}".lower())
            if repo is None:
                return self.unknown_status, json.dumps({"message": "Not Found"}), "application/json", {}
            if len(parts) == 4:
                licence = {"key": repo["licence"].lower(), "spdx_id": repo["licence"]} if repo["licence"] else None
                return 200, json.dumps({"full_name": repo["full_name"], "default_branch": repo["branch"],
                                        "license": licence}), "application/json", {}
            if parts[4:6] == ["git", "trees"] and len(parts) == 7 and parts[6] == repo["branch"]:
                tree = [{"path": p, "type": "blob", "mode": "100644"} for p in repo["paths"]]
                return 200, json.dumps({"sha": "0" * 40, "tree": tree, "truncated": False}), "application/json", {}
            return 404, json.dumps({"message": "Not Found"}), "application/json", {}
        if parts == ["arxiv"]:
            paper = self.papers.get((query.get("id_list") or [""])[0])
            entries = ""
            if paper is not None:
                extra = "".join(f"<arxiv:{tag}>{escape(paper[key])}</arxiv:{tag}>"
                                for tag, key in (("journal_ref", "journal_ref"), ("doi", "doi")) if paper[key])
                entries = (f"<entry><title>{escape(paper['title'])}</title>"
                           f"<published>{paper['published']}T00:00:00Z</published>{extra}</entry>")
            return 200, ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
                         f'xmlns:arxiv="http://arxiv.org/schemas/atom">{entries}</feed>'), "application/atom+xml", {}
        if parts[:2] == ["crossref", "works"] and len(parts) >= 3:
            work = self.works.get("/".join(parts[2:]).lower())
            if work is None:
                return self.unknown_status, "Resource not found.", "text/plain", {}
            message = {"title": [work["title"]], "container-title": [work["venue"]], "type": work["type"],
                       "published": {"date-parts": [[work["year"]]]}}
            return 200, json.dumps({"status": "ok", "message": message}), "application/json", {}
        if parts[:2] == ["s2", "paper"] and len(parts) >= 3:
            if self.s2_429 > 0:
                self.s2_429 -= 1
                retry = {"Retry-After": self.s2_retry_after} if self.s2_retry_after is not None else {}
                return 429, json.dumps({"message": "Too Many Requests. Please wait and try again or apply for a key "
                                        "for higher rate limits."}), "application/json", retry
            paper = self.s2.get("/".join(parts[2:]).lower())
            if paper is None:
                error = {"error": f"Paper with id {'/'.join(parts[2:])} not found"}
                return self.unknown_status, json.dumps(error), "application/json", {}
            fields = (query.get("fields") or [""])[0].split(",")
            return 200, json.dumps({"paperId": paper["paperId"], **{k: paper[k] for k in fields if k in paper}}), \
                "application/json", {}
        return 404, "not found", "text/plain", {}
