"""A fake Hugging Face Hub on 127.0.0.1 that serves local folders as model repositories.

It speaks the subset of the Hub HTTP API that huggingface_hub 2.x uses for reading (verified against
2.4.0, see ../shared/research/ecosystem.md §1.6), so tests exercise the real client library, not a mock:

  GET  /api/models?author=&search=&limit=        list_models (ids, shas), in repo id order
  GET  /api/models/{id}[/revision/{rev}]         model_info / repo_info (`?blobs=true` adds sizes, blob ids, LFS)
  GET  /api/models/{id}/tree/{rev}[/{path}]      list_repo_tree (recursive, expand)
  POST /api/models/{id}/paths-info/{rev}         get_paths_info
  GET  /api/models/{id}/refs                     list_repo_refs
  GET  /api/datasets/{id}[/revision/{rev}]       dataset_info (`add_repo(..., dataset=True)`: metadata only)
  HEAD/GET /{id}/resolve/{rev}/{path}            hf_hub_download, ranged reads (206 + Content-Range, 416)
  HEAD/GET /datasets/{id}/resolve/{rev}/{path}   a dataset's files (its card, README.md), gated like a model's

Files are LFS when their suffix says weights (`.safetensors`, `.bin`, `.gguf`, ...) or they are 10 MB or more,
like the Hub's default `.gitattributes`. Git-LFS pointer files in a folder (in place, or as
`<name>.lfs-pointer`) are listed with their LFS size and sha256 but have no content here: resolving them
answers 404 with `X-Error-Code: EntryNotFound` (the weights are simply not available, as in a clone
without `git lfs pull`).

Errors follow the Hub: 401 + `X-Error-Code: RepoNotFound` for an unknown repo or dataset, `GatedRepo` when a gated
repo's files are resolved without an Authorization header (its metadata stays readable), 404 +
`RevisionNotFound` / `EntryNotFound`, 429 with `RateLimit`/`RateLimit-Policy` headers for the next N
requests after `rate_limit_next(n)`, and any status for the next N requests after `fail_next(n, status)`.

Model listings come in pages of `list_page` (a `Link: <...cursor=N>; rel="next"` to the next), and
`list_hook(ids)` rewrites a listing's body.

Hostile or broken servers, for the tests of issue 19: `hostile_info(repo, fn)` rewrites a repo's model
info (a bad sha, a negative size, a body that is not JSON), `stall_next(n)` accepts the next N requests
and never answers, `trickle` sends file bodies at that many bytes per second, `range_from_zero` answers
a Range request with a 206 of the bytes from offset 0 (a broken proxy), `honour_range = False` ignores
Range as some mirrors do.
`header_trickle_next(n, rate, size)` answers the next N requests with a status line and then `size` header
bytes at `rate` bytes per second (a slow-headers attack) before a normal answer.
`latency` (seconds) delays every answer, like a Hub far away.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack", ".onnx",
                ".model", ".pdf", ".zip", ".tar", ".gz", ".npy", ".npz", ".ot", ".tflite")
LFS_THRESHOLD = 10 * 1024 * 1024
_POINTER_SUFFIX = ".lfs-pointer"
_POINTER_HEAD = b"version https://git-lfs.github.com/spec/v1"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class FakeFile:
    path: str
    size: int
    blob_id: str
    sha256: str | None  # set for LFS files
    disk: Path | None  # None when only an LFS pointer exists: no content to serve

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None


@dataclass
class FakeRevision:
    name: str
    sha: str
    files: dict[str, FakeFile]
    card_data: dict | None
    last_modified: str | None = None  # ISO 8601, served as the model API's lastModified


@dataclass
class FakeRepo:
    repo_id: str
    gated: str | bool
    revisions: dict[str, FakeRevision]  # branch/tag name -> revision ("main" always present)
    tags: set[str] = field(default_factory=set)
    security: dict[str, dict] = field(default_factory=dict)  # path -> the Hub's securityFileStatus

    def resolve(self, rev: str) -> FakeRevision | None:
        if rev in self.revisions:
            return self.revisions[rev]
        return next((r for r in self.revisions.values() if r.sha == rev), None)


def _pointer(data: bytes) -> tuple[str, int] | None:
    if not data.startswith(_POINTER_HEAD):
        return None
    fields = dict(line.split(" ", 1) for line in data.decode("ascii", "replace").splitlines()[1:] if " " in line)
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not oid.startswith("sha256:") or not size.isdigit():
        return None
    return oid[len("sha256:"):], int(size)


def _scan_folder(folder: Path) -> dict[str, FakeFile]:
    files: dict[str, FakeFile] = {}
    for disk in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts):
        rel = disk.relative_to(folder).as_posix()
        size = disk.stat().st_size
        head = disk.read_bytes() if size <= 1024 else b""
        pointer = _pointer(head)
        if pointer is not None:
            real = rel[: -len(_POINTER_SUFFIX)] if rel.endswith(_POINTER_SUFFIX) else rel
            blob = hashlib.sha1(b"blob %d\0" % size + head).hexdigest()
            files[real] = FakeFile(real, pointer[1], blob, pointer[0], None)
            continue
        sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
        with open(disk, "rb") as fh:
            while chunk := fh.read(1 << 20):
                sha256.update(chunk)
                sha1.update(chunk)
        if rel.lower().endswith(LFS_SUFFIXES) or size >= LFS_THRESHOLD:
            text = f"{_POINTER_HEAD.decode()}\noid sha256:{sha256.hexdigest()}\nsize {size}\n".encode()
            blob = hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()
            files[rel] = FakeFile(rel, size, blob, sha256.hexdigest(), disk)
        else:
            files[rel] = FakeFile(rel, size, sha1.hexdigest(), None, disk)
    return files


def _card_data(folder: Path) -> dict | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return None
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


class FakeHub:
    """The server's state; `endpoint` is the URL to pass to HfApi / open_source."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.datasets: dict[str, FakeRepo] = {}
        self.requests: list[dict] = []  # {"method", "path", "status", "range"} per request, in order
        self._sent: dict[str, int] = {}  # repo-relative file path -> body bytes sent by resolve
        self._failures = 0  # the next N requests get self._failure (status, message, headers)
        self._failure: tuple[int, str, dict] = (429, "", {})
        self.honour_range = True  # False: answer Range requests with the whole file, as some mirrors do
        self.range_from_zero = False  # True: answer Range with a 206 of the same length from offset 0
        self.trickle: float | None = None  # file bodies at this many bytes per second
        self.info_hooks: dict[str, Callable[[dict], object]] = {}  # repo id -> model info rewriter
        self.tree_next: str | None = None  # a tree listing without `cursor` links to this next page
        self.list_page: int | None = None  # model listings in pages of this many, linked by `cursor`
        self.list_hook: Callable[[list], object] | None = None  # model listing rewriter (JSON, or raw bytes)
        self.list_next_base: str | None = None  # where a listing's next page is said to be (default: here)
        self._stalls = 0
        self._header_trickles = 0
        self._header_trickle = (1.0, 0)  # (bytes per second, header bytes) of the next header trickles
        self._closing = threading.Event()  # set by close(): stalled and trickling answers end
        self.latency = 0.0  # seconds added before every answer
        self.unrecorded_datasets_unavailable = False  # True: a dataset not added answers 503, not RepoNotFound
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    # -- configuration ------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        folder: str | os.PathLike[str],
        *,
        gated: str | bool = False,
        revisions: dict[str, str | os.PathLike[str]] | None = None,
        sha: str | None = None,
        tags: tuple[str, ...] = (),
        security: dict[str, dict] | None = None,
        last_modified: str | None = None,
        dataset: bool = False,
    ) -> FakeRepo:
        """Serve `folder` as `repo_id` on `main`; `revisions` maps other branch/tag names to folders.

        Commit shas are deterministic (sha1 of repo id, revision name and file blob ids, so changed
        content never hits a stale Hub cache entry) unless `sha` pins main's.
        Names listed in `tags` are reported as tags by the refs endpoint, the others as branches.
        `security` maps paths to the Hub's scan (`{"status", "avScan", "pickleImportScan"}`), shown in
        expanded tree listings as `securityFileStatus`. `last_modified` (ISO 8601) is main's commit date.
        `dataset=True` serves it as a dataset instead: its metadata (card front matter as `cardData`,
        `gated`) through the dataset API, readable when gated, as on the Hub, and its files (the card) through
        `/datasets/{id}/resolve/...`, gated like a model's.
        """
        if gated is True:
            gated = "auto"
        folders = {"main": Path(folder), **{k: Path(v) for k, v in (revisions or {}).items()}}
        revs = {}
        for name, path in folders.items():
            files = _scan_folder(path)
            content = "\0".join(f"{f.path}:{f.blob_id}" for f in files.values())
            derived = hashlib.sha1(f"{repo_id}\0{name}\0{content}".encode()).hexdigest()
            rev_sha = sha if (name == "main" and sha) else derived
            revs[name] = FakeRevision(name, rev_sha, files, _card_data(path), last_modified if name == "main" else None)
        repo = FakeRepo(repo_id, gated, revs, set(tags), dict(security or {}))
        with self._lock:
            (self.datasets if dataset else self.repos)[repo_id] = repo
        return repo

    def rate_limit_next(self, n: int, *, reset: int = 0) -> None:
        """Answer the next `n` requests with 429 (RateLimit header says reset in `reset` seconds)."""
        self.fail_next(n, 429, message="You have been rate-limited", headers={
            "RateLimit": f'"api";r=0;t={reset}', "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
        })

    def fail_next(self, n: int, status: int = 503, *, message: str = "Service Unavailable",
                  headers: dict | None = None) -> None:
        """Answer the next `n` requests with HTTP `status` (a flaky or overloaded Hub)."""
        with self._lock:
            self._failures, self._failure = n, (status, message, dict(headers or {}))

    def hostile_info(self, repo_id: str, rewrite: Callable[[dict], object]) -> None:
        """Serve `rewrite(model info document)` for `repo_id`: JSON of any shape, or raw bytes as the body."""
        with self._lock:
            self.info_hooks[repo_id] = rewrite

    def stall_next(self, n: int) -> None:
        """Accept the next `n` requests and send nothing back until the fake Hub closes."""
        with self._lock:
            self._stalls = n

    def header_trickle_next(self, n: int, rate: float = 20.0, size: int = 200) -> None:
        """Send the next `n` answers' headers slowly: `size` bytes of one header at `rate` bytes per second."""
        with self._lock:
            self._header_trickles, self._header_trickle = n, (rate, size)

    def bytes_sent(self, path: str | None = None) -> int:
        """Body bytes sent for file `path` (repo-relative, any repo), or for all files."""
        with self._lock:
            return self._sent.get(path, 0) if path is not None else sum(self._sent.values())

    def reset_counters(self) -> None:
        with self._lock:
            self._sent.clear()
            self.requests.clear()

    # -- used by the handler ------------------------------------------------------------------
    def _take_stall(self) -> bool:
        with self._lock:
            if self._stalls > 0:
                self._stalls -= 1
                return True
            return False

    def _take_header_trickle(self) -> tuple[float, int] | None:
        with self._lock:
            if self._header_trickles > 0:
                self._header_trickles -= 1
                return self._header_trickle
            return None

    def _take_failure(self) -> tuple[int, str, dict] | None:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return self._failure
            return None

    def _log(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + n


class _ClientGone(Exception):
    """The client closed the connection while the server was still sending."""


class _HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    # -- dispatch -----------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        entry = {"method": method, "path": url.path, "range": self.headers.get("Range"), "status": None}
        self._entry = entry
        self.hub._log(entry)
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.hub._take_stall():
            self.hub._closing.wait(120)
            entry["status"] = "stalled"
            self.close_connection = True
            return
        if self.hub.latency:
            time.sleep(self.hub.latency)
        self._trickle = self.hub._take_header_trickle()
        try:
            failure = self.hub._take_failure()
            if failure is not None:
                raise _HubError(failure[0], None, failure[1], failure[2])
            if parts == ["api", "models"] and method == "GET":
                entry["status"] = self._list_models(query)
            elif parts[:2] == ["api", "models"] and len(parts) >= 4:
                entry["status"] = self._api(method, parts[2:], query, body)
            elif parts[:2] == ["api", "datasets"] and len(parts) >= 4 and method == "GET":
                entry["status"] = self._dataset_api(parts[2:], query)
            elif len(parts) >= 5 and parts[2] == "resolve":
                entry["status"] = self._resolve(method, parts)
            elif len(parts) >= 6 and parts[0] == "datasets" and parts[3] == "resolve":
                entry["status"] = self._resolve(method, parts[1:], self.hub.datasets)
            else:
                raise _HubError(404, None, f"no route for {url.path}")
        except _HubError as err:
            entry["status"] = err.status
            self._send_json(err.status, {"error": err.message}, method, {
                **({"X-Error-Code": err.code, "X-Error-Message": err.message} if err.code else {}), **err.headers,
            })
        except (_ClientGone, BrokenPipeError, ConnectionResetError):  # the client stopped reading (a cap reached)
            entry["status"] = "client left"
            self.close_connection = True

    # -- helpers ------------------------------------------------------------------------------
    def send_response(self, code, message=None):
        """The status is logged before the client can read it: a test that checks `requests` right after its
        call returns must not race the handler thread (which sets it again, to the same code, when done)."""
        entry = getattr(self, "_entry", None)
        if entry is not None and entry["status"] is None:
            entry["status"] = code
        super().send_response(code, message)

    def end_headers(self):
        """After a `header_trickle_next`: the status line and headers at once, then one more header slowly."""
        trickle, self._trickle = getattr(self, "_trickle", None), None
        if trickle is not None:
            rate, size = trickle
            try:
                self.flush_headers()
                self.wfile.write(b"X-Slow: ")
                for _ in range(size):
                    if self.hub._closing.wait(1 / rate):
                        raise _ClientGone
                    self.wfile.write(b"a")
                    self.wfile.flush()
                self.wfile.write(b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                raise _ClientGone from None
        super().end_headers()

    def _send_json(self, status: int, obj: object, method: str = "GET", headers: dict | None = None) -> int:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        return status

    def _send_raw(self, status: int, data: bytes) -> int:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _repo(self, repo_id: str, served: dict[str, FakeRepo] | None = None) -> FakeRepo:
        repo = (self.hub.repos if served is None else served).get(repo_id)
        if repo is None:
            raise _HubError(401, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        return repo

    @staticmethod
    def _revision(repo: FakeRepo, rev: str) -> FakeRevision:
        found = repo.resolve(rev)
        if found is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return found

    @staticmethod
    def _tree_entry(f: FakeFile) -> dict:
        entry = {"type": "file", "path": f.path, "size": f.size, "oid": f.blob_id}
        if f.lfs:
            entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
        return entry

    # -- /api/models/... ----------------------------------------------------------------------
    def _api(self, method: str, parts: list[str], query: dict, body: bytes) -> int:
        repo = self._repo("/".join(parts[:2]))
        rest = parts[2:]
        if method == "GET" and (not rest or rest[0] == "revision"):
            rev = self._revision(repo, rest[1] if len(rest) > 1 else "main")
            doc = self._model_json(repo, rev, blobs=query.get("blobs") == ["true"])
            hook = self.hub.info_hooks.get(repo.repo_id)
            if hook is not None:
                doc = hook(doc)
                if isinstance(doc, bytes):
                    return self._send_raw(200, doc)
            return self._send_json(200, doc)
        if method == "GET" and rest == ["refs"]:
            refs = {"branches": [], "tags": [], "converts": []}
            for r in repo.revisions.values():
                kind = "tags" if r.name in repo.tags else "branches"
                refs[kind].append({"name": r.name, "ref": f"refs/{'tags' if kind == 'tags' else 'heads'}/{r.name}",
                                   "targetCommit": r.sha})
            return self._send_json(200, refs)
        if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
            rev = self._revision(repo, rest[1])
            prefix = "/".join(rest[2:])
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            entries = self._tree(rev, prefix, recursive)
            if query.get("expand", ["false"])[0].lower() in ("1", "true"):
                for entry in entries:
                    if entry["path"] in repo.security:
                        entry["securityFileStatus"] = repo.security[entry["path"]]
            if self.hub.tree_next and "cursor" not in query:  # paginated, as the Hub does for large trees
                return self._send_json(200, entries[:1], headers={"Link": f'<{self.hub.tree_next}>; rel="next"'})
            return self._send_json(200, entries)
        if method == "POST" and len(rest) == 2 and rest[0] == "paths-info":
            rev = self._revision(repo, rest[1])
            paths = self._posted_paths(body)
            return self._send_json(200, [self._tree_entry(rev.files[p]) for p in paths if p in rev.files])
        raise _HubError(404, None, "unknown API route")

    def _posted_paths(self, body: bytes) -> list[str]:
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            return list(json.loads(body or b"{}").get("paths", []))
        return parse_qs(body.decode()).get("paths", [])

    def _list_models(self, query: dict) -> int:
        author = query.get("author", [None])[0]
        search = (query.get("search", [""])[0] or "").lower()
        limit = int(query.get("limit", ["0"])[0] or 0)
        with self.hub._lock:
            repos = sorted(self.hub.repos.values(), key=lambda r: r.repo_id)
        found = [{"_id": r.repo_id, "id": r.repo_id, "modelId": r.repo_id, "sha": r.revisions["main"].sha,
                  "private": False, "tags": []}
                 for r in repos
                 if (author is None or r.repo_id.split("/")[0] == author) and search in r.repo_id.lower()]
        found = found[:limit] if limit and not self.hub.list_page else found
        if self.hub.list_hook is not None:
            doc = self.hub.list_hook(found)
            return self._send_raw(200, doc) if isinstance(doc, bytes) else self._send_json(200, doc)
        if not self.hub.list_page:
            return self._send_json(200, found)
        page, cursor = min(limit or self.hub.list_page, self.hub.list_page), int(query.get("cursor", ["0"])[0])
        headers = {}
        if cursor + page < len(found):
            rest = urlencode({**{k: v[0] for k, v in query.items()}, "cursor": cursor + page})
            headers["Link"] = f'<{self.hub.list_next_base or self.hub.endpoint}/api/models?{rest}>; rel="next"'
        return self._send_json(200, found[cursor:cursor + page], headers=headers)

    # -- /api/datasets/... --------------------------------------------------------------------
    def _dataset_api(self, parts: list[str], query: dict) -> int:
        if self.hub.unrecorded_datasets_unavailable and "/".join(parts[:2]) not in self.hub.datasets:
            raise _HubError(503, None, "not recorded")  # "not checked", never "does not exist"
        repo = self._repo("/".join(parts[:2]), self.hub.datasets)
        rest = parts[2:]
        if rest and (rest[0] != "revision" or len(rest) != 2):
            raise _HubError(404, None, "unknown API route")
        rev = self._revision(repo, rest[1] if rest else "main")
        doc = self._model_json(repo, rev, blobs=query.get("blobs") == ["true"])
        del doc["modelId"]
        return self._send_json(200, doc)

    def _model_json(self, repo: FakeRepo, rev: FakeRevision, *, blobs: bool) -> dict:
        siblings = []
        for f in rev.files.values():
            sib = {"rfilename": f.path}
            if blobs:
                sib.update(size=f.size, blobId=f.blob_id)
                if f.lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sib)
        doc = {"_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "author": repo.repo_id.split("/")[0],
               "sha": rev.sha, "private": False, "gated": repo.gated, "disabled": False, "tags": [],
               "siblings": siblings}
        if rev.card_data is not None:
            doc["cardData"] = rev.card_data
        if rev.last_modified is not None:
            doc["lastModified"] = rev.last_modified
        return doc

    def _tree(self, rev: FakeRevision, prefix: str, recursive: bool) -> list[dict]:
        out, dirs = [], set()
        base = prefix.rstrip("/") + "/" if prefix else ""
        for f in rev.files.values():
            if not f.path.startswith(base):
                continue
            rel = f.path[len(base):]
            if "/" in rel and not recursive:
                dirs.add(base + rel.split("/", 1)[0])
                continue
            if recursive:
                parent = rel.split("/")[:-1]
                for i in range(1, len(parent) + 1):
                    dirs.add(base + "/".join(parent[:i]))
            out.append(self._tree_entry(f))
        out.extend({"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0}
                   for d in sorted(dirs))
        return out

    # -- /{id}/resolve/{rev}/{path} -----------------------------------------------------------
    def _resolve(self, method: str, parts: list[str], served: dict[str, FakeRepo] | None = None) -> int:
        repo = self._repo("/".join(parts[:2]), served)
        rev = self._revision(repo, parts[3])
        path = "/".join(parts[4:])
        if repo.gated and not self.headers.get("Authorization"):
            raise _HubError(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must have access.")
        f = rev.files.get(path)
        if f is None:
            raise _HubError(404, "EntryNotFound", f"{path} does not exist on {rev.name}")
        if f.disk is None:
            raise _HubError(404, "EntryNotFound", f"{path}: only the LFS pointer is available (content absent)")
        etag = f'"{f.sha256 or f.blob_id}"'
        headers = {"X-Repo-Commit": rev.sha, "ETag": etag, "Accept-Ranges": "bytes"}
        if f.lfs:
            headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(f.size)})
        start, end, status = 0, f.size - 1, 200
        requested = self.headers.get("Range") if self.hub.honour_range else None
        if requested:
            m = _RANGE.match(requested.strip())
            if m is None or (not m.group(1) and not m.group(2)):
                raise _HubError(416, None, "bad range", {"Content-Range": f"bytes */{f.size}"})
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), f.size - 1) if m.group(2) else f.size - 1
            else:  # suffix range: last N bytes
                start, end = max(0, f.size - int(m.group(2))), f.size - 1
            if start >= f.size or end < start:
                raise _HubError(416, None, "range not satisfiable", {"Content-Range": f"bytes */{f.size}"})
            status = 206
            if self.hub.range_from_zero:  # a broken proxy: the right length, from the wrong offset
                start, end = 0, end - start
            headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
        length = end - start + 1 if f.size else 0
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if method == "GET" and length:
            with open(f.disk, "rb") as fh:
                fh.seek(start)
                remaining = length
                step = 1 if self.hub.trickle else 64 * 1024
                while remaining:
                    if self.hub.trickle and self.hub._closing.wait(1 / self.hub.trickle):
                        break
                    chunk = fh.read(min(remaining, step))
                    if not chunk:
                        break
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        break  # the client stopped reading (it had what it needed)
                    self.hub._count(path, len(chunk))
                    remaining -= len(chunk)
        return status
