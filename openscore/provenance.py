"""Provenance verdict of one checkpoint: which registered base its weights come from, and how.

The audit calls `analyse`. Order of evidence, cheapest first:
  1. weight-file sha256s (LFS metadata) equal to a registry entry's: identical, no weight read;
  2. an adapter repository: the declared base, with the adapter's shapes checked against it;
  3. weights absent (pointers only): inconclusive, with the reason;
  4. the weight fingerprint (through the fingerprint cache) matched against the registry entries that
     share its shapes (openscore.weights.registry); two unrelated entries both inherited from means a
     merge, and both are reported as parents. A derivative of a registered descendant is reported
     against the root of the registry's lineage (`details.lineage` keeps the chain).
The model's own entry (same repo id) is never a match. What the repository declares (card `base_model`,
`base_model_relation`, config `_name_or_path`, adapter `base_model_name_or_path`) is reported beside
what was detected, never instead of it, and checked against the declared base's own weights
(openscore.declared_base: `declared_base_check`).
"""

from __future__ import annotations

import re

from openscore import __version__
from openscore.formats.records import CheckpointHeaders
from openscore.report import DeclaredBaseCheck, Evidence, ProvenanceResult
from openscore.sources.base import Source
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget
from openscore.weights.compare import Comparison, compare
from openscore.weights.fingerprint import Fingerprint, Progress
from openscore.weights.registry import RELATED, Match, Registry

EXTRACTOR = f"openscore.provenance@{__version__}"
_CARD = "README.md"
#: weight files recognised by name when only Git-LFS pointers are present (no header to read)
_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth")
_LORA = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.default)?\.weight$")


def _declared(source: Source, headers: CheckpointHeaders) -> tuple[str | None, str | None, list[Evidence]]:
    """(declared base, declared relation, evidence) from the card, the adapter config and config.json."""
    from openscore.evidence.card import parse_front_matter, split_front_matter
    from openscore.evidence.card_content import declared_base

    key = source.ref.key
    evidence: list[Evidence] = []
    base = relation = None
    text = source.read_text(_CARD)
    if text:
        fm_text, first_line, _ = split_front_matter(text)
        try:
            front, spans = parse_front_matter(fm_text, first_line) if fm_text is not None else ({}, {})
        except (ValueError, Exception):  # noqa: BLE001 - a broken card is the card collector's finding
            front, spans = {}, {}
        value = front.get("base_model")
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value:
            base = value
            lo, hi = spans.get("base_model", (None, None))
            evidence.append(Evidence(source=key, file=_CARD, locator=f"L{lo}" if lo == hi else f"L{lo}-L{hi}",
                                     snippet=f"base_model: {value}"[:300], rule="provenance/declared-base",
                                     extractor=EXTRACTOR))
        if isinstance(front.get("base_model_relation"), str):
            relation = front["base_model_relation"]
        if base is None:  # no `base_model:` field: a "Base model: org/name" bullet in the card's text
            for value, line, snippet in declared_base(text)[:1]:
                base = value
                evidence.append(Evidence(source=key, file=_CARD, locator=f"L{line}", snippet=snippet[:300],
                                         rule="provenance/declared-base", extractor=EXTRACTOR))
    adapter_base = (headers.adapter or {}).get("base_model_name_or_path")
    if isinstance(adapter_base, str) and adapter_base:
        base = base or adapter_base
        relation = relation or "adapter"
        evidence.append(Evidence(source=key, file="adapter_config.json", locator="/base_model_name_or_path",
                                 snippet=adapter_base[:300], rule="provenance/declared-base", extractor=EXTRACTOR))
    name = (headers.config or {}).get("_name_or_path")
    if isinstance(name, str) and name and "/" in name and not name.startswith(("/", ".")):
        base = base or name
        evidence.append(Evidence(source=key, file="config.json", locator="/_name_or_path", snippet=name[:300],
                                 rule="provenance/declared-base", extractor=EXTRACTOR))
    return base, relation, evidence


def _adapter_result(headers: CheckpointHeaders, declared: str | None, base_fp: Fingerprint | None,
                    why: str, entry_id: str | None) -> ProvenanceResult:
    """An adapter alone: the declared base, and whether every LoRA pair fits that base's tensor shapes
    (`base_fp`: the declared base's fingerprint, from the registry, the cache or sampled reads; else `why`)."""
    pairs: dict[str, dict[str, list[int]]] = {}
    for rec in headers.tensors:
        m = _LORA.match(rec.name)
        if m and rec.shape:
            pairs.setdefault(m.group("module"), {})[m.group("part")] = list(rec.shape)
    rank = next((p["A"][0] for p in pairs.values() if "A" in p), None)
    details = {"adapter": {"modules": len(pairs), "rank": rank}}
    if base_fp is None:
        return ProvenanceResult(
            verdict="inconclusive", base=None, details={**details, "reason": (
                f"adapter of {declared or 'an undeclared base'}; its shapes could not be checked: {why}")},
            transformations=[f"LoRA adapter on {len(pairs)} modules (rank {rank})"],
        )
    shapes = {t.name[: -len(".weight")] if t.name.endswith(".weight") else t.name: t.shape
              for t in base_fp.tensors}
    bad = sorted(module for module, p in pairs.items()
                 if "A" not in p or "B" not in p or shapes.get(module) != [p["B"][0], p["A"][1]])
    details["adapter"]["inconsistent_modules"] = bad
    if bad or not pairs:
        return ProvenanceResult(
            verdict="inconclusive", base=None, details={**details, "reason": (
                f"adapter declares {entry_id}, but {len(bad)} of {len(pairs)} modules do not fit its shapes")},
        )
    return ProvenanceResult(
        verdict="derived", base=entry_id, details={**details, "reason": (
            f"adapter of {entry_id} (declared; {why}); all {len(pairs)} LoRA modules fit the base's shapes")},
        transformations=[f"LoRA adapter on {len(pairs)} modules (rank {rank})"],
    )


def _merge_parents(registry: Registry, related: list[Match]) -> list[str]:
    """Two or more related entries that are not related to each other: a merge of their lineages."""
    parents: list[str] = []
    for m in related:
        if m.comparison.verdict not in ("derived", "partially-derived"):
            continue
        fp = registry.fingerprint(m.id)
        if all(compare(registry.fingerprint(p), fp).verdict not in RELATED for p in parents):
            parents.append(m.id)
    return parents if len(parents) > 1 else []


def _weights_evidence(key: str, best: Match) -> list[Evidence]:
    strongest = sorted((t for t in best.comparison.tensors if t.reference), key=lambda t: -(t.z or 0))[:5]
    return [
        Evidence(source=key, file=None, locator=t.candidate,
                 snippet=(f"{t.statistic}: r={t.r:.4f}" + (f" z={t.z:.1f}" if t.z is not None else "")
                          + f" vs {best.id}:{t.reference}")[:300],
                 rule=f"provenance/weights/{best.comparison.verdict}", extractor=EXTRACTOR)
        for t in strongest
    ]


def _from_comparison(c: Comparison) -> dict:
    return dict(
        verdict=c.verdict, confidence=c.confidence, transformations=list(c.transformations),
        layer_similarity=list(c.layer_similarity),
    )


def analyse(
    source: Source,
    headers: CheckpointHeaders,
    layout,
    *,
    registry: Registry | None = None,
    sample: bool = False,
    device: str | None = None,
    progress: Progress | None = None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> ProvenanceResult:
    """The provenance verdict of `source` against the registry (shipped + user entries by default); a sampled
    fingerprint is read within `read_budget` (openscore/read_budget.py)."""
    from openscore.declared_base import check_declared, declared_fingerprint
    from openscore.weights.cache import fingerprint_source

    registry = registry if registry is not None else Registry.load()
    declared, relation, declared_evidence = _declared(source, headers)
    key, own = source.ref.key, source.ref.repo_id
    # the declared base is fetched from the Hub the model came from; a local audit reads registry and cache only
    hub = ({"endpoint": source.endpoint, "token": source.token, "fetch": True} if source.ref.kind == "hub"
           else {"fetch": False})
    hub["read_budget"] = read_budget
    inventory = source.inventory()
    weight_files = sorted({t.file for t in headers.tensors}) or sorted(
        f.path for f in inventory.files if f.path.endswith(_WEIGHT_SUFFIXES) and not f.path.startswith("adapter_"))
    file_hashes = {f: (inventory.get(f).sha256 if inventory.get(f) else None) for f in weight_files}
    compared: dict = {}  # registry id -> Comparison already made (the declared base is often the match)

    def result(candidate=lambda: None, **fields) -> ProvenanceResult:
        fields.setdefault("details", {})
        evidence = declared_evidence + fields.pop("evidence", [])
        detected = fields.get("base") if fields.get("verdict") in RELATED else None
        check = fields.pop("declared_base_check", None) or check_declared(
            declared, own, registry, candidate, detected, compared=compared, **hub)
        return ProvenanceResult(declared_base=declared, declared_relation=relation, evidence=evidence,
                                declared_base_check=check, **fields)

    same_files = registry.match_files(file_hashes, exclude=own)
    if same_files is not None:
        return result(
            candidate=lambda: registry.fingerprint(same_files.id),
            verdict="identical", base=same_files.id, confidence=1.0,
            details={"reason": f"every weight file's sha256 equals {same_files.id}'s; no weight was read",
                     "files": file_hashes},
            evidence=[Evidence(source=key, file=f, locator="sha256", snippet=sha, rule="provenance/file-hash",
                               extractor=EXTRACTOR) for f, sha in sorted(file_hashes.items())],
        )
    if headers.adapter is not None:
        base_fp, why = declared_fingerprint(declared, registry, **hub) if declared else (None, "no base declared")
        adapter = _adapter_result(headers, declared, base_fp, why, registry.resolve(declared or "") or declared)
        check = None
        if declared:
            status = ("confirmed" if adapter.verdict == "derived" else
                      "not-checkable" if base_fp is None else "contradicted")
            check = DeclaredBaseCheck(status=status, reason=adapter.details["reason"], base=declared,
                                      matched=adapter.base)
        return result(declared_base_check=check, **{k: v for k, v in adapter.model_dump().items() if k not in (
            "declared_base", "declared_relation", "declared_base_check", "evidence")})
    if headers.weights_absent:
        return result(verdict="inconclusive", details={
            "reason": "the weight files are Git-LFS pointers only; no registry entry has these file hashes"})
    if not any(t.start is not None and t.end is not None for t in headers.tensors):
        formats = ", ".join(headers.formats) or "none"
        return result(verdict="inconclusive", details={
            "reason": f"no weight tensor openscore can read by byte range (formats: {formats}; pickle files are "
                      "never unpickled); no registry entry has these file hashes"})
    fp: Fingerprint = fingerprint_source(source, headers=headers, layout=layout, device=device, sample=sample,
                                         progress=progress, read_budget=read_budget)
    candidate = lambda: fp  # noqa: E731
    matches, n_compared, skipped = registry.match_counted(fp, top=5, exclude=own)
    compared.update({m.id: m.comparison for m in matches})
    details = {"matches": [{"id": m.id, "verdict": m.comparison.verdict, "score": m.comparison.score,
                            "max_z": m.comparison.max_z, "confidence": m.comparison.confidence} for m in matches],
               "bytes_read": fp.bytes_read, "bytes_total": fp.bytes_total, "sample": sample,
               "entries_compared": n_compared, "entries_skipped": skipped}
    if fp.budget is not None:  # the names of the matrices left unread stay in the fingerprint
        details["read_budget"] = fp.budget.model_dump(mode="json", exclude={"skipped"})
    if not matches:
        reason = ("the reference registry is empty" if not skipped else
                  f"no registry entry shares its tensor shapes ({skipped} entries of other architectures)")
        return result(candidate=candidate, verdict="inconclusive", details={**details, "reason": reason})
    best = matches[0]
    related = [m for m in matches if m.comparison.verdict in RELATED]
    if related:
        c = best.comparison
        parents = _merge_parents(registry, related)
        fields = _from_comparison(c)
        if parents:
            fields["transformations"].append("merge of " + " and ".join(parents))
        lineage = registry.lineage(best.id)
        base = best.id if c.verdict not in ("derived", "partially-derived") else lineage[0]
        details.update(reason=c.reason, renames=[list(r) for r in c.renames], layer_map=c.layer_map,
                       vocab_rows_added=c.vocab_rows_added, layers_dropped=c.layers_dropped,
                       layers_duplicated=c.layers_duplicated, permuted=c.permuted)
        if len(lineage) > 1:
            details.update(lineage=lineage, nearest=best.id)
        return result(candidate=candidate, base=base, parents=parents, details=details,
                      evidence=_weights_evidence(key, best), **fields)
    clones = [m for m in matches if m.comparison.verdict == "architecture-clone"]
    if clones:
        c = clones[0].comparison
        details.update(reason=c.reason, same_architecture_as=[m.id for m in clones])
        return result(candidate=candidate, verdict="architecture-clone", confidence=c.confidence, details=details)
    if all(m.comparison.verdict == "independent" for m in matches):
        details["reason"] = f"independent of all {n_compared} registry entries of its shapes"
        if skipped:
            details["reason"] += f" ({skipped} of other architectures not compared)"
        return result(candidate=candidate, verdict="independent",
                      confidence=min(m.comparison.confidence for m in matches), details=details)
    details["reason"] = best.comparison.reason
    return result(candidate=candidate, verdict="inconclusive", confidence=best.comparison.confidence,
                  details=details)
