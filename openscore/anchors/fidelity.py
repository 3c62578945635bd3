"""How closely openscore's grades agree with the experts': OSAI index cells and MOT classes.

The match table (openscore/data/anchor_matches.yaml) says which audited folder corresponds to which
expert entry and how closely (same model, same version other size, base model, same family). For
OSAI the grades are ordered closed < partial < open and compared cell by cell: exact, one step off,
two steps off; an `unknown` from openscore is counted apart (it abstains, it does not disagree), and
an expert cell left empty (N/A) is not compared. For MOT, the class and the included components are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from openscore.resources import package_data
from openscore.yamlconfig import load_yaml_model

Quality = Literal["same_model", "same_version", "base_model", "family"]
STEP = {"closed": 0, "partial": 1, "open": 2}


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str  # a realcards folder name (org__name)
    entry: str  # file name in the anchor's folder
    quality: Quality
    note: str | None = None


class Disputed(BaseModel):
    """An OSAI cell of an exact or same-version match where openscore and the experts differ, and why."""

    model_config = ConfigDict(extra="forbid")

    folder: str
    dimension: str
    #: outside: the experts read evidence outside the repository (a paper, a code repository, a dataset
    #: card); experts: their cell is wrong or outdated; reading: the published criterion leaves room and
    #: openscore keeps its reading
    why: Literal["outside", "experts", "reading"]
    note: str


class MatchTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: OSAI parameters a model repository (its files and card) can show; the rest need the linked
    #: code repository (trainingcode, code) or facts about a venue (paper)
    osai_observable: list[str]
    osai: list[Match]
    mot: list[Match]
    disputed: list[Disputed] = []

    def dispute(self, folder: str, dimension: str) -> Disputed | None:
        return next((d for d in self.disputed if d.folder == folder and d.dimension == dimension), None)


@lru_cache(maxsize=1)
def load_matches() -> MatchTable:
    table, _ = load_yaml_model(MatchTable, package_data("anchor_matches.yaml"))
    return table


@dataclass
class Tally:
    """Cell-by-cell agreement over some set of comparisons."""

    exact: int = 0
    one_off: int = 0
    two_off: int = 0
    unknown: int = 0  # openscore answered unknown: not compared
    less_open: int = 0  # of the disagreements, openscore below the experts
    cases: list[str] = field(default_factory=list)  # "folder/dimension: ours vs experts" for two-off cells

    @property
    def compared(self) -> int:
        return self.exact + self.one_off + self.two_off

    def add(self, ours: str, theirs: str, label: str) -> None:
        if theirs not in STEP:
            return  # the experts left the cell empty (N/A) or wrote a non-class
        if ours not in STEP:
            self.unknown += 1
            return
        gap = STEP[ours] - STEP[theirs]
        if gap == 0:
            self.exact += 1
            return
        self.less_open += gap < 0
        if abs(gap) == 1:
            self.one_off += 1
        else:
            self.two_off += 1
            self.cases.append(f"{label}: {ours} vs experts {theirs}")

    def line(self) -> str:
        n = self.compared
        if not n:
            return "no cells compared"
        return (f"{n} cells: exact {100 * self.exact / n:.0f} %, within one {100 * (self.exact + self.one_off) / n:.0f} %, "
                f"two off {self.two_off}, unknown {self.unknown} (not compared), less open in "
                f"{self.less_open} of {self.one_off + self.two_off} disagreements")


def compare_osai(ours: Mapping[str, str], theirs: Mapping[str, str], label: str,
                 dimensions: Iterable[str], tallies: Mapping[str, Tally]) -> None:
    """Add one folder's cells to `tallies` (keys: every dimension id and "all")."""
    for dim in dimensions:
        tallies[dim].add(ours.get(dim, "unknown"), theirs.get(dim, "n/a"), f"{label}/{dim}")
        tallies["all"].add(ours.get(dim, "unknown"), theirs.get(dim, "n/a"), f"{label}/{dim}")
