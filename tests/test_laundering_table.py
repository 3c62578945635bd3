"""Licence laundering, verdict by verdict and licence pair by pair.

A verbatim copy (identical, renamed-copy, recast-copy) has no authorship of its own: any licence other
than its base's is laundering, even between two open licences. Any other derivative launders only with a
licence more permissive than its base's. Dropping one verdict from the copies (a BF16 copy relicensed as
MIT losing its finding) fails this table.
"""

from __future__ import annotations

import pytest

from openscore.licences import resolve
from openscore.openness.checks import BaseInfo
from openscore.openness.findings import VERBATIM_COPIES, licence_laundering
from openscore.report import LicenceResult, ProvenanceResult

#: (base licence, declared licence)
PAIRS = [("apache-2.0", "mit"), ("apache-2.0", "apache-2.0"), ("llama2", "apache-2.0"), ("mit", "apache-2.0"),
         ("cc-by-nc-4.0", "llama2"), ("apache-2.0", "cc-by-nc-4.0")]
#: verdict -> laundering finding expected for each pair above (1: yes)
TABLE = {
    "identical":          [1, 0, 1, 1, 1, 1],
    "renamed-copy":       [1, 0, 1, 1, 1, 1],
    "recast-copy":        [1, 0, 1, 1, 1, 1],
    "derived":            [0, 0, 1, 0, 1, 0],
    "partially-derived":  [0, 0, 1, 0, 1, 0],
    "architecture-clone": [0, 0, 1, 0, 1, 0],
    "independent":        [0, 0, 1, 0, 1, 0],
    "inconclusive":       [0, 0, 1, 0, 1, 0],
}


def test_the_table_covers_every_verdict():
    from typing import get_args

    from openscore.report import Verdict

    assert set(TABLE) == set(get_args(Verdict))
    assert VERBATIM_COPIES == {v for v, row in TABLE.items() if row[0]}


@pytest.mark.parametrize("verdict", sorted(TABLE))
@pytest.mark.parametrize("pair", range(len(PAIRS)), ids=lambda i: "->".join(PAIRS[i]))
def test_laundering_by_verdict_and_licence_pair(verdict, pair):
    base_id, declared = PAIRS[pair]
    related = verdict not in ("architecture-clone", "independent", "inconclusive")
    # a related verdict names the base through provenance; otherwise only the card can declare one
    base = BaseInfo(family=None, repo_id="acme/base", via="provenance" if related else "card",
                    licence=resolve(base_id))
    provenance = ProvenanceResult(verdict=verdict, base="acme/base@" + "0" * 40 if related else None)
    found = licence_laundering(LicenceResult(declared=declared, resolved=resolve(declared)), base, provenance)
    assert [f.id for f in found] == (["licence-laundering"] if TABLE[verdict][pair] else [])
    if found and verdict in VERBATIM_COPIES:
        assert found[0].message.endswith("a copy cannot be relicensed")


def test_a_bf16_copy_relicensed_as_mit_keeps_its_finding():
    base = BaseInfo(family="llama", repo_id="acme/base", via="provenance", licence=resolve("apache-2.0"))
    found = licence_laundering(LicenceResult(declared="mit", resolved=resolve("mit")), base,
                               ProvenanceResult(verdict="recast-copy", base="acme/base@" + "0" * 40))
    assert [f.message for f in found] == ["the weights are a recast-copy of acme/base (Apache-2.0) re-released as "
                                          "MIT: a copy cannot be relicensed"]
