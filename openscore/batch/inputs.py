"""What a batch audits: command-line sources, a list file, and Hub listings (`--org`, `--search`).

A list file has one source a line: `SRC [ID]`, where SRC is anything `openscore audit` takes and the
optional ID (`org/name[@rev]`) names a local folder. `#` starts a comment. A relative folder is found
beside the list file first, so a list can travel with the folders it names. A bad line is a usage
error at `file:line` before anything is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openscore.errors import UsageError
from openscore.safeio import read_bounded

#: a list file larger than this is not a list of models
MAX_LIST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Job:
    """One model to audit: the source as the user named it and the identity given to a folder."""

    spec: str
    identity: str | None = None

    @property
    def key(self) -> str:
        """What the run state records the job under."""
        return f"{self.spec} {self.identity}" if self.identity else self.spec

    def repo_hint(self) -> str | None:
        """The repo id the audit will most likely report (to find earlier reports), without any I/O
        beyond a stat; None when only opening the source can tell."""
        from openscore.sources import SAMPLE_PREFIX, parse_hub_spec
        from openscore.sources.identity import cache_identity, parse_identity

        if self.identity:
            return parse_identity(self.identity).repo_id
        path = Path(self.spec)
        if path.is_dir():
            named = cache_identity(path.resolve())
            return named.repo_id if named else f"local/{path.resolve().name}"
        if self.spec.startswith(SAMPLE_PREFIX):
            return f"openscore-samples/{self.spec[len(SAMPLE_PREFIX):]}"
        hub = parse_hub_spec(self.spec)
        return hub[0] if hub else None


def read_list(path: Path) -> list[Job]:
    """The jobs of a list file (see the module docstring)."""
    from openscore.sources.identity import parse_identity

    path = Path(path)
    try:
        text = read_bounded(path, MAX_LIST_BYTES, what="list of models").decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2:
            raise UsageError(f"{path}:{number}: expected `SRC [ID]`, got {len(fields)} fields")
        spec = fields[0]
        beside = path.parent / spec
        if not Path(spec).is_absolute() and beside.is_dir():
            spec = str(beside)
        identity = fields[1] if len(fields) == 2 else None
        if identity is not None:
            try:
                parse_identity(identity)
            except UsageError as exc:
                raise UsageError(f"{path}:{number}: {exc}") from None
            if not Path(spec).is_dir():
                raise UsageError(f"{path}:{number}: an ID names a local folder; {spec!r} is not one")
        jobs.append(Job(spec, identity))
    return jobs


def hub_listing(*, org: str | None = None, search: str | None = None, limit: int | None = None,
                endpoint: str | None = None, token: str | bool | None = None) -> list[Job]:
    """Models of `org` and/or matching `search`, from the endpoint's listing API with the bounds of every
    Hub answer (openscore.sources.hub.HubClient.list_model_ids: deadline, pages, size, valid ids)."""
    from openscore.sources.hub import HubClient

    what = " ".join(part for part in (f"--org {org}" if org else "", f"--search {search!r}" if search else "") if part)
    client = HubClient(f"listing {what}", endpoint=endpoint, token=token)
    return [Job(name) for name in client.list_model_ids(author=org, search=search, limit=limit)]


def unique(jobs: Iterable[Job]) -> list[Job]:
    """Jobs in first-seen order, each once."""
    return list(dict.fromkeys(jobs))
