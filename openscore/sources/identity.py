"""Who a local folder is: a Hugging Face cache snapshot names itself, `--id` names any other folder.

Without an identity a folder is `local/<folder name>`, so an audited snapshot of `tiiuae/falcon-40b`
would never meet its Hub reports, its lineage or a waiver written for `tiiuae/falcon-40b`. The Hub cache
lays snapshots out as `models--<org>--<name>/snapshots/<commit sha>`, which says both the repo and the
commit; any other folder can be named `org/name[@revision]` by the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from openscore.errors import UsageError

_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Identity:
    """`repo_id` (`org/name`) and, when known, the revision; a 40-hex revision is the commit sha."""

    repo_id: str
    revision: str | None = None

    @property
    def sha(self) -> str | None:
        return self.revision if self.revision is not None and _SHA.match(self.revision) else None

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


def parse_identity(text: str) -> Identity:
    """`org/name[@rev]` as an Identity; anything else is a usage error."""
    from openscore.sources import parse_hub_spec

    parsed = parse_hub_spec(text.strip())
    if parsed is None:
        raise UsageError(f"--id {text!r} is not a repo id `org/name[@revision]`")
    return Identity(*parsed)


def cache_identity(folder: Path) -> Identity | None:
    """`org/name@sha` for `.../models--org--name/snapshots/<sha>`, else None."""
    from openscore.sources import parse_hub_spec

    folder = Path(folder)
    repo_dir = folder.parent.parent
    if folder.parent.name != "snapshots" or not _SHA.match(folder.name):
        return None
    parts = repo_dir.name.split("--")
    if len(parts) != 3 or parts[0] != "models" or parse_hub_spec(f"{parts[1]}/{parts[2]}") is None:
        return None
    return Identity(f"{parts[1]}/{parts[2]}", folder.name)


def cache_repo_folder(folder: Path) -> Path | None:
    """The `models--org--name` folder of a cache snapshot: its files are symlinks into `../../blobs`."""
    return Path(folder).resolve().parent.parent if cache_identity(Path(folder).resolve()) else None
