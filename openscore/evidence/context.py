"""What every collector needs: the pinned source, its inventory, and how to cite a file in it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openscore.errors import EntryNotFound, GatedRepo, InvalidCheckpoint
from openscore.report import Evidence
from openscore.sources.base import Inventory, Source

SNIPPET_MAX = 300


def clip(text: str, limit: int = SNIPPET_MAX) -> str:
    """One-line excerpt of at most `limit` characters (report snippets are never multi-line HTML)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


#: an `org/name` Hub id as a card or config may give one (untrusted: checked before it goes into a URL)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


def is_hub_id(value: object) -> bool:
    """`value` is an `org/name` id that names one repository (no `.` or `..` part to walk the API path)."""
    return isinstance(value, str) and bool(_HUB_ID.match(value)) and ".." not in value and not value.endswith("/.")


def own_ids(repo_id: str) -> set[str]:
    """The audited repo's own ids (a local folder `org__name` names its Hub repo), lower-cased."""
    name = repo_id.split("/", 1)[-1]
    ids = {repo_id.lower()}
    if "__" in name:
        ids.add(name.replace("__", "/", 1).lower())
    return ids


@dataclass
class CollectContext:
    source: Source
    inventory: Inventory
    #: Hub endpoint when the model itself comes from a Hub, else None (then nothing else is fetched)
    endpoint: str | None = None
    token: str | bool | None = None
    #: path -> why it could not be read (gated repository without access, file vanished)
    unreadable: dict[str, str] = field(default_factory=dict)
    #: the card's headings (openscore.evidence.card.Section), set by the card collector for the others
    card_sections: list | None = None

    def read_text(self, path: str, max_bytes: int = 4_000_000) -> str | None:
        """A text file of the source, or None when absent or unreadable (gated, over the size limit):
        a card or licence text that cannot be read is a gap in the evidence, never an audit failure."""
        try:
            return self.source.read_text(path, max_bytes=max_bytes)
        except (GatedRepo, EntryNotFound, InvalidCheckpoint) as exc:
            self.unreadable[path] = str(exc)
            return None

    @property
    def key(self) -> str:
        return self.inventory.ref.key

    @property
    def on_hub(self) -> bool:
        return self.inventory.ref.kind == "hub"

    def blob_url(self, path: str, line: int | None = None) -> str | None:
        """A link to the file at the pinned commit, for Hub sources only (local paths are not portable)."""
        if not self.on_hub:
            return None
        base = (self.endpoint or self.inventory.ref.location or "https://huggingface.co").rstrip("/")
        url = f"{base}/{self.inventory.ref.repo_id}/blob/{self.inventory.ref.sha}/{path}"
        return f"{url}#L{line}" if line else url

    def cite(
        self,
        *,
        rule: str,
        extractor: str,
        file: str | None = None,
        locator: str | None = None,
        snippet: str | None = None,
        url: str | None = None,
        line: int | None = None,
    ) -> Evidence:
        if line is not None and locator is None:
            locator = f"L{line}"
        if url is None and file is not None:
            url = self.blob_url(file, line)
        return Evidence(
            source=self.key,
            file=file,
            locator=locator,
            snippet=clip(snippet) if snippet else None,
            rule=rule,
            extractor=extractor,
            url=url,
        )
