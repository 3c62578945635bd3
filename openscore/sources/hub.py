"""A Hugging Face Hub repository, read through `huggingface_hub` and pinned to one commit.

Budget: one `model_info(files_metadata=True)` call gives every file's size and LFS sha256; the
resolved commit sha is used for every later read, so a branch moving mid-audit changes nothing.
Weight headers are read with HTTP Range requests, small text files through `hf_hub_download`
(cached by sha). Every Hub or network failure becomes one typed openscore error.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from huggingface_hub import HfApi, constants, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, parse_ratelimit_headers

from openscore.errors import (
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
)
from openscore.formats.records import PickleScan
from openscore.sources.base import FileEntry, Inventory, Source, SourceRef, cached_property

T = TypeVar("T")

#: the HTTP client's own error base (httpx2 in huggingface_hub 2.x, httpx in 1.x): transport failures
TRANSPORT_ERROR = next(
    b for b in HfHubHTTPError.__mro__ if b.__name__ == "HTTPError" and not b.__module__.startswith("huggingface_hub")
)
_TRUE = {"1", "ON", "YES", "TRUE"}
#: rate limiting and transient server failures: worth another try
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024
#: a server that ignores Range sends the file from byte 0: skipping this much to reach an offset is tolerable
MAX_SKIP_BYTES = 8 << 20


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


def hub_cache_dir() -> str:
    """The Hub cache as the environment says now (huggingface_hub fixes it at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


class HubSource(Source):
    """Files of `repo_id` at one commit of a Hub (or any server speaking the Hub API)."""

    def __init__(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        endpoint: str | None = None,
        token: str | bool | None = None,
        retry: RetryPolicy | None = None,
        limiter=None,
    ):
        self.repo_id = repo_id
        self.limiter = limiter  # shared pacing per endpoint (openscore.batch.ratelimit); None: retries sleep alone
        self.revision = revision
        self.api = HfApi(endpoint=endpoint, token=token)
        self.endpoint = self.api.endpoint.rstrip("/")
        self.token = token
        self.retry = retry or RetryPolicy.from_env()
        self.bytes_transferred = 0  # body bytes received by read_range

    # -- error handling -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate huggingface_hub and transport exceptions into one-line openscore errors."""
        name = f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id
        try:
            yield
        except GatedRepoError:
            raise GatedRepo(f"{name}: gated repository: request access on the Hub and pass a token ({what})") from None
        except RepositoryNotFoundError:
            raise RepoNotFound(f"{name}: repository not found on {self.endpoint} (or private, without a token)") \
                from None
        except RevisionNotFoundError:
            raise RevisionNotFound(f"{name}: revision {self.revision!r} not found") from None
        except LocalEntryNotFoundError:
            raise NetworkUnavailable(f"{name}: {what}: the Hub is unreachable and the file is not cached") from None
        except EntryNotFoundError:
            raise EntryNotFound(f"{name}: {what}: no such file in the repository") from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 429:
                raise RateLimited(f"{name}: {what}: rate limited by {self.endpoint} ({_first_line(exc)})") from None
            error = HubServerError if status is not None and status >= 500 else SourceError
            raise error(f"{name}: {what}: HTTP {status} from {self.endpoint}: {_first_line(exc)}") from None
        except (ConnectionError, TRANSPORT_ERROR) as exc:  # OfflineModeIsEnabled is a ConnectionError
            raise NetworkUnavailable(f"{name}: {what}: cannot reach {self.endpoint} ({_first_line(exc)})") from None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one Hub call with the errors translated; 429 and 5xx are retried per the RetryPolicy."""
        if offline_mode():
            raise NetworkUnavailable(f"{self.repo_id}: {what}: offline mode (HF_HUB_OFFLINE) is set")
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
            if self.limiter is not None:
                self.limiter.pause(min(delay, self.retry.max_wait))  # every request to the endpoint waits
            else:
                time.sleep(min(delay, self.retry.max_wait))
            wait *= 2
        raise AssertionError("unreachable")  # the last attempt returns or raises

    # -- the pinned view ------------------------------------------------------------------------
    @cached_property
    def _info(self):
        return self._call(
            "model info", lambda: self.api.model_info(self.repo_id, revision=self.revision, files_metadata=True)
        )

    @cached_property
    def ref(self) -> SourceRef:  # type: ignore[override]
        sha = self._info.sha
        if not sha:
            raise SourceError(f"{self.repo_id}: the Hub did not report a commit sha")
        modified = self._info.last_modified
        return SourceRef(kind="hub", repo_id=self.repo_id, revision=self.revision, sha=sha, location=self.endpoint,
                         committed_at=modified.isoformat() if modified is not None else None)

    @cached_property
    def _inventory(self) -> Inventory:
        info = self._info
        files = []
        for s in info.siblings or ():
            if s.lfs is not None:
                files.append(FileEntry(s.rfilename, s.lfs.size, s.lfs.sha256, lfs=True, blob_id=s.blob_id))
            else:
                files.append(FileEntry(s.rfilename, s.size or 0, None, lfs=False, blob_id=s.blob_id))
        card = info.card_data.to_dict() if info.card_data is not None else {}
        return Inventory(
            ref=self.ref,
            files=tuple(sorted(files, key=lambda f: f.path)),
            refs=self._refs(),
            gated=info.gated or False,
            card_data=card,
        )

    def inventory(self) -> Inventory:
        return self._inventory

    def _refs(self) -> tuple[str, ...]:
        """Branches and tags other than `main` (intermediate checkpoints, releases); () if unavailable."""
        try:
            refs = self._call("list refs", lambda: self.api.list_repo_refs(self.repo_id))
        except (SourceError, NetworkUnavailable):
            return ()  # best effort: some mirrors do not serve the refs endpoint
        return tuple(sorted({r.name for r in (*refs.branches, *refs.tags)} - {"main"}))

    def _entry(self, path: str) -> FileEntry:
        entry = self._inventory.get(path)
        if entry is None:
            raise EntryNotFound(f"{self.repo_id}@{self.ref.sha[:12]}: {path}: no such file in the repository")
        return entry

    # -- reads --------------------------------------------------------------------------------
    def read_range(self, path: str, start: int, length: int) -> bytes:
        entry = self._entry(path)
        if start < 0 or length < 0:
            raise ValueError(f"bad range {start}+{length}")
        if start + length > entry.size:
            raise InvalidCheckpoint(f"{path}: truncated: wanted bytes {start}..{start + length}, file has {entry.size}")
        if length == 0:
            return b""
        url = hf_hub_url(self.repo_id, path, revision=self.ref.sha, endpoint=self.endpoint)
        headers = {**build_hf_headers(token=self.token), "Range": f"bytes={start}-{start + length - 1}"}
        return self._call(f"read {path}", lambda: self._ranged_get(url, headers, path, start, length))

    def _ranged_get(self, url: str, headers: dict, path: str, start: int, length: int) -> bytes:
        """GET with a Range header, streamed: a server that ignores Range never sends us the whole file."""
        with get_session().stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code == 416:
                raise InvalidCheckpoint(f"{path}: the server has fewer bytes than the inventory says")
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            skip = start if response.status_code == 200 else 0  # Range ignored: the body is the whole file
            if skip > MAX_SKIP_BYTES:
                raise InvalidHubResponse(f"{path}: {self.endpoint} ignores Range requests; refusing to download "
                                  f"{start} bytes to reach offset {start}")
            data = bytearray()
            for chunk in response.iter_bytes(_CHUNK):
                self.bytes_transferred += len(chunk)
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                data += chunk
                if len(data) >= length:
                    break
        if len(data) < length:
            raise InvalidCheckpoint(f"{path}: truncated: got {len(data)} of {length} bytes at offset {start}")
        return bytes(data[:length])

    def download(self, path: str) -> Path:
        """The whole file in the local Hub cache (for small files: text, small pickles to scan)."""
        self._entry(path)
        return Path(
            self._call(
                f"download {path}",
                lambda: self.api.hf_hub_download(self.repo_id, path, revision=self.ref.sha, cache_dir=hub_cache_dir()),
            )
        )

    def read_text(self, path: str, max_bytes: int = 4_000_000) -> str | None:
        entry = self._inventory.get(path)
        if entry is None:
            return None
        if entry.size > max_bytes:
            raise InvalidCheckpoint(f"{path}: {entry.size} bytes, over the {max_bytes}-byte limit for a text file")
        return self.download(path).read_bytes().decode("utf-8", errors="replace")

    # -- the Hub's own pickle scan ------------------------------------------------------------
    @cached_property
    def _security(self) -> dict[str, dict]:
        """path -> the Hub's pickle-import scan (from one expanded tree listing); {} when unavailable."""
        try:
            tree = self._call(
                "list tree",
                lambda: list(self.api.list_repo_tree(self.repo_id, revision=self.ref.sha, recursive=True, expand=True)),
            )
        except SourceError:
            return {}
        return {
            item.path: item.security.pickle_import_scan
            for item in tree
            if getattr(item, "security", None) is not None and item.security.pickle_import_scan
        }

    def hub_pickle_scan(self, path: str) -> PickleScan | None:
        """The Hub's scan of a pickle file as a PickleScan, or None when the Hub reports none."""
        scan = self._security.get(path)
        if scan is None:
            return None
        imports = scan.get("imports") or []
        by_level: dict[str, set[str]] = {"dangerous": set(), "suspicious": set()}
        for item in imports:
            level = str(item.get("safety", "")).lower()
            if level in by_level:
                by_level[level].add(f"{item.get('module')}.{item.get('name')}")
        return PickleScan(
            file=path,
            dangerous=tuple(sorted(by_level["dangerous"])),
            suspicious=tuple(sorted(by_level["suspicious"])),
            error=None,
        )


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
