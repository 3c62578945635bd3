"""The audit pipeline: source -> inventory -> evidence (+ headers, layout, provenance) -> grades.

`audit(spec)` returns an AuditReport; `write_report(report, dir)` stores it at
`<dir>/<org>/<name>/<sha>.json`, atomically and byte-identically for equal inputs.

Failures that are not the user's fault (weights absent, nothing to fingerprint) are recorded in
`report.evidence["pipeline"]` and the audit goes on with the card and files; hostile input
(malformed safetensors, broken GGUF) raises its typed error. A dangerous pickle becomes an
`unsafe-pickle` finding, and the CLI exits non-zero on it after writing the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from openscore import __version__
from openscore.atomic import write_text
from openscore.errors import (
    DeadlineExceeded,
    GatedRepo,
    HubServerError,
    InvalidHubResponse,
    NothingToAnalyse,
    SourceError,
    UsageError,
)
from openscore.evidence import LinkedConfig, collect, linked_offline
from openscore.evidence.inherited import inherit_card
from openscore.gcpause import gc_paused
from openscore.openness.checks import GradingContext
from openscore.openness.findings import all_findings
from openscore.openness.grading import grade_rubric
from openscore.openness.licensing import dataset_licences, evaluate_licence
from openscore.openness.lineage import resolve_base
from openscore.overrides import load_overrides
from openscore.report import AuditReport, SourceInfo
from openscore.safeio import contained
from openscore.sources.base import Inventory, Source
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget

DEFAULT_RUBRICS = ("osai-v3", "osai-v1", "mof", "osaid")
Progress = Callable[[str], None]
#: (bytes done, bytes total) of the weight fingerprint, for a caller that draws its own progress line
ByteProgress = Callable[[int, int], None]


def _quiet(_: str) -> None:
    """Progress sink when the caller wants none."""


def inventory_document(inventory: Inventory) -> dict:
    return {
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256, "lfs": f.lfs, "present": f.present}
            for f in sorted(inventory.files, key=lambda f: f.path)
        ],
        "refs": sorted(inventory.refs),
        "gated": inventory.gated,
    }


def _byte_progress(say: Progress) -> Callable[[int, int], None]:
    """Adapt the fingerprint's (bytes done, bytes total) callback to one line per quarter of the work."""
    last = [-1]

    def report(done: int, total: int) -> None:
        quarter = (4 * done) // total if total else 4
        if quarter != last[0]:
            last[0] = quarter
            say(f"fingerprint: {done / 2**20:,.1f} of {total / 2**20:,.1f} MiB read")

    return report


def _within_deadline(source, report: ByteProgress) -> ByteProgress:
    """The fingerprint's progress callback, checking the source's per-audit deadline after each tensor
    (local weights are read without a request that could time out)."""
    def tick(done: int, total: int) -> None:
        if source.deadline is not None:
            source.deadline.check("fingerprinting weights")
        report(done, total)

    return tick


def _weights(source, inventory, *, sample: bool, read_budget, progress: Progress,
             byte_progress: ByteProgress | None, notes: list[str], cpu: AbstractContextManager):
    """Headers, layout and provenance; what cannot be computed for benign reasons goes to `notes`."""
    from openscore.formats import read_checkpoint

    progress("reading checkpoint headers")
    try:
        headers = read_checkpoint(source, inventory)  # hostile files raise InvalidCheckpoint here
    except GatedRepo as exc:
        notes.append(f"weights not readable: {exc} (pass --token with access): layout and provenance skipped")
        return None, None, None
    if not headers.tensors:
        notes.append("no readable weight headers (weights absent or no weight files): layout and provenance skipped")
        return headers, None, None
    from openscore.layout import build_layout

    from openscore.provenance import analyse

    with cpu:  # the CPU-heavy part: a batch holds one of its CPU slots here
        progress(f"layout of {len(headers.tensors)} tensors")
        try:
            layout = build_layout(headers)
        except NothingToAnalyse as exc:
            notes.append(f"layout: {exc}")
            return headers, None, None
        progress("provenance" + (": LFS hashes only (weights absent)" if headers.weights_absent
                                 else ": fingerprinting weights"))
        try:
            provenance = analyse(source, headers, layout, sample=sample, read_budget=read_budget,
                                  progress=_within_deadline(source, byte_progress or _byte_progress(progress)))
        except (InvalidHubResponse, HubServerError, DeadlineExceeded):
            raise  # a hostile or failing server: no verdict rather than one built on wrong bytes
        except (NothingToAnalyse, SourceError) as exc:
            notes.append(f"provenance: {exc}")
            provenance = None
    progress(_bytes_line(source, headers, provenance))
    return headers, layout, provenance


def _bytes_line(source, headers, provenance=None) -> str:
    """What the audit read of the weights: ranged bytes received from the Hub, against the checkpoint's size,
    and what a read budget left out."""
    total = sum(t.end - t.start for t in headers.tensors if t.start is not None and t.end is not None)
    done = getattr(source, "bytes_transferred", None)
    budget = _budget_note(provenance.details.get("read_budget"), total) if provenance is not None else ""
    if done is None:
        return f"weights: local files ({total / 2**20:,.1f} MiB of tensors){budget}"
    share = f" ({100 * done / total:.2f} %)" if total else ""
    return f"weights: read {done / 2**20:,.2f} of {total / 2**20:,.1f} MiB from the Hub{share}{budget}"


def _budget_note(record: dict | None, total: int) -> str:
    """`; read budget 2 %: 36 of 211 matrices sampled (layers ...)`, and when the budget was exceeded, by how much."""
    if not record:
        return ""
    note = (f"; read budget {record['budget']}: {record['sampled']} of {record['matrices']} matrices sampled "
            f"({len(record['layers'])} of {record['layer_count']} layers)")
    if record["header_bytes"] > record["limit"] and total:
        note += (f"; header alone {100 * record['header_bytes'] / total:.2f} % > budget: read the smallest sound "
                 "subset")
    if record["exceeded"]:
        note += f"; budget exceeded by {record['exceeded'] / 2**20:,.2f} MiB"
    return note


def audit(
    spec: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    weights: bool = True,
    sample: bool = False,
    rubrics: Sequence[str] | None = None,
    overrides_dir: Path | None = None,
    progress: Progress | None = None,
    byte_progress: ByteProgress | None = None,
    linked: bool = False,
    identity: str | None = None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> AuditReport:
    """Audit one model (`org/name[@rev]`, a folder, or `sample:NAME`) against every rubric asked for.

    `progress` gets one line per step; the fingerprint's bytes go to `byte_progress` when given, else a
    line per quarter through `progress`. `linked` also reads what the card links outside the repository
    (openscore.evidence.linked). `identity` (`org/name[@rev]`) names a local folder
    (openscore.sources.identity). `read_budget` bounds a sampled fingerprint's reads (openscore/read_budget.py)."""
    from openscore.sources import open_source

    rubric_dimensions(rubrics)  # a typo fails before any download
    source = open_source(spec, endpoint=endpoint, token=token, identity=identity)
    return audit_source(source, token=token, weights=weights, sample=sample, rubrics=rubrics,
                        overrides_dir=overrides_dir, progress=progress, byte_progress=byte_progress, linked=linked,
                        read_budget=read_budget)


def rubric_dimensions(rubrics: Sequence[str] | None) -> dict[str, list[str]]:
    """rubric id -> its dimension ids, for the rubrics asked for (default: all four); ConfigError on a typo."""
    from openscore.rubrics import load_rubric

    return {r: load_rubric(r).dimension_ids for r in dict.fromkeys(rubrics or DEFAULT_RUBRICS)}


def audit_source(
    source: Source,
    *,
    token: str | bool | None = None,
    weights: bool = True,
    sample: bool = False,
    rubrics: Sequence[str] | None = None,
    overrides_dir: Path | None = None,
    progress: Progress | None = None,
    byte_progress: ByteProgress | None = None,
    linked: bool = False,
    cpu: AbstractContextManager | None = None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> AuditReport:
    """Audit an opened source (see `audit`). `cpu` is held around the CPU-heavy part (layout and
    fingerprint), so a batch of network-bound audits keeps its CPU work within the cores."""
    say = progress or _quiet
    dimensions = rubric_dimensions(rubrics)
    rubric_ids = list(dimensions)
    inventory = source.inventory()
    ref = inventory.ref
    overrides = load_overrides(overrides_dir, ref.repo_id, dimensions)
    say(f"{ref.key}: {len(inventory.files)} files")
    linked_cfg = LinkedConfig() if linked and not linked_offline() else None
    collected = collect(source, inventory, endpoint=ref.location if ref.kind == "hub" else None, token=token,
                        linked=linked_cfg)
    bundle = collected.bundle
    notes: list[str] = []
    headers = layout = provenance = None
    if weights:
        headers, layout, provenance = _weights(source, inventory, sample=sample, read_budget=read_budget, progress=say,
                                                byte_progress=byte_progress, notes=notes, cpu=cpu or nullcontext())
    else:
        notes.append("weights not read (--no-weights): layout and provenance skipped")
    licence = evaluate_licence(bundle)
    base = resolve_base(bundle, provenance)
    inherited = None
    if linked_cfg is not None:
        inherited, inherit_out = inherit_card(source, inventory, bundle, provenance, linked_cfg, token)
        if inherit_out is not None:
            bundle.collectors["inherited-card"] = inherit_out
    ctx = GradingContext(bundle=bundle, licence=licence, base=base, dataset_licences=dataset_licences(bundle),
                         inherited=inherited)
    say("grading")
    results = {r: grade_rubric(r, ctx, overrides.get(r)) for r in rubric_ids}
    evidence_doc = {name: out.model_dump(mode="json") for name, out in sorted(bundle.collectors.items())}
    evidence_doc["pipeline"] = {"weights_read": weights, "notes": notes, "base": _base_document(base)}
    with gc_paused():  # the layout document holds objects per tensor (gcpause)
        return AuditReport(
            tool=f"openscore@{__version__}",
            source=SourceInfo.of(ref, location=ref.location if ref.kind == "hub" else Path(ref.location).name),
            inventory=inventory_document(inventory),
            layout=layout.model_dump(mode="json") if layout is not None else None,
            provenance=provenance,
            licence=licence,
            card=collected.card,
            evidence=evidence_doc,
            rubrics=results,
            default_rubric="osai-v3" if "osai-v3" in results else rubric_ids[0],
            findings=all_findings(bundle, licence, base, provenance, headers),
        )


def _base_document(base) -> dict | None:
    if base is None:
        return None
    return {"family": base.family, "repo_id": base.repo_id, "via": base.via,
            "licence": base.licence.id if base.licence else None}


def report_path(report: AuditReport, reports_dir: Path) -> Path:
    """`<reports_dir>/<org>/<name>/<sha>.json`, refused unless every part is one clean name inside the folder."""
    org, _, name = report.source.repo_id.partition("/")
    sha = report.source.sha
    if not org or not name or ".." in (org, name) or "/" in name:
        raise UsageError(f"cannot file a report for repo id {report.source.repo_id!r}")
    if not sha or sha in (".", "..") or "/" in sha or "\\" in sha or "\0" in sha:
        raise UsageError(f"cannot file a report for commit {sha!r}")
    relative = Path(org) / name / f"{sha}.json"
    contained(reports_dir, relative)
    return Path(reports_dir) / relative


def write_report(report: AuditReport, reports_dir: Path) -> Path:
    """Write `<reports_dir>/<org>/<name>/<sha>.json` atomically; equal reports give equal bytes."""
    return write_text(report_path(report, reports_dir), report.to_json(), under=reports_dir)
