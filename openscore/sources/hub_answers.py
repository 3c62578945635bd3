"""What the Hub API answers, validated field by field before openscore uses any of it.

An endpoint is a stranger: its commit sha becomes part of a report's path, its file names are joined
to URLs and compared with local paths, its sizes bound our reads. Every field openscore uses is checked
here (sha 40 hex, sizes non-negative integers, dates ISO 8601, card data a mapping, file names relative
and clean); anything else is `InvalidHubResponse` (exit 16), one line naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from openscore.errors import InvalidHubResponse
from openscore.formats.records import PickleScan
from openscore.sources.base import FileEntry

_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: longest repo-relative file name accepted (the Hub's own limit is far below)
MAX_NAME_CHARS = 1024
MAX_FILES = 1_000_000


@dataclass(frozen=True)
class ModelAnswer:
    """The parts of `GET /api/models/{id}[/revision/{rev}]?blobs=true` openscore uses."""

    sha: str
    last_modified: str | None  # ISO 8601, normalised
    files: tuple[FileEntry, ...]
    card_data: dict
    gated: str | bool


def _fail(what: str, field: str, problem: str) -> InvalidHubResponse:
    return InvalidHubResponse(f"{what}: invalid answer from the Hub: {field} {problem}")


def _size(value: object, what: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(what, field, f"is {value!r}, not a non-negative integer")
    return value


def clean_name(name: object, what: str, field: str = "file name") -> str:
    """A repo-relative POSIX path with no empty, `.` or `..` part, no backslash, NUL or control character."""
    if not isinstance(name, str) or not name:
        raise _fail(what, field, f"{name!r} is not a file name")
    parts = name.split("/")
    if (len(name) > MAX_NAME_CHARS or name.startswith("/") or any(p in ("", ".", "..") for p in parts)
            or any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise _fail(what, field, f"{name[:200]!r} is not a clean relative path")
    return name


def commit_sha(value: object, what: str, field: str = "sha") -> str:
    if value is None:
        raise _fail(what, field, "is missing")
    if not isinstance(value, str) or not _SHA1.match(value):
        raise _fail(what, field, f"{str(value)[:80]!r} is not a 40-hex commit sha")
    return value


def _date(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _fail(what, "lastModified", f"{str(value)[:80]!r} is not a date")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail(what, "lastModified", f"{value!r} is not an ISO 8601 date") from None
    return parsed.isoformat()


def model_answer(doc: object, what: str) -> ModelAnswer:
    """Validate a model-info answer (requested with `blobs=true`)."""
    if not isinstance(doc, dict):
        raise _fail(what, "the body", f"is a JSON {type(doc).__name__}, not an object")
    sha = commit_sha(doc.get("sha"), what)
    card = doc.get("cardData")
    if card is not None and not isinstance(card, dict):
        raise _fail(what, "cardData", f"is a JSON {type(card).__name__}, not an object")
    gated = doc.get("gated", False)
    if gated is None:
        gated = False
    if gated not in (False, True, "auto", "manual"):
        raise _fail(what, "gated", f"is {str(gated)[:40]!r}, not false, 'auto' or 'manual'")
    siblings = doc.get("siblings") or []
    if not isinstance(siblings, list) or len(siblings) > MAX_FILES:
        raise _fail(what, "siblings", "is not a list of files")
    files: dict[str, FileEntry] = {}
    for n, sib in enumerate(siblings):
        field = f"siblings[{n}]"
        if not isinstance(sib, dict):
            raise _fail(what, field, "is not an object")
        name = clean_name(sib.get("rfilename"), what, f"{field}.rfilename")
        if name in files:
            raise _fail(what, field, f"repeats the file name {name!r}")
        blob = sib.get("blobId")
        if blob is not None and (not isinstance(blob, str) or not _SHA1.match(blob)):
            raise _fail(what, f"{field}.blobId", f"{str(blob)[:80]!r} is not a 40-hex blob id")
        size = sib.get("size")
        size = 0 if size is None else _size(size, what, f"{field}.size")
        lfs = sib.get("lfs")
        if lfs is not None:
            if not isinstance(lfs, dict):
                raise _fail(what, f"{field}.lfs", "is not an object")
            oid = lfs.get("sha256")
            if not isinstance(oid, str) or not _SHA256.match(oid):
                raise _fail(what, f"{field}.lfs.sha256", f"{str(oid)[:80]!r} is not a 64-hex sha256")
            files[name] = FileEntry(name, _size(lfs.get("size"), what, f"{field}.lfs.size"), oid, lfs=True,
                                    blob_id=blob)
        else:
            files[name] = FileEntry(name, size, None, lfs=False, blob_id=blob)
    return ModelAnswer(sha=sha, last_modified=_date(doc.get("lastModified"), what),
                       files=tuple(sorted(files.values(), key=lambda f: f.path)), card_data=card or {}, gated=gated)


def dataset_answer(doc: object, what: str) -> dict:
    """{"licence", "gated", "card"} from a dataset-info answer (its card data and gating)."""
    if not isinstance(doc, dict):
        raise _fail(what, "the body", f"is a JSON {type(doc).__name__}, not an object")
    card = doc.get("cardData")
    if card is not None and not isinstance(card, dict):
        raise _fail(what, "cardData", f"is a JSON {type(card).__name__}, not an object")
    gated = doc.get("gated") or False
    if gated not in (False, True, "auto", "manual"):
        raise _fail(what, "gated", f"is {str(gated)[:40]!r}, not false, 'auto' or 'manual'")
    licence = (card or {}).get("license")
    if licence is not None and not isinstance(licence, (str, list)):
        licence = str(licence)
    return {"licence": licence, "gated": gated, "card": bool(card)}


def ref_names(doc: object, what: str) -> tuple[str, ...]:
    """Branch and tag names of a `refs` answer."""
    if not isinstance(doc, dict):
        raise _fail(what, "the body", "is not an object")
    names = set()
    for kind in ("branches", "tags"):
        items = doc.get(kind) or []
        if not isinstance(items, list):
            raise _fail(what, kind, "is not a list")
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or len(name) > 256 or any(ord(c) < 32 for c in name):
                raise _fail(what, f"{kind}[].name", f"{str(name)[:80]!r} is not a ref name")
            names.add(name)
    return tuple(sorted(names))


def tree_pickle_scans(items: object, what: str) -> dict[str, PickleScan]:
    """path -> the Hub's pickle-import scan, from one page of an expanded tree listing."""
    if not isinstance(items, list):
        raise _fail(what, "the body", "is not a list")
    out = {}
    for item in items:
        if not isinstance(item, dict):
            raise _fail(what, "a tree entry", "is not an object")
        status = item.get("securityFileStatus")
        scan = status.get("pickleImportScan") if isinstance(status, dict) else None
        if not isinstance(scan, dict):
            continue
        path = clean_name(item.get("path"), what, "tree path")
        by_level: dict[str, set[str]] = {"dangerous": set(), "suspicious": set()}
        imports = scan.get("imports") or []
        if not isinstance(imports, list):
            raise _fail(what, f"{path}: pickleImportScan.imports", "is not a list")
        for entry in imports:
            if not isinstance(entry, dict):
                raise _fail(what, f"{path}: pickleImportScan.imports[]", "is not an object")
            level = str(entry.get("safety", "")).lower()
            if level in by_level:
                by_level[level].add(f"{str(entry.get('module'))[:200]}.{str(entry.get('name'))[:200]}")
        out[path] = PickleScan(file=path, dangerous=tuple(sorted(by_level["dangerous"])),
                               suspicious=tuple(sorted(by_level["suspicious"])), error=None)
    return out


def model_ids(items: object, what: str) -> list[str]:
    """Repo ids of one page of a model listing (`GET /api/models`): each `org/name`, valid and clean."""
    from openscore.sources import parse_hub_spec

    if not isinstance(items, list):
        raise _fail(what, "the body", "is not a list")
    ids = []
    for item in items:
        repo_id = item.get("id", item.get("modelId")) if isinstance(item, dict) else None
        parsed = parse_hub_spec(repo_id) if isinstance(repo_id, str) else None
        if parsed is None or parsed[1] is not None:
            raise _fail(what, "a model id", f"{str(repo_id)[:80]!r} is not a repo id (org/name)")
        ids.append(repo_id)
    return ids
