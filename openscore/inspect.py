"""`openscore inspect`: what a repository holds, read from headers only (no weight is loaded).

The Inspection document is versioned (INSPECT_SCHEMA_VERSION) and its JSON schema ships in
openscore/schemas/inspect.schema.json (`openscore schema inspect`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from openscore import __version__
from openscore.errors import NothingToAnalyse
from openscore.formats import assert_safe, read_checkpoint
from openscore.layout import Layout, RenameReport, build_layout, find_renames
from openscore.report import SourceInfo
from openscore.sources import open_source
from openscore.sources.base import Inventory

INSPECT_SCHEMA_VERSION = "1.0"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InventoryFile(_Doc):
    path: str
    size: int
    sha256: str | None = None
    lfs: bool = False
    present: bool = True  # False: only a Git-LFS pointer is there


class InventoryDoc(_Doc):
    files: list[InventoryFile]
    refs: list[str] = Field(default_factory=list)
    gated: Literal["auto", "manual", False] = False

    @classmethod
    def of(cls, inventory: Inventory) -> "InventoryDoc":
        return cls(
            files=[InventoryFile(path=f.path, size=f.size, sha256=f.sha256, lfs=f.lfs, present=f.present)
                   for f in sorted(inventory.files, key=lambda f: f.path)],
            refs=sorted(inventory.refs),
            gated=inventory.gated if inventory.gated in ("auto", "manual") else False,
        )


class PickleScanDoc(_Doc):
    file: str
    dangerous: list[str] = Field(default_factory=list)
    suspicious: list[str] = Field(default_factory=list)
    error: str | None = None  # the scanner could not read it: not known to be safe


class Inspection(_Doc):
    schema_version: Literal["1.0"] = INSPECT_SCHEMA_VERSION
    tool: str
    source: SourceInfo
    inventory: InventoryDoc
    weights_absent: bool
    formats: list[Literal["safetensors", "pickle", "gguf"]]
    layout: Layout
    renames: RenameReport
    pickle_scans: list[PickleScanDoc] = Field(default_factory=list)
    bytes_read: int  # bytes read to get the headers (ranged reads on the Hub)

    def to_json(self) -> str:
        from openscore.atomic import canonical_json

        return canonical_json(self.model_dump(mode="json"))


def inspect(spec: str, *, endpoint: str | None = None, token: str | bool | None = None) -> Inspection:
    """Inventory, formats, layout fingerprint and renames of `spec` (Hub id[@rev], folder or sample:NAME).

    Raises UnsafePickle when a pickle imports dangerous globals, NothingToAnalyse when the repository
    has neither weights, nor an index, nor a config.json.
    """
    source = open_source(spec, endpoint=endpoint, token=token)
    inventory = source.inventory()
    headers = read_checkpoint(source, inventory)
    assert_safe(headers)
    if not headers.tensors and not headers.config and not headers.formats:
        raise NothingToAnalyse(f"{source.ref.key}: nothing to inspect (no weight files, no index, no config.json); "
                               f"`openscore audit --no-weights` reads its card and licence")
    layout = build_layout(headers)
    return Inspection(
        tool=f"openscore@{__version__}",
        source=SourceInfo.of(source.ref),
        inventory=InventoryDoc.of(inventory),
        weights_absent=headers.weights_absent,
        formats=list(headers.formats),
        layout=layout,
        renames=find_renames(layout),
        pickle_scans=[PickleScanDoc(file=s.file, dangerous=list(s.dangerous), suspicious=list(s.suspicious),
                                    error=s.error) for s in headers.pickle_scans],
        bytes_read=headers.bytes_read,
    )


def render_text(result: Inspection) -> str:
    """A readable summary for a terminal."""
    layout, cfg = result.layout, result.layout.config
    files = result.inventory.files
    absent = sum(1 for f in files if not f.present)
    lines = [f"{result.source.repo_id}@{result.source.sha} ({result.source.kind})"]
    lines.append(f"files:      {len(files)}" + (f" ({absent} present only as LFS pointers)" if absent else ""))
    lines.append(f"formats:    {', '.join(result.formats) or 'none'}")
    lines.append(f"family:     {layout.family} (from {layout.family_source})"
                 + (f", names follow the {layout.scheme} scheme" if layout.scheme else ""))
    geometry = [
        ("hidden", cfg.hidden_size), ("layers", cfg.num_layers), ("heads", cfg.num_heads),
        ("kv heads", cfg.num_kv_heads), ("head dim", cfg.head_dim), ("ffn", cfg.intermediate_size),
        ("vocab", cfg.vocab_size), ("experts", cfg.num_experts), ("positions", cfg.max_positions),
        ("rope theta", cfg.rope_theta), ("tied", cfg.tied_embeddings), ("norm", cfg.norm_type),
        ("activation", cfg.activation),
    ]
    shown = ({True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v for _, v in geometry)
    lines.append("config:     " + ", ".join(f"{k} {v}" for (k, raw), v in zip(geometry, shown) if raw is not None))
    sources = sorted({t.shape_source for t in layout.tensors})
    lines.append(f"tensors:    {len(layout.tensors)} (shapes from {', '.join(sources) or '-'}), "
                 f"{len(layout.artefacts)} artefacts, {len(layout.unmapped)} unmapped")
    if layout.params_total is not None:
        by_dtype = ", ".join(f"{d} {n:,}" for d, n in layout.params.items())
        lines.append(f"parameters: {layout.params_total:,} ({by_dtype})")
    lines.append(f"signature:  {layout.signature}")
    lines.append(f"renames:    {result.renames.summary}")
    for kind in result.renames.renamed:
        lines.append(f"  {kind.kind} -> {kind.expected or kind.role} [{kind.role}, {kind.tensors} tensors"
                     + (", placed by name order" if kind.ambiguous else "") + "]")
    if layout.unmapped:
        lines.append("unmapped:   " + ", ".join(layout.unmapped[:5]) + (" ..." if len(layout.unmapped) > 5 else ""))
    if result.pickle_scans:
        flagged = [s.file for s in result.pickle_scans if s.suspicious or s.error]
        lines.append(f"pickles:    {len(result.pickle_scans)} scanned, no dangerous globals"
                     + (f"; not known safe: {', '.join(flagged)}" if flagged else ""))
    for warning in layout.warnings:
        lines.append(f"warning:    {warning}")
    lines.append(f"bytes read: {result.bytes_read:,}")
    return "\n".join(lines) + "\n"
