"""Measure the null distribution of compare()'s statistic on pairs known to be independent.

    python -m openscore.weights.calibrate A.osfp B.osfp C.osfp ...

Every pair of the given fingerprints must be independent (different random initialisations). For each
ordered pair it records compare()'s max z (the largest best-match z over the candidate's tensors) and
prints the mean, standard deviation and maximum as the `null_model` block of
openscore/data/registry/calibration.yaml, plus the margin to z_derived; and, for pairs whose residual basis
can be aligned (compare.residual_alignment), the `aligned_null` block: the per-tensor unit match after
alignment (compare.unit_matches), against `aligned_guard` and `aligned_match`; and, for pairs of wide models
with token responses (weights/responses.py), the `response_null` block, against `response_guard` and
`response_match`.
"""

from __future__ import annotations

import itertools
import statistics
import sys

import yaml

from openscore.weights.compare import calibration, compare, residual_alignment, unit_matches
from openscore.weights.fingerprint import Fingerprint
from openscore.weights.responses import response_matches


def null_of(prints: list[Fingerprint]) -> dict:
    """The null model of max z over every ordered pair of `prints`."""
    values = []
    for a, b in itertools.permutations(prints, 2):
        result = compare(a, b)
        if result.verdict not in ("architecture-clone", "independent", "inconclusive"):
            raise SystemExit(f"{b.source} vs {a.source} came out {result.verdict}: not an independent pair")
        if result.max_z is not None:
            values.append(result.max_z)
    if len(values) < 2:
        raise SystemExit("need at least two comparable pairs")
    return {
        "statistic": "max_z",
        "mean": round(statistics.fmean(values), 3),
        "std": round(statistics.stdev(values), 3),
        "pairs": len(values),
        "max": round(max(values), 3),
    }


def aligned_null_of(prints: list[Fingerprint]) -> dict | None:
    """The null of the unit match after residual alignment, over every tensor of every alignable ordered pair."""
    values, pairs = [], 0
    for a, b in itertools.permutations(prints, 2):
        alignment = residual_alignment(a, b)
        if alignment is not None:
            pairs += 1
            values += [found[0] for found in unit_matches(alignment, b)]
    if len(values) < 2:
        return None
    return {"statistic": "aligned_unit_cosine", "mean": round(statistics.fmean(values), 3),
            "std": round(statistics.stdev(values), 3), "pairs": pairs, "max": round(max(values), 3)}


def response_null_of(prints: list[Fingerprint]) -> dict | None:
    """The null of the token-response unit match, over every tensor of every ordered pair that has responses."""
    values, pairs = [], 0
    for a, b in itertools.permutations(prints, 2):
        found = response_matches(a, b)
        if found:
            pairs += 1
            values += [match.score for match in found]
    if len(values) < 2:
        return None
    return {"statistic": "response_unit_r", "mean": round(statistics.fmean(values), 3),
            "std": round(statistics.stdev(values), 3), "pairs": pairs, "max": round(max(values), 3)}


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    prints = [Fingerprint.load(p) for p in argv]
    null = null_of(prints)
    margin = calibration().z_derived - null["max"]
    print(yaml.safe_dump({"null_model": {k: v for k, v in null.items() if k != "max"}}, sort_keys=False), end="")
    print(f"# max over pairs {null['max']}, margin to z_derived {margin:.2f}")
    aligned = aligned_null_of(prints)
    if aligned is not None:
        cal = calibration()
        print(yaml.safe_dump({"aligned_null": {k: v for k, v in aligned.items() if k != "max"}}, sort_keys=False), end="")
        print(f"# max over tensors {aligned['max']}, below aligned_guard {cal.aligned_guard} / aligned_match "
              f"{cal.aligned_match}: {aligned['max'] < cal.aligned_guard}")
    responses = response_null_of(prints)
    if responses is not None:
        cal = calibration()
        print(yaml.safe_dump({"response_null": {k: v for k, v in responses.items() if k != "max"}}, sort_keys=False),
              end="")
        print(f"# max over tensors {responses['max']}, below response_guard {cal.response_guard} / response_match "
              f"{cal.response_match}: {responses['max'] < cal.response_guard}")


if __name__ == "__main__":
    main(sys.argv[1:])
