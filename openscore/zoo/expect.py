"""What comparing any two zoo cases should conclude: the ground truth of the provenance benchmark."""

from __future__ import annotations

from dataclasses import dataclass

from openscore.zoo.build import ZooCase

#: Verdicts that say "these weights come from that model"; a positive for the benchmark's rates.
DERIVED_OR_COPY = frozenset({"identical", "renamed-copy", "recast-copy", "derived", "partially-derived"})
UNRELATED_SAME_LAYOUT = frozenset({"architecture-clone", "independent", "inconclusive"})
UNRELATED_OTHER_LAYOUT = frozenset({"independent", "inconclusive"})


@dataclass(frozen=True)
class Expectation:
    label: str  # row of the confusion table
    accepted: frozenset[str]
    related: bool  # True: the weights share an origin (a positive pair)
    lineage: bool = False  # the reference is a root base of the candidate: the case's own relation is due


def roots(case: ZooCase) -> frozenset[str]:
    return frozenset(case.roots or (case.name,))


def expected(candidate: ZooCase, reference: ZooCase) -> Expectation:
    """The verdicts `compare(reference, candidate)` may give, and the table row the pair belongs to."""
    if reference.name in candidate.roots:
        return Expectation(candidate.relation, frozenset(candidate.accepted), True, lineage=True)
    if candidate.name in reference.roots:
        return Expectation("base vs its derivative", DERIVED_OR_COPY, True)
    if roots(candidate) & roots(reference):
        return Expectation("common ancestor", DERIVED_OR_COPY, True)
    if candidate.family == reference.family:
        return Expectation("unrelated, same architecture", UNRELATED_SAME_LAYOUT, False)
    return Expectation("unrelated, other architecture", UNRELATED_OTHER_LAYOUT, False)
