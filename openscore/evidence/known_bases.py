"""Known base-model families (openscore/data/known_bases.yaml), matched by Hub id or by prose."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openscore.errors import ConfigError
from openscore.resources import package_data


class KnownBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: str
    licence: str
    #: how openly the base's pre-training data is available (LLaMA: described, partly public corpora)
    training_data: Literal["open", "partial", "closed"] | None = None
    ids: list[str]
    mentions: list[str]

    @field_validator("ids", "mentions")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            re.compile(p)
        return patterns

    def matches_id(self, repo_id: str) -> bool:
        return any(re.fullmatch(p, repo_id, re.IGNORECASE) for p in self.ids)

    def mention(self, text: str) -> re.Match[str] | None:
        for p in self.mentions:
            m = re.search(p, text, re.IGNORECASE)
            if m:
                return m
        return None


class KnownRepo(BaseModel):
    """One public base release: what `openscore registry sync` fingerprints (family, licence, lineage)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
    family: str
    licence: str
    parent: str | None = None  # a listed repo this base derives from


class KnownBases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bases: list[KnownBase]
    repos: list[KnownRepo] = Field(default_factory=list)
    relation_phrases: list[str]

    @model_validator(mode="after")
    def _lineage_is_listed(self) -> KnownBases:
        ids = [r.id for r in self.repos]
        if len(set(ids)) != len(ids):
            raise ValueError(f"repos: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
        orphans = sorted(r.parent for r in self.repos if r.parent and r.parent not in ids)
        if orphans:
            raise ValueError(f"repos: parent not listed: {', '.join(orphans)}")
        return self

    def by_id(self, repo_id: str) -> KnownBase | None:
        repo_id = repo_id.split("@", 1)[0]
        return next((b for b in self.bases if b.matches_id(repo_id)), None)

    def by_family(self, family: str) -> KnownBase | None:
        return next((b for b in self.bases if b.family == family), None)


@lru_cache(maxsize=1)
def known_bases() -> KnownBases:
    path = package_data("known_bases.yaml")
    try:
        return KnownBases.model_validate(yaml.safe_load(path.read_text("utf-8")))
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}:1: {' '.join(str(exc).split())}") from exc
