"""Where model files come from: a Hub repository, a local folder, or an embedded sample.

`open_source(spec)` is the one entry point; everything downstream works through the `Source`
interface (openscore.sources.base), so Hub and local reads share one code path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from openscore.errors import UsageError
from openscore.sources.base import FileEntry, Inventory, Source, SourceRef
from openscore.sources.local import LocalSource

__all__ = ["FileEntry", "Inventory", "LocalSource", "Source", "SourceRef", "check_path_length", "open_source",
           "parse_hub_spec"]

SAMPLE_PREFIX = "sample:"
#: Hub repo ids: `org/name`, letters, digits, `-`, `_`, `.` (no leading/trailing separators, no `--`/`..`)
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_SPEC = re.compile(rf"^(?P<repo>{_REPO_PART}/{_REPO_PART})(?:@(?P<rev>[^\s@]+))?$")


def parse_hub_spec(spec: str) -> tuple[str, str | None] | None:
    """(`org/name`, revision or None) when `spec` names a Hub repo, else None."""
    m = _HUB_SPEC.match(spec)
    if m is None or "--" in m.group("repo") or ".." in m.group("repo"):
        return None
    return m.group("repo"), m.group("rev")


#: the longest file name (one path component) the usual file systems take, in bytes
MAX_NAME_BYTES = 255


def check_path_length(spec: str) -> None:
    """A UsageError for a path component no file system takes (instead of an OSError from the first stat)."""
    for part in spec.split("/"):
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise UsageError(f"{spec[:60]!r}...: a path component of {len(part.encode('utf-8', 'surrogateescape'))} "
                             f"bytes is longer than the {MAX_NAME_BYTES} bytes a file name can have")


def open_source(spec: str, *, endpoint: str | None = None, token: str | bool | None = None,
                identity: str | None = None, limiter=None) -> Source:
    """The source a user names: an existing folder, `sample:<name>`, or `org/name[@revision]` on the Hub.

    A folder wins over a Hub id of the same spelling, so `./org/name` style paths behave as users expect.
    A folder is named by `identity` (`org/name[@rev]`), else by the Hub cache layout it sits in
    (`models--org--name/snapshots/<sha>`), else `local/<folder name>` (openscore.sources.identity).
    `limiter` (openscore.batch.ratelimit.RateLimiter) paces a Hub source's requests.
    """
    check_path_length(spec)
    if spec and Path(spec).is_dir():
        return _local_source(spec, identity)
    if identity is not None:
        raise UsageError(f"--id names a local folder; {spec!r} is not one")
    if spec.startswith(SAMPLE_PREFIX):
        from openscore.samples import materialize

        name = spec[len(SAMPLE_PREFIX):]
        folder = materialize(name)
        return LocalSource(folder, kind="sample", repo_id=f"openscore-samples/{name}", ignore=frozenset({".complete"}))
    hub = parse_hub_spec(spec)
    if hub is None:
        raise UsageError(
            f"{spec!r} is neither an existing folder, nor `sample:<name>`, nor a Hub repo id `org/name[@revision]`"
        )
    from openscore.sources.hub import HubSource

    repo_id, revision = hub
    return HubSource(repo_id, revision=revision, endpoint=endpoint or os.environ.get("HF_ENDPOINT"), token=token,
                     limiter=limiter)


def _local_source(folder: str, identity: str | None) -> LocalSource:
    from openscore.sources.identity import cache_identity, cache_repo_folder, parse_identity

    named = parse_identity(identity) if identity is not None else cache_identity(Path(folder).resolve())
    if named is None:
        return LocalSource(folder)
    return LocalSource(folder, repo_id=named.repo_id, revision=named.revision, sha=named.sha,
                       links_within=cache_repo_folder(folder))
