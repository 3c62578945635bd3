"""CycloneDX 1.6 AI-BOM of an audit: the model as a machine-learning-model component with a modelCard.

cyclonedx-python-lib has no modelCard class yet, so the BOM is built with the library, serialised,
and the modelCard is added to the JSON, which is then validated against the 1.6 schema the library
bundles. Deterministic: the serial number is derived from repo@sha, and no timestamp is written.
"""

from __future__ import annotations

import json
import uuid

from openscore.report import AuditReport

#: UUID namespace for serial numbers: uuid5(this, "repo@sha") is stable for an audited commit
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/openscore/openscore/bom")


def _licence(report: AuditReport):
    from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement
    from cyclonedx.spdx import fixup_id

    facts = report.licence.resolved
    if facts.id == "unknown":
        return []
    spdx = fixup_id(facts.id)
    if spdx:
        return [DisjunctiveLicense(id=spdx, acknowledgement=LicenseAcknowledgement.DECLARED)]
    return [DisjunctiveLicense(name=facts.name or facts.id, acknowledgement=LicenseAcknowledgement.DECLARED)]


def _purl(repo_id: str, sha: str):
    from packageurl import PackageURL

    org, _, name = repo_id.partition("/")
    return PackageURL(type="huggingface", namespace=org or None, name=name or org, version=sha)


def _properties(report: AuditReport):
    from cyclonedx.model import Property

    props = []
    for rubric_id, result in sorted(report.rubrics.items()):
        for grade in result.grades:
            props.append(Property(name=f"openscore:grade:{rubric_id}:{grade.dimension}", value=grade.grade))
        for profile, value in sorted(result.scores.items()):
            if value is not None:
                props.append(Property(name=f"openscore:score:{rubric_id}:{profile}", value=f"{value:.4f}"))
        if result.classification:
            props.append(Property(name=f"openscore:class:{rubric_id}", value=result.classification))
    if report.provenance is not None:
        props.append(Property(name="openscore:provenance:verdict", value=report.provenance.verdict))
    for finding in report.findings:
        props.append(Property(name=f"openscore:finding:{finding.id}", value=finding.message))
    props.append(Property(name="openscore:report-schema", value=report.schema_version))
    return props


def _model_card(report: AuditReport) -> dict:
    fm = report.card.get("front_matter") or {}
    layout = report.layout or {}
    params: dict = {}
    if isinstance(fm.get("pipeline_tag"), str):
        params["task"] = fm["pipeline_tag"]
    family = layout.get("family") or (fm.get("model_type") if isinstance(fm.get("model_type"), str) else None)
    if isinstance(family, str):
        params["architectureFamily"] = family
    archs = [o["value"] for o in report.evidence.get("repository", {}).get("observations", [])
             if o["kind"] == "config.architectures"]
    if archs and isinstance(archs[0], list) and archs[0]:
        params["modelArchitecture"] = str(archs[0][0])
    datasets = [o["value"]["id"] for o in report.evidence.get("datasets", {}).get("observations", [])
                if o["kind"] == "dataset"]
    if datasets:
        params["datasets"] = [{"type": "dataset", "name": d} for d in datasets]
    card: dict = {"modelParameters": params} if params else {}
    limitations = [f.message for f in report.findings]
    if limitations:
        card["considerations"] = {"technicalLimitations": limitations}
    return card


def cyclonedx_document(report: AuditReport) -> dict:
    """The AI-BOM as JSON data (validated against the CycloneDX 1.6 schema)."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.output.json import JsonV1Dot6

    src = report.source
    files = [
        Component(name=f["path"], type=ComponentType.FILE, bom_ref=f"file:{f['path']}",
                  hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f["sha256"])] if f.get("sha256") else None)
        for f in report.inventory.get("files", [])
    ]
    pedigree = None
    base = (report.evidence.get("pipeline") or {}).get("base") or {}
    if base.get("repo_id") or base.get("family"):
        ancestor = Component(name=base.get("repo_id") or base["family"], type=ComponentType.MACHINE_LEARNING_MODEL,
                             bom_ref=f"base:{base.get('repo_id') or base['family']}")
        pedigree = Pedigree(ancestors=[ancestor])
    model = Component(
        name=src.repo_id, version=src.sha, type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=f"model:{src.repo_id}",
        purl=_purl(src.repo_id, src.sha) if src.kind == "hub" else None, licenses=_licence(report),
        properties=_properties(report), components=files, pedigree=pedigree,
    )
    bom = Bom(serial_number=uuid.uuid5(_SERIAL_NAMESPACE, f"{src.repo_id}@{src.sha}"))
    bom.metadata.component = model
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    doc["metadata"].pop("timestamp", None)  # determinism: an audit of a commit has no wall-clock time
    doc["metadata"].pop("tools", None)  # the library stamps its own version; openscore's is in the properties
    card = _model_card(report)
    if card:
        doc["metadata"]["component"]["modelCard"] = card
    _validate(doc)
    return doc


def _validate(doc: dict) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    if error is not None:  # a bug in openscore, not bad input: fail loudly
        raise RuntimeError(f"CycloneDX document does not validate: {error}")


def cyclonedx_json(report: AuditReport) -> str:
    from openscore.atomic import canonical_json

    return canonical_json(cyclonedx_document(report))
