"""A Hugging Face Hub repository, read through `huggingface_hub`'s HTTP session and pinned to one commit.

Budget: one model-info call (`blobs=true`) gives every file's size and LFS sha256; the resolved commit
sha is used for every later read, so a branch moving mid-audit changes nothing. Weight headers are read
with HTTP Range requests, small files (card, config, licences, small pickles to scan) with one GET.

Every request goes through `_transfer`: the connect/read timeout, the per-file and per-audit deadlines
(a Watchdog ends a request whose headers or body trickle past them) and the minimum rate of `Limits`,
a byte cap (JSON answers, whole files, ranges), and the status and Content-Range checks. The client
library's own calls (`model_info`, `hf_hub_download`, `list_models`) are not used because they wait for
ever and read any body whole. Every answer is validated (hub_answers) before use;
every Hub or network failure becomes one typed openscore error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from huggingface_hub import constants, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, parse_ratelimit_headers

from openscore.errors import (
    DeadlineExceeded,
    EntryNotFound,
    GatedRepo,
    HubServerError,
    InvalidCheckpoint,
    InvalidHubResponse,
    NetworkUnavailable,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
    SourceError,
    UsageError,
)
from openscore.formats.records import PickleScan
from openscore.sources import hub_answers
from openscore.sources.base import Inventory, Source, SourceRef, cached_property
from openscore.sources.limits import Deadline, Limits, Transfer, Watchdog, current_limits

T = TypeVar("T")

#: the HTTP client's own error base (httpx2 in huggingface_hub 2.x, httpx in 1.x): transport failures
TRANSPORT_ERROR = next(
    b for b in HfHubHTTPError.__mro__ if b.__name__ == "HTTPError" and not b.__module__.startswith("huggingface_hub")
)
HTTPX = __import__(TRANSPORT_ERROR.__module__.split(".")[0])
TIMEOUT_ERROR = HTTPX.TimeoutException
_TRUE = {"1", "ON", "YES", "TRUE"}
#: rate limiting and transient server failures: worth another try
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: a server that ignores Range sends the file from byte 0: skipping this much to reach an offset is tolerable
MAX_SKIP_BYTES = 8 << 20
#: an error answer's body is read up to this much (for its message), never more
MAX_ERROR_BODY = 64 * 1024
#: pages of a paginated listing followed at most
MAX_PAGES = 100
#: models asked for per page of a model listing (the Hub's own page size)
LIST_PAGE = 1000
#: models one `--org`/`--search` listing may name without `--limit`
MAX_LISTED = 10_000
#: one page of a model listing (the Hub's 1,000 models take about 0.5 MB): parsed JSON stays small
MAX_LIST_PAGE_BYTES = 16 << 20
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying after HTTP 429 or 5xx; waits follow the Hub's RateLimit reset, capped."""

    tries: int = 3
    base_wait: float = 1.0  # when the response carries no RateLimit header (doubles each try)
    max_wait: float = 30.0  # cap on one wait, whatever the server asks

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridable with OPENSCORE_HUB_TRIES / OPENSCORE_HUB_MAX_WAIT (seconds)."""
        return cls(
            tries=max(1, int(os.environ.get("OPENSCORE_HUB_TRIES", cls.tries))),
            max_wait=float(os.environ.get("OPENSCORE_HUB_MAX_WAIT", cls.max_wait)),
        )


def offline_mode() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it only once, at import)."""
    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE


class HubClient:
    """Bounded, validated requests to a Hub endpoint (or any server speaking the Hub API), all within one
    deadline from when the client is made; `label` starts every error message."""

    revision: str | None = None

    def __init__(self, label: str, *, endpoint: str | None = None, token: str | bool | None = None,
                 retry: RetryPolicy | None = None, limits: Limits | None = None, limiter=None):
        self.label = label
        self.limiter = limiter  # shared pacing per endpoint (openscore.batch.ratelimit); None: retries sleep alone
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self.token = token
        self.retry = retry or RetryPolicy.from_env()
        self.limits = limits or current_limits()
        self.deadline = Deadline(self.limits.deadline, "per-audit")
        self.bytes_transferred = 0  # body bytes received by read_range

    @property
    def _name(self) -> str:
        return self.label

    # -- error handling -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate huggingface_hub and transport exceptions into one-line openscore errors."""
        name = self._name
        try:
            yield
        except GatedRepoError:
            raise GatedRepo(f"{name}: gated repository: request access on the Hub and pass a token ({what})") from None
        except RepositoryNotFoundError:
            raise RepoNotFound(f"{name}: repository not found on {self.endpoint} (or private, without a token)") \
                from None
        except RevisionNotFoundError:
            raise RevisionNotFound(f"{name}: revision {self.revision!r} not found") from None
        except EntryNotFoundError:
            raise EntryNotFound(f"{name}: {what}: no such file in the repository") from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 429:
                raise RateLimited(f"{name}: {what}: rate limited by {self.endpoint} ({_first_line(exc)})") from None
            if status is not None and status >= 500:
                raise HubServerError(f"{name}: {what}: HTTP {status} from {self.endpoint} after "
                                     f"{self.retry.tries} tries: {_first_line(exc)}") from None
            raise SourceError(f"{name}: {what}: HTTP {status} from {self.endpoint}: {_first_line(exc)}") from None
        except TIMEOUT_ERROR as exc:
            raise DeadlineExceeded(f"{name}: {what}: no answer from {self.endpoint} within the timeout "
                                   f"({type(exc).__name__})") from None
        except (ConnectionError, TRANSPORT_ERROR) as exc:  # OfflineModeIsEnabled is a ConnectionError
            raise NetworkUnavailable(f"{name}: {what}: cannot reach {self.endpoint} ({_first_line(exc)})") from None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one Hub call with the errors translated; 429 and 5xx are retried per the RetryPolicy."""
        if offline_mode():
            raise NetworkUnavailable(f"{self.label}: {what}: offline mode (HF_HUB_OFFLINE) is set")
        wait = self.retry.base_wait
        for attempt in range(1, self.retry.tries + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            with self._errors(what):
                try:
                    return fn()
                except HfHubHTTPError as exc:
                    response = exc.response
                    if response is None or response.status_code not in RETRY_STATUSES or attempt == self.retry.tries:
                        raise
                    delay = retry_delay(response.headers, wait)
            delay = min(delay, self.retry.max_wait)
            if delay > self.deadline.remaining():
                raise DeadlineExceeded(f"{self._name}: {what}: the Hub asks to wait {delay:g} s, past the "
                                       f"per-audit deadline of {self.deadline.seconds:g} s")
            if self.limiter is not None:
                self.limiter.pause(delay)  # every request to the endpoint waits
            else:
                time.sleep(delay)
            wait *= 2
        raise AssertionError("unreachable")  # the last attempt returns or raises

    # -- the one way a request is made ----------------------------------------------------------
    def _transfer(self, url: str, what: str, *, max_bytes: int, params: dict | None = None,
                  byte_range: tuple[int, int, int] | None = None, sink: Callable[[bytes], None] | None = None,
                  links: list[str] | None = None) -> bytes:
        """GET `url`, bounded in time (Limits) and in bytes; the body (or what was passed to `sink`).

        With `byte_range` (start, length, file size) the answer must be a 206 whose Content-Range is that range, or
        a 200 (Range ignored) whose body is skipped to `start`; reading stops after `length` bytes
        either way. Without it, a body over `max_bytes` is refused."""
        headers = build_hf_headers(token=self.token)
        if byte_range is not None:
            start, length, _ = byte_range
            headers["Range"] = f"bytes={start}-{start + length - 1}"
        headers["Connection"] = "close"  # a fresh connection per request: its Watchdog knows the socket
        clock = Transfer(self.limits, self.deadline, f"{self._name}: {what}")
        clock.check()
        timeout = HTTPX.Timeout(min(self.limits.timeout, clock.remaining()))
        watchdog = Watchdog(clock.remaining())
        try:
            with watchdog:
                return self._exchange(url, what, clock, timeout, watchdog, max_bytes=max_bytes, params=params,
                                      headers=headers, byte_range=byte_range, sink=sink, links=links)
        except TRANSPORT_ERROR:
            if not watchdog.fired:
                raise
            clock.check()  # names the deadline that passed
            raise DeadlineExceeded(f"{clock.doing}: over its deadline") from None

    def _exchange(self, url: str, what: str, clock: Transfer, timeout, watchdog: Watchdog, *, max_bytes: int,
                  params: dict | None, headers: dict, byte_range: tuple[int, int, int] | None,
                  sink: Callable[[bytes], None] | None, links: list[str] | None) -> bytes:
        with get_session().stream("GET", url, params=params, headers=headers, follow_redirects=True,
                                  timeout=timeout, extensions=watchdog.extensions) as response:
            status = response.status_code
            if status == 416:
                raise InvalidCheckpoint(f"{what}: the server has fewer bytes than the inventory says")
            if status >= 300:
                body = self._read(response, clock, MAX_ERROR_BODY, truncate=True)
                hf_raise_for_status(HTTPX.Response(status, headers=response.headers, content=body,
                                                   request=response.request))
                raise InvalidHubResponse(f"{self._name}: {what}: unexpected HTTP {status} from {self.endpoint}")
            if links is not None:
                links.extend(_NEXT_LINK.findall(response.headers.get("Link", "")))
            if byte_range is None:
                if status != 200:
                    raise InvalidHubResponse(f"{self._name}: {what}: HTTP {status} where 200 was expected")
                return self._read(response, clock, max_bytes, sink=sink)
            start, length, size = byte_range
            skip = 0
            if status == 206:
                self._check_content_range(response.headers.get("Content-Range"), start, length, size, what)
            elif status == 200:  # Range ignored: the body is the whole file
                skip = start
                if skip > MAX_SKIP_BYTES:
                    raise InvalidHubResponse(f"{what}: {self.endpoint} ignores Range requests; refusing to download "
                                      f"{start} bytes to reach offset {start}")
            else:
                raise InvalidHubResponse(f"{self._name}: {what}: HTTP {status} to a Range request")
            return self._read(response, clock, length, skip=skip, truncate=True)

    def _read(self, response, clock: Transfer, max_bytes: int, *, skip: int = 0, truncate: bool = False,
              sink: Callable[[bytes], None] | None = None) -> bytes:
        """Read the body chunk by chunk as it arrives; stop at `max_bytes` after skipping `skip`.

        `truncate`: stop reading there (a range, an error message); otherwise more is refused."""
        data = bytearray()
        kept = 0
        for chunk in response.iter_bytes():  # as the network delivers: a trickle is seen byte by byte
            self.bytes_transferred += len(chunk)
            clock.check(len(chunk))
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            if kept + len(chunk) > max_bytes:
                if not truncate:
                    raise InvalidHubResponse(f"{clock.doing}: the answer is larger than the "
                                             f"{max_bytes:,}-byte limit")
                chunk = chunk[: max_bytes - kept]
            kept += len(chunk)
            if sink is not None:
                sink(bytes(chunk))
            else:
                data += chunk
            if truncate and kept >= max_bytes:
                break
        return bytes(data)

    def _check_content_range(self, value: str | None, start: int, length: int, size: int, what: str) -> None:
        """A 206 must carry exactly the range asked for, of a file of the inventory's size."""
        m = _CONTENT_RANGE.match((value or "").strip())
        want = f"bytes {start}-{start + length - 1}"
        if m is None or int(m.group(1)) != start or int(m.group(2)) != start + length - 1:
            raise InvalidHubResponse(f"{self._name}: {what}: a 206 answer with Content-Range {value!r}, "
                                     f"not the range asked for ({want})")
        total = m.group(3)
        if total != "*" and int(total) != size:
            raise InvalidHubResponse(f"{self._name}: {what}: Content-Range says {total} bytes, the inventory {size}")

    def _json(self, url: str, what: str, *, params: dict | None = None, links: list[str] | None = None,
              max_bytes: int | None = None) -> object:
        cap = self.limits.max_json_bytes if max_bytes is None else min(max_bytes, self.limits.max_json_bytes)
        body = self._call(what, lambda: self._transfer(url, what, max_bytes=cap, params=params, links=links))
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InvalidHubResponse(f"{self._name}: {what}: the Hub's answer is not JSON "
                                     f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") \
                from None

    def _pages(self, url: str, what: str, params: dict | None = None, *, max_pages: int = MAX_PAGES,
               max_bytes: int | None = None) -> Iterator[object]:
        """The JSON of each page of a listing, following `Link: <...>; rel="next"` on this endpoint only, for
        at most `max_pages` pages (a listing with more is refused), each at most `max_bytes`."""
        for _ in range(max_pages):
            links: list[str] = []
            yield self._json(url, what, params=params, links=links, max_bytes=max_bytes)
            if not links:
                return
            if not links[0].startswith(self.endpoint + "/"):  # our token never goes to another host
                raise InvalidHubResponse(f"{self._name}: {what}: next page {links[0][:100]!r} is not on "
                                         f"{self.endpoint}")
            url, params = links[0], None  # the next page's URL carries its own query
        raise InvalidHubResponse(f"{self._name}: {what}: more than {max_pages} pages")

    def list_model_ids(self, *, author: str | None = None, search: str | None = None,
                       limit: int | None = None) -> list[str]:
        """Repo ids of the endpoint's model listing (`GET /api/models`), in its order: each a valid repo id,
        at most `limit`; without a limit, a listing of more than MAX_LISTED models is refused."""
        what = "list models"
        params = {k: v for k, v in (("author", author), ("search", search)) if v is not None}
        params["limit"] = str(min(limit or LIST_PAGE, LIST_PAGE))
        found: list[str] = []
        for doc in self._pages(f"{self.endpoint}/api/models", what, params, max_bytes=MAX_LIST_PAGE_BYTES):
            found += hub_answers.model_ids(doc, f"{self._name}: {what}")
            if limit is not None and len(found) >= limit:
                return found[:limit]
            if len(found) > MAX_LISTED:
                raise UsageError(f"{self._name}: more than {MAX_LISTED:,} models; narrow the listing or pass --limit")
        return found


class HubSource(HubClient, Source):
    """Files of `repo_id` at one commit of a Hub (or any server speaking the Hub API)."""

    def __init__(self, repo_id: str, *, revision: str | None = None, **client):
        self.repo_id = repo_id
        self.revision = revision
        super().__init__(f"{repo_id}@{revision}" if revision else repo_id, **client)

    # -- the pinned view ------------------------------------------------------------------------
    @cached_property
    def _answer(self) -> hub_answers.ModelAnswer:
        url = f"{self.endpoint}/api/models/{self.repo_id}"
        if self.revision is not None:
            url += f"/revision/{quote(self.revision, safe='')}"
        doc = self._json(url, "model info", params={"blobs": "true"})
        return hub_answers.model_answer(doc, f"{self._name}: model info")

    @cached_property
    def ref(self) -> SourceRef:  # type: ignore[override]
        answer = self._answer
        return SourceRef(kind="hub", repo_id=self.repo_id, revision=self.revision, sha=answer.sha,
                         location=self.endpoint, committed_at=answer.last_modified)

    @cached_property
    def _inventory(self) -> Inventory:
        answer = self._answer
        return Inventory(ref=self.ref, files=answer.files, refs=self._refs(), gated=answer.gated,
                         card_data=answer.card_data)

    def inventory(self) -> Inventory:
        return self._inventory

    def _refs(self) -> tuple[str, ...]:
        """Branches and tags other than `main` (intermediate checkpoints, releases); () if unavailable."""
        what = "list refs"
        try:
            names = hub_answers.ref_names(self._json(f"{self.endpoint}/api/models/{self.repo_id}/refs", what),
                                          f"{self._name}: {what}")
        except (SourceError, NetworkUnavailable):
            return ()  # best effort: some mirrors do not serve the refs endpoint
        return tuple(n for n in names if n != "main")

    def _entry(self, path: str):
        entry = self._inventory.get(path)
        if entry is None:
            raise EntryNotFound(f"{self.repo_id}@{self.ref.sha[:12]}: {path}: no such file in the repository")
        return entry

    # -- reads --------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=self.ref.sha, endpoint=self.endpoint)

    def read_range(self, path: str, start: int, length: int) -> bytes:
        entry = self._entry(path)
        if start < 0 or length < 0:
            raise ValueError(f"bad range {start}+{length}")
        if start + length > entry.size:
            raise InvalidCheckpoint(f"{path}: truncated: wanted bytes {start}..{start + length}, file has {entry.size}")
        if length == 0:
            return b""
        what = f"read {path}"
        data = self._call(what, lambda: self._transfer(self._url(path), what, max_bytes=length,
                                                       byte_range=(start, length, entry.size)))
        if len(data) < length:
            raise InvalidCheckpoint(f"{path}: truncated: got {len(data)} of {length} bytes at offset {start}")
        return data

    def _whole(self, path: str, max_bytes: int, sink: Callable[[bytes], None] | None = None) -> bytes:
        """A whole file of at most `max_bytes` (and exactly its inventory size)."""
        entry = self._entry(path)
        if entry.size > max_bytes:
            raise InvalidCheckpoint(f"{path}: {entry.size} bytes, over the {max_bytes}-byte limit for this read")
        what = f"download {path}"
        got = [0]

        def count(chunk: bytes) -> None:
            got[0] += len(chunk)
            if sink is not None:
                sink(chunk)

        data = self._call(what, lambda: self._transfer(self._url(path), what, max_bytes=entry.size,
                                                       sink=count if sink is not None else None))
        size = got[0] if sink is not None else len(data)
        if size != entry.size:
            raise InvalidHubResponse(f"{self._name}: {what}: {size} bytes received, the inventory says {entry.size}")
        return data

    @contextlib.contextmanager
    def fetch(self, path: str, max_bytes: int) -> Iterator[Path]:
        """The whole file in a temporary file, removed after the block (small pickles to scan)."""
        with tempfile.NamedTemporaryFile(prefix="openscore-", suffix=Path(path).suffix) as tmp:
            self._whole(path, max_bytes, sink=tmp.write)
            tmp.flush()
            yield Path(tmp.name)

    def read_text(self, path: str, max_bytes: int = 4_000_000) -> str | None:
        if self._inventory.get(path) is None:
            return None
        return self._whole(path, max_bytes).decode("utf-8", errors="replace")

    # -- datasets the card names ----------------------------------------------------------------
    def dataset_facts(self, dataset_id: str) -> dict:
        """{"licence", "gated", "card"} of a Hub dataset, read with the same bounds as the model."""
        what = f"dataset {dataset_id}"
        doc = self._json(f"{self.endpoint}/api/datasets/{quote(dataset_id, safe='/')}", what)
        return hub_answers.dataset_answer(doc, f"{self._name}: {what}")

    def dataset_card(self, dataset_id: str, max_bytes: int) -> tuple[str, str] | None:
        """(commit sha, text) of a Hub dataset's card (its README.md) at the commit the dataset info names,
        or None when it has none; a card over `max_bytes` is refused. Same bounds as the model's reads."""
        what = f"dataset {dataset_id}"
        doc = self._json(f"{self.endpoint}/api/datasets/{quote(dataset_id, safe='/')}", what, params={"blobs": "true"})
        answer = hub_answers.model_answer(doc, f"{self._name}: {what}")
        entry = next((f for f in answer.files if f.path == "README.md"), None)
        if entry is None:
            return None
        if entry.size > max_bytes:
            raise InvalidHubResponse(f"{self._name}: {what}: card of {entry.size} bytes, "
                                     f"over the {max_bytes}-byte limit")
        url = hf_hub_url(dataset_id, "README.md", repo_type="dataset", revision=answer.sha, endpoint=self.endpoint)
        data = self._call(f"{what} card", lambda: self._transfer(url, f"{what} card", max_bytes=max_bytes))
        return answer.sha, data.decode("utf-8", errors="replace")

    # -- the Hub's own pickle scan ------------------------------------------------------------
    @cached_property
    def _security(self) -> dict[str, PickleScan]:
        """path -> the Hub's pickle-import scan (from the expanded tree listing); {} when unavailable."""
        what = "list tree"
        url = f"{self.endpoint}/api/models/{self.repo_id}/tree/{self.ref.sha}"
        scans: dict[str, PickleScan] = {}
        try:
            for doc in self._pages(url, what, {"recursive": "true", "expand": "true"}):
                scans.update(hub_answers.tree_pickle_scans(doc, f"{self._name}: {what}"))
        except SourceError:
            return {}
        return scans

    def hub_pickle_scan(self, path: str) -> PickleScan | None:
        """The Hub's scan of a pickle file as a PickleScan, or None when the Hub reports none."""
        return self._security.get(path)


def retry_delay(headers, default: float) -> float:
    """Seconds the server asks us to wait: `Retry-After` (seconds or an HTTP date), else the reset of
    the Hub's `RateLimit` header, else `default`."""
    value = next((str(v).strip() for k, v in headers.items() if k.lower() == "retry-after"), "")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            with contextlib.suppress(TypeError, ValueError, IndexError):
                when = parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - time.time())
    info = parse_ratelimit_headers(headers)
    return float(info.reset_in_seconds) if info is not None else default


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
