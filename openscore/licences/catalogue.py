"""The licence table (openscore/data/licences.yaml) and the SPDX/MOF lists (mof_licences.yaml), validated.

Everything that changes when a vendor publishes a new licence lives in those two files; this module
only validates them and answers look-ups by id, Hub id, name, link or SPDX id.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openscore.yamlconfig import load_yaml_model
from openscore.report import LicenceFacts
from openscore.resources import package_data

ContentType = Literal["code", "data", "document"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    id: str
    rank: int = Field(ge=0)  # the openness order: a higher rank is more open
    open: bool
    title: str
    commercial_use: bool | None = None  # default for the licences of this tier


class Fingerprints(_Strict):
    """Short phrases that identify a licence text: any title, or at least two phrases."""

    titles: list[str] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list)


class LicenceEntry(_Strict):
    id: str  # SPDX id, or openscore's id of a named AI licence
    name: str | None = None  # None: taken from the SPDX list
    tier: str
    spdx: str | None = None  # SPDX id when the id is not one (CreativeML-OpenRAIL-M)
    scancode: str | None = None  # LicenseRef-scancode-* key, for SBOM exports
    hub_ids: list[str] = Field(default_factory=list)  # values of the card's `license:` field
    names: list[str] = Field(default_factory=list)  # values seen in `license_name:` (compared normalised)
    aliases: list[str] = Field(default_factory=list)  # other ids of the same licence (deprecated SPDX ids)
    links: list[str] = Field(default_factory=list)  # substrings of a `license_link:` URL
    commercial_use: bool | None = None
    user_cap: int | None = Field(default=None, gt=0)
    use_policy: bool | None = None
    use_policy_passes_down: bool | None = None
    derivative_naming: str | None = None
    attribution: str | None = None
    output_restrictions: bool | None = None
    note: str | None = None
    fingerprints: Fingerprints | None = None


class LicenceTable(_Strict):
    version: str
    tiers: list[Tier]
    ambiguous_hub_ids: list[str]
    licences: list[LicenceEntry]

    @model_validator(mode="after")
    def _consistent(self) -> "LicenceTable":
        tier_ids = {t.id for t in self.tiers}
        if "unknown" not in tier_ids:
            raise ValueError("the tiers must include 'unknown'")
        seen: dict[str, str] = {}
        for entry in self.licences:
            if entry.tier not in tier_ids:
                raise ValueError(f"licence {entry.id}: unknown tier {entry.tier!r}")
            keys = [entry.id.lower(), *(a.lower() for a in entry.aliases), *(f"hub:{h}" for h in entry.hub_ids)]
            keys += [f"name:{normalise_name(n)}" for n in entry.names]
            for key in keys:
                if key in seen and seen[key] != entry.id:
                    raise ValueError(f"{key!r} names both {seen[key]} and {entry.id}")
                seen[key] = entry.id
        return self


class SpdxLicence(_Strict):
    name: str
    osi: bool
    fsf: bool
    deprecated: bool = False


class MofLicenceLists(_Strict):
    """The licence lists of the Model Openness Tool (MIT), copied with attribution into mof_licences.yaml."""

    source: str
    open_data: list[str]
    open_model: list[str]
    type_appropriate: dict[ContentType, list[str]]
    spdx: dict[str, SpdxLicence]

    def is_open(self, licence_id: str) -> bool:
        """MOF's rule: OSI-approved, FSF-libre, a listed open-data licence, or OpenMDW."""
        entry = self.spdx.get(licence_id)
        return (entry is not None and (entry.osi or entry.fsf)) or licence_id in self.open_data or licence_id in self.open_model

    def is_type_appropriate(self, licence_id: str, content_type: str) -> bool:
        return licence_id in self.type_appropriate.get(content_type, [])  # type: ignore[call-overload]


def normalise_name(name: str) -> str:
    """Licence names compare case-, space- and punctuation-insensitively ("Gemma Terms of Use" = "gemma-terms-of-use")."""
    return re.sub(r"[^a-z0-9.+]+", "-", name.lower()).strip("-")


class Catalogue:
    """Look-ups over the licence table and the SPDX list."""

    def __init__(self, table: LicenceTable, mof: MofLicenceLists):
        self.table = table
        self.mof = mof
        self.tiers = {t.id: t for t in table.tiers}
        self._by_key: dict[str, LicenceEntry] = {}
        for entry in table.licences:
            for key in (entry.id, *entry.aliases, *((entry.spdx,) if entry.spdx else ())):
                self._by_key[key.lower()] = entry
            for hub_id in entry.hub_ids:
                self._by_key[f"hub:{hub_id.lower()}"] = entry
            for name in (*entry.names, entry.id, *(entry.hub_ids)):
                self._by_key.setdefault(f"name:{normalise_name(name)}", entry)
        self._spdx_lower = {spdx_id.lower(): spdx_id for spdx_id in mof.spdx}

    def by_id(self, licence_id: str) -> LicenceEntry | None:
        """An entry by its id, an alias or its SPDX id (case-insensitive)."""
        return self._by_key.get(licence_id.lower())

    def by_hub_id(self, hub_id: str) -> LicenceEntry | None:
        return self._by_key.get(f"hub:{hub_id.strip().lower()}")

    def by_name(self, name: str) -> LicenceEntry | None:
        return self._by_key.get(f"name:{normalise_name(name)}")

    def by_link(self, link: str) -> LicenceEntry | None:
        text = link.lower()
        matches = [e for e in self.table.licences for fragment in e.links if fragment.lower() in text]
        return matches[0] if len({m.id for m in matches}) == 1 else None

    def spdx_id(self, licence_id: str) -> str | None:
        """The canonical spelling of an SPDX id, if `licence_id` is one."""
        return self._spdx_lower.get(licence_id.strip().lower())

    def tier_of(self, licence_id: str) -> Tier:
        entry = self.by_id(licence_id)
        if entry is not None:
            return self.tiers[entry.tier]
        spdx = self.spdx_id(licence_id)
        return self.tiers[self._spdx_tier(spdx)] if spdx else self.tiers["unknown"]

    def _spdx_tier(self, spdx_id: str) -> str:
        info = self.mof.spdx[spdx_id]
        if info.osi:
            return "osi"
        if info.fsf:
            return "fsf-libre"
        if spdx_id in self.mof.open_data:
            return "open-data"
        return "unclassified"

    def facts(self, licence_id: str) -> LicenceFacts:
        """The LicenceFacts of a known id (a table entry, or any SPDX id); id "unknown" for anything else."""
        entry = self.by_id(licence_id)
        if entry is not None:
            return self._entry_facts(entry)
        spdx = self.spdx_id(licence_id)
        if spdx is None:
            return unknown_facts()
        tier = self.tiers[self._spdx_tier(spdx)]
        info = self.mof.spdx[spdx]
        return LicenceFacts(id=spdx, name=info.name, tier=tier.id, osi_approved=info.osi,
                            commercial_use=tier.commercial_use, open=tier.open)

    def _entry_facts(self, entry: LicenceEntry) -> LicenceFacts:
        tier = self.tiers[entry.tier]
        spdx = self.spdx_id(entry.spdx or entry.id)
        info = self.mof.spdx[spdx] if spdx else None
        return LicenceFacts(
            id=entry.id,
            name=entry.name or (info.name if info else entry.id),
            tier=tier.id,
            osi_approved=info.osi if info else False,
            commercial_use=entry.commercial_use if entry.commercial_use is not None else tier.commercial_use,
            user_cap=entry.user_cap,
            use_policy=entry.use_policy,
            use_policy_passes_down=entry.use_policy_passes_down,
            derivative_naming=entry.derivative_naming,
            attribution=entry.attribution,
            output_restrictions=entry.output_restrictions,
            open=tier.open,
        )


def unknown_facts() -> LicenceFacts:
    """What an unrecognised licence resolves to: never assumed open."""
    return LicenceFacts(id="unknown", name="Unrecognised licence", tier="unknown", open=False)


def _load_mof_lists() -> MofLicenceLists:
    """The copied MOT lists are generated data (660 SPDX rows), not hand-edited config: parsed with
    libyaml and validated without the line map, which would triple the start-up cost."""
    import yaml

    path = package_data("mof_licences.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return MofLicenceLists.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))  # noqa: S506
    except (yaml.YAMLError, ValueError) as exc:
        from openscore.errors import ConfigError

        raise ConfigError(f"{path}:1: invalid MOF licence lists: {' '.join(str(exc).split())[:300]}") from None


@functools.lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The shipped licence catalogue (validated once per process)."""
    table, _ = load_yaml_model(LicenceTable, package_data("licences.yaml"))
    mof = _load_mof_lists()
    return Catalogue(table, mof)
