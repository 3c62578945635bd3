"""Findings a reviewer must see, whatever the grades say.

  licence-conflict    the card declares one licence, a LICENSE file in the repository is another
  licence-laundering  a derivative declares a licence more permissive than its base's, or a
                      verbatim copy of a base's weights declares a licence other than the base's
  base-mismatch       the declared base differs from the detected one (or a copy claims no base)
  unsafe-pickle       a pickle-based weight file imports dangerous globals
  suspicious-pickle   a pickle imports globals that are neither known safe nor known dangerous
  unscannable-pickle  a pickle the static scanner could not parse to the end (or that ran past its caps)
"""

from __future__ import annotations

from openscore.evidence.known_bases import known_bases
from openscore.evidence.model import EvidenceBundle
from openscore.formats.records import CheckpointHeaders
from openscore.openness.checks import BaseInfo
from openscore.openness.licensing import UNRESOLVED, licence_files
from openscore.openness.lineage import declared_bases, detected_base
from openscore.report import Evidence, Finding, LicenceResult, ProvenanceResult


def licence_conflict(bundle: EvidenceBundle, licence: LicenceResult) -> list[Finding]:
    """Card licence vs LICENSE texts; only a licence the card itself declares can conflict."""
    from openscore.licences import LicenceMatch, conflicting_files, facts

    if not licence.declared or licence.resolved.id in UNRESOLVED:
        return []
    files = {o.value["file"]: o for o in licence_files(bundle)}
    matches = {path: LicenceMatch(id=o.value["id"], confidence=o.value.get("confidence") or 0.0,
                                  method=o.value.get("method") or "none") for path, o in files.items()}
    out = []
    for path, found in conflicting_files(licence.resolved, matches).items():
        out.append(Finding(
            id="licence-conflict", severity="error",
            message=(f"the card declares {licence.declared} ({licence.resolved.name}) but {path} "
                     f"is the {facts(found).name} ({found})"),
            evidence=[*(e for e in licence.evidence if e.rule.endswith("/license")), files[path].evidence],
        ))
    return out


#: provenance verdicts under which the weights are the base's own weights, merely renamed or recast
VERBATIM_COPIES = frozenset({"identical", "renamed-copy", "recast-copy"})


def licence_laundering(licence: LicenceResult, base: BaseInfo | None, provenance: ProvenanceResult | None) -> list[Finding]:
    """A derivative more permissive than its base, or a verbatim copy of a base under another licence.

    A fine-tune may carry any licence its base allows, but never a more open one; a copy of the base's
    weights (identical, renamed, recast, or declared `base_model_relation: quantized`) has no
    authorship of its own to license, so any licence other
    than the base's is a relicensing, even between two open licences (MIT over Apache-2.0 drops the
    Apache NOTICE and patent terms)."""
    from openscore.licences import is_more_permissive

    if base is None or base.licence is None or licence.resolved.id in UNRESOLVED or base.licence.id in UNRESOLVED:
        return []
    name = base.repo_id or base.family
    if base.via == "provenance" and provenance is not None and provenance.verdict in VERBATIM_COPIES:
        copy = f"the weights are a {provenance.verdict} of {name}"
    elif base.relation == "quantized":
        copy = f"the card declares the weights a quantization of {name}"
    else:
        copy = None
    if copy and licence.resolved.id != base.licence.id:
        message = f"{copy} ({base.licence.id}) re-released as {licence.resolved.id}: a copy cannot be relicensed"
    elif is_more_permissive(licence.resolved, base.licence):
        message = (f"declared licence {licence.resolved.id} is more permissive than the licence of its base "
                   f"{name} ({base.licence.id}, {base.via}): a derivative cannot relicense its base")
    else:
        return []
    return [Finding(id="licence-laundering", severity="error", message=message,
                    evidence=[*licence.evidence[:2], *base.evidence[:3]])]


def base_mismatch(bundle: EvidenceBundle, provenance: ProvenanceResult | None) -> list[Finding]:
    detected = detected_base(provenance, bundle.source)
    if detected is None:
        return []
    bases = known_bases()
    detected_id = detected.split("@", 1)[0]
    detected_family = bases.by_id(detected_id)
    declared = declared_bases(bundle)
    evidence: list[Evidence] = list(provenance.evidence[:3])
    if not declared:
        return [Finding(
            id="base-mismatch", severity="error",
            message=f"weights are a {provenance.verdict} of {detected_id}, but the model declares no base model",
            evidence=evidence + [o.evidence for o in bundle.find("card.field.tags")][:1]
            + [o.evidence for o in bundle.find("card.front_matter")][:1],
        )]
    first = declared[0]
    claimed = first.value["id"]
    claimed_family = bases.by_id(claimed)
    same = claimed.lower() == detected_id.lower() or (
        claimed_family is not None and detected_family is not None and claimed_family.family == detected_family.family)
    if same:
        return []
    return [Finding(
        id="base-mismatch", severity="warning",
        message=f"declares base {claimed} ({first.value['via']}) but the weights match {detected_id} ({provenance.verdict})",
        evidence=[first.evidence, *evidence],
    )]


def declared_base_contradicted(provenance: ProvenanceResult | None) -> list[Finding]:
    """The declared base's own weights were compared with the model's and are not its source."""
    check = provenance.declared_base_check if provenance is not None else None
    if check is None or check.status != "contradicted":
        return []
    return [Finding(id="declared-base-contradicted", severity="error",
                    message=f"declares base {check.base}, but its weights contradict it: {check.reason}",
                    evidence=list(provenance.evidence[:3]))]


def unsafe_pickle(headers: CheckpointHeaders | None, source_key: str) -> list[Finding]:
    """Dangerous imports are an error; unknown imports and a pickle the scanner could not parse are
    warnings (`suspicious-pickle`, `unscannable-pickle`): never clean."""
    if headers is None:
        return []
    out = []
    for scan in headers.pickle_scans:
        found = []
        if scan.dangerous:
            found.append(("unsafe-pickle", "error", "imports dangerous globals: " + ", ".join(scan.dangerous)))
        if scan.suspicious:
            found.append(("suspicious-pickle", "warning", "imports globals that are not known safe: "
                          + ", ".join(scan.suspicious)))
        if scan.error is not None:
            found.append(("unscannable-pickle", "warning", f"could not be verified by the static scanner ({scan.error})"))
        out.extend(Finding(
            id=finding_id, severity=severity,
            message=f"{scan.file} {what}; never load it with torch.load or pickle",
            evidence=[Evidence(source=source_key, file=scan.file, snippet=what[:300], rule=f"finding/{finding_id}",
                               extractor="pickle-scan@static")],
        ) for finding_id, severity, what in found)
    return out


def all_findings(
    bundle: EvidenceBundle,
    licence: LicenceResult,
    base: BaseInfo | None,
    provenance: ProvenanceResult | None,
    headers: CheckpointHeaders | None,
) -> list[Finding]:
    found = (licence_conflict(bundle, licence) + licence_laundering(licence, base, provenance)
             + base_mismatch(bundle, provenance) + declared_base_contradicted(provenance)
             + unsafe_pickle(headers, bundle.source))
    return sorted(found, key=lambda f: (f.id, f.message))
