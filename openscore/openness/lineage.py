"""Which base a model derives from, combining what the weights show with what the author says.

Detected (provenance verdict naming a base) outranks declared (card `base_model`, then config
`_name_or_path`), which outranks a derivation phrase in the card's prose. The base's licence comes
from the reference registry entry when provenance reports one, else from known_bases.yaml.
"""

from __future__ import annotations

from openscore.evidence.known_bases import known_bases
from openscore.evidence.model import EvidenceBundle, Observation
from openscore.openness.checks import BaseInfo
from openscore.report import ProvenanceResult

#: verdicts under which the detected base is the model's real base
DERIVED_VERDICTS = frozenset({"identical", "renamed-copy", "recast-copy", "derived", "partially-derived"})


def detected_base(provenance: ProvenanceResult | None, own_key: str) -> str | None:
    """The registry id the weights derive from; None when none, or when the match is the model itself
    (a registered reference model audited again is not its own derivative)."""
    if provenance is None or provenance.verdict not in DERIVED_VERDICTS or not provenance.base:
        return None
    if provenance.base.split("@", 1)[0].lower() == own_key.split("@", 1)[0].lower():
        return None
    return provenance.base


def _base_from(repo_id: str | None, family: str | None, via: str, evidence, registry_licence: str | None = None,
               relation: str | None = None):
    from openscore.licences import resolve

    bases = known_bases()
    known = bases.by_id(repo_id) if repo_id else None
    known = known or (bases.by_family(family) if family else None)
    licence_id = registry_licence or (known.licence if known else None)
    return BaseInfo(
        family=known.family if known else family,
        repo_id=repo_id,
        via=via,
        licence=resolve(licence_id) if licence_id else None,
        training_data=known.training_data if known else None,
        relation=relation,
        evidence=list(evidence),
    )


def registry_licence(entry_id: str) -> str | None:
    """The licence the reference registry records for `entry_id` (None when it has none)."""
    from openscore.weights.registry import Registry

    entry = Registry.load().get(entry_id)
    return entry.licence if entry is not None else None


def declared_bases(bundle: EvidenceBundle) -> list[Observation]:
    """Card base_model first, then config _name_or_path (prose mentions are not declarations)."""
    found = bundle.find("base.declared")
    return sorted(found, key=lambda o: 0 if o.value.get("via") == "card" else 1)


def resolve_base(bundle: EvidenceBundle, provenance: ProvenanceResult | None) -> BaseInfo | None:
    detected = detected_base(provenance, bundle.source)
    if detected is not None:
        return _base_from(detected.split("@", 1)[0], None, "provenance", provenance.evidence,
                          registry_licence(detected))
    declared = declared_bases(bundle)
    if declared:
        first = declared[0]
        return _base_from(first.value["id"], first.value.get("family"), first.value["via"], [first.evidence],
                          relation=first.value.get("relation"))
    mentioned = bundle.find("base.mentioned")
    if mentioned:
        return _base_from(None, mentioned[0].value["family"], "prose", [mentioned[0].evidence])
    return None
