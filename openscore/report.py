"""The audit report: the one document every later stage (gate, site, AI-BOM) reads.

Versioned with REPORT_SCHEMA_VERSION; the JSON schema shipped in openscore/schemas/ is generated
from these models (`openscore schema report`). Adding optional fields is a minor change; renaming
or removing one is a major change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openscore.errors import InvalidReport
from openscore.safeio import read_bounded

if TYPE_CHECKING:
    from openscore.sources.base import SourceRef

REPORT_SCHEMA_VERSION = "1.0"
#: no audit report comes near this size; a bigger file is refused before it is parsed
MAX_REPORT_BYTES = 64 * 1024 * 1024
#: reports nest a few levels (evidence inside collectors inside the report); deeper is not a report
MAX_REPORT_DEPTH = 32

#: a score or confidence: finite, in [0, 1]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

GradeValue = Literal["open", "partial", "closed", "n/a", "unknown"]
Verdict = Literal[
    "identical",
    "renamed-copy",
    "recast-copy",
    "derived",
    "partially-derived",
    "architecture-clone",
    "independent",
    "inconclusive",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class Evidence(_Model):
    """Where a fact was read: a reader can click through to it."""

    source: str  # "org/name@sha"
    file: str | None = None  # repo-relative path, None for Hub API metadata
    locator: str | None = None  # "L12", "L12-L20", JSON pointer "/license", "bytes=0-1023"
    snippet: str | None = None  # short excerpt (<= 300 chars), never HTML
    rule: str  # rule id that used this evidence, e.g. "osai-v3/model-card/sections"
    extractor: str  # "name@version" of the collector that produced it
    url: str | None = None  # a link when one exists (Hub blob URL, arXiv, GitHub)


class Grade(_Model):
    # "No grade without evidence": in the JSON schema, every grade other than n/a needs an evidence record
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"grade": {"not": {"const": "n/a"}}}},
        "then": {"properties": {"evidence": {"minItems": 1}}, "required": ["evidence"]},
    })

    dimension: str  # rubric dimension id
    grade: GradeValue
    reason: str  # one sentence a person can read
    evidence: list[Evidence] = Field(default_factory=list)
    searched: list[str] = Field(default_factory=list)  # for closed/unknown: what was looked for and where
    override: "Override | None" = None  # a reviewed human grade shown next to the automatic one


class Override(_Model):
    grade: GradeValue
    reason: str
    reviewer: str
    evidence: list[str] = Field(default_factory=list)  # URLs or repo paths
    file: str  # the overrides/*.yaml it came from


class RubricResult(_Model):
    rubric: str  # "osai-v3", "osai-v1", "mof", "osaid"
    version: str
    grades: list[Grade]
    scores: dict[str, Unit | None]  # profile id -> score in [0, 1] ("osai-compatible", "strict")
    classification: str | None = None  # MOF: "Class I"/"Class II"/"Class III"/"Unclassified"; OSAID: "pass"/"fail"
    unmet: list[str] = Field(default_factory=list)  # OSAID unmet requirements / MOF missing components
    warnings: list[str] = Field(default_factory=list)  # e.g. MOF licence type-appropriateness


class LicenceFacts(_Model):
    id: str  # SPDX id or named AI licence id ("llama3", "gemma", "tii-falcon", ...), "unknown" when unrecognised
    name: str
    osi_approved: bool | None = None
    commercial_use: bool | None = None
    user_cap: int | None = None  # monthly active users above which a separate licence is needed
    use_policy: bool | None = None  # has an acceptable-use policy
    use_policy_passes_down: bool | None = None
    derivative_naming: str | None = None  # e.g. 'names must start with "Llama"'
    attribution: str | None = None
    output_restrictions: bool | None = None  # restricts using outputs to train other models
    open: bool = False  # counts as an open licence for grading (OSI-approved or open-data licence)
    tier: str | None = None  # openness tier (openscore/data/licences.yaml), the order is_more_permissive uses


class LicenceResult(_Model):
    declared: str | None = None  # card `license` as written
    resolved: LicenceFacts
    files: list[dict[str, Any]] = Field(default_factory=list)  # {file, id, confidence, covers}
    #: what governs each part when the repository licenses them apart ("code", "weights", "data");
    #: `resolved` is the weights' licence
    parts: dict[str, LicenceFacts] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)


class Finding(_Model):
    """Something a reviewer must know: licence laundering, card-vs-file conflict, unsafe pickle..."""

    id: str  # stable id, e.g. "licence-laundering", "licence-conflict", "unsafe-pickle", "base-mismatch"
    severity: Literal["error", "warning", "info"]
    message: str
    evidence: list[Evidence] = Field(default_factory=list)


class DeclaredBaseCheck(_Model):
    """The declared base's own weights compared with the model's (provenance point 1)."""

    status: Literal["confirmed", "contradicted", "not-checkable"]
    reason: str
    base: str | None = None  # the declared base as named (card base_model, adapter config, config)
    matched: str | None = None  # what the weights match: the declared base when confirmed, else the registry's


class ProvenanceResult(_Model):
    verdict: Verdict
    base: str | None = None  # detected base, registry id ("meta-llama/Llama-2-7b-hf@sha")
    parents: list[str] = Field(default_factory=list)  # merges: both parents
    confidence: Unit | None = None  # calibrated, in [0, 1]
    declared_base: str | None = None  # card base_model / config _name_or_path
    declared_relation: str | None = None  # card base_model_relation
    declared_base_check: DeclaredBaseCheck | None = None  # None when nothing declares a base
    transformations: list[str] = Field(default_factory=list)  # "renamed 2 tensor kinds", "vocab +512 rows", ...
    layer_similarity: list[float | None] = Field(default_factory=list)  # per layer, for the plot
    details: dict[str, Any] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)


class SourceInfo(_Model):
    kind: Literal["hub", "local", "sample"]
    repo_id: str
    revision: str | None = None
    sha: str
    location: str
    committed_at: str | None = None  # ISO 8601 date of the audited commit when known (Hub lastModified); orders a model's history

    @classmethod
    def of(cls, ref: "SourceRef", *, location: str | None = None) -> "SourceInfo":
        """The pinned source as a document; `location` replaces the ref's (reports keep no absolute paths)."""
        return cls(kind=ref.kind, repo_id=ref.repo_id, revision=ref.revision, sha=ref.sha,
                   location=ref.location if location is None else location, committed_at=ref.committed_at)


class AuditReport(_Model):
    schema_version: str = REPORT_SCHEMA_VERSION
    tool: str  # "openscore@0.1.0"
    source: SourceInfo
    inventory: dict[str, Any]  # files (path, size, sha256, lfs, present), refs, gated
    layout: dict[str, Any] | None = None  # the layout fingerprint document (openscore.layout)
    provenance: ProvenanceResult | None = None
    licence: LicenceResult
    card: dict[str, Any] = Field(default_factory=dict)  # collected card metadata (front matter, sections found)
    evidence: dict[str, Any] = Field(default_factory=dict)  # collector outputs keyed by collector name
    rubrics: dict[str, RubricResult]  # keyed by rubric id
    default_rubric: str = "osai-v3"
    findings: list[Finding] = Field(default_factory=list)

    def pipeline_notes(self) -> list[str]:
        """Why the audit skipped a step (weights not read, no readable headers...): `evidence.pipeline.notes`."""
        pipeline = self.evidence.get("pipeline")
        notes = pipeline.get("notes") if isinstance(pipeline, dict) else None
        return [n for n in notes if isinstance(n, str)] if isinstance(notes, list) else []

    def to_json(self) -> str:
        from openscore.atomic import canonical_json
        from openscore.gcpause import gc_paused

        with gc_paused():  # a layout of 300k tensors is millions of objects (gcpause)
            return canonical_json(self.model_dump(mode="json"))


Grade.model_rebuild()


def load_report(path: str | Path) -> AuditReport:
    """A saved report (gate, site, export read them back), validated; one-line InvalidReport (exit 2) else.

    A report is untrusted input like any other: bounded in size, no NaN/Infinity, no duplicate keys,
    bounded nesting, no unknown fields, every score finite and within [0, 1].
    """
    path = Path(path)
    raw = read_bounded(path, MAX_REPORT_BYTES, error=InvalidReport, what="report")
    try:
        data = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=_unique)
    except RecursionError:
        raise InvalidReport(f"{path}: not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and the two hooks below
        raise InvalidReport(f"{path}: not JSON: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise InvalidReport(f"{path}: not an audit report (top level is not an object)")
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != REPORT_SCHEMA_VERSION.split(".")[0]:
        raise InvalidReport(
            f"{path}: report schema {version or '?'} is not readable by this openscore (reads {REPORT_SCHEMA_VERSION})"
        )
    if _depth(data) > MAX_REPORT_DEPTH:
        raise InvalidReport(f"{path}: invalid report: nested deeper than {MAX_REPORT_DEPTH} levels")
    try:
        return AuditReport.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "/".join(str(part) for part in first["loc"])
        raise InvalidReport(f"{path}: invalid report at {where or '/'}: {first['msg']}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {twice!r}")
    return out


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_REPORT_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest
