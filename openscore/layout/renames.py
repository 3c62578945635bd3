"""Rename detection: tensors whose role and shape match a reference but whose names differ.

Without a reference the candidate is compared with the canonical names of the scheme its names
mostly follow; build_layout has already placed the unknown names by structure, so a renamed
kind is one whose role was inferred. With a reference layout, tensors are paired by
(role, block, expert) and compared by shape and name.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from openscore.layout.build import canonical_shape, name_kind
from openscore.layout.models import Layout, LayoutTensor, RenamedKind, RenameReport
from openscore.layout.roles import load_role_map


def find_renames(candidate: Layout, reference: Layout | None = None) -> RenameReport:
    """Which tensor kinds of `candidate` carry another name than the reference's (or its scheme's)."""
    if reference is None:
        return _against_scheme(candidate)
    return _against_layout(candidate, reference)


def _against_scheme(candidate: Layout) -> RenameReport:
    scheme = load_role_map().schemes.get(candidate.scheme or "")
    groups: dict[tuple[str, str], list[LayoutTensor]] = defaultdict(list)
    for t in candidate.tensors:
        if t.role_source != "name":
            groups[(name_kind(t.name), t.role)].append(t)
    renamed = [
        RenamedKind(
            kind=kind, role=role, tensors=len(ts),
            expected=scheme.pattern_for(role) if scheme else None,
            ambiguous=any(t.role_source == "inferred-by-order" for t in ts),
        )
        for (kind, role), ts in sorted(groups.items())
    ]
    present = {t.role for t in candidate.tensors}
    missing = [scheme.pattern_for(r) or r for r in scheme.required if r not in present] if scheme else []
    report = RenameReport(
        family=candidate.family,
        scheme=candidate.scheme,
        reference=f"scheme:{candidate.scheme}" if candidate.scheme else "none",
        renamed=renamed,
        kinds_renamed=len(renamed),
        tensors_renamed=sum(k.tensors for k in renamed),
        tensors_matched=len(candidate.tensors),
        candidate_only=sorted({name_kind(n) for n in candidate.unmapped}),
        reference_only=sorted(missing),
        summary="",
    )
    report.summary = _summary(report)
    return report


def _against_layout(candidate: Layout, reference: Layout) -> RenameReport:
    schemes = load_role_map().schemes

    def index(layout: Layout) -> dict[tuple, LayoutTensor]:
        scheme = schemes.get(layout.scheme or "")
        return {(t.role, t.layer, t.expert): t.model_copy(update={
                    "shape": canonical_shape(t.shape, t.role, scheme) if t.shape is not None else None})
                for t in layout.tensors}

    cand, ref = index(candidate), index(reference)
    renamed: Counter[tuple[str, str, str]] = Counter()
    matched = 0
    for key, t in cand.items():
        other = ref.get(key)
        if other is None or (t.shape is not None and other.shape is not None and t.shape != other.shape):
            continue
        matched += 1
        if t.name != other.name:
            renamed[(name_kind(t.name), name_kind(other.name), t.role)] += 1
    def only(side: dict[tuple, LayoutTensor], other: dict[tuple, LayoutTensor], unmapped: list[str]) -> set[str]:
        return {name_kind(t.name) for k, t in side.items() if k not in other} | {name_kind(n) for n in unmapped}

    cand_only, ref_only = only(cand, ref, candidate.unmapped), only(ref, cand, reference.unmapped)
    kinds = [RenamedKind(kind=k, expected=e, role=r, tensors=n) for (k, e, r), n in sorted(renamed.items())]
    report = RenameReport(
        family=candidate.family,
        scheme=candidate.scheme,
        reference=f"{reference.family} layout ({reference.scheme or 'no known scheme'})",
        renamed=kinds,
        kinds_renamed=len(kinds),
        tensors_renamed=sum(renamed.values()),
        tensors_matched=matched,
        candidate_only=sorted(cand_only),
        reference_only=sorted(ref_only),
        same_geometry=candidate.signature == reference.signature,
        summary="",
    )
    report.summary = _summary(report)
    return report


def _summary(report: RenameReport) -> str:
    head = f"{report.family} layout"
    if report.scheme:
        head += f" ({report.scheme} names)"
    if not report.kinds_renamed:
        body = "no renamed tensor kinds"
    else:
        body = (f"{report.kinds_renamed} tensor kind{'s' if report.kinds_renamed != 1 else ''} renamed "
                f"({report.tensors_renamed} tensors): "
                + ", ".join(f"{k.kind} -> {k.expected or k.role}" for k in report.renamed))
    if report.same_geometry is not None:
        body += "; same geometry" if report.same_geometry else "; different geometry"
    return f"{head}: {body}"
