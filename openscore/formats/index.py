"""`*.index.json` files of sharded checkpoints: which shard holds which tensor.

Untrusted like any input: bounded in size, `weight_map` must map names to shard files that are in
the repository (paths are relative to the index's own folder, as transformers resolves them).
"""

from __future__ import annotations

import posixpath

from openscore.errors import InvalidCheckpoint
from openscore.formats import strict_json
from openscore.sources.base import Inventory, Source

#: real indexes are under 2 MB (bloom-176B: ~0.5 MB); anything far larger is hostile
MAX_INDEX_BYTES = 32_000_000


def read_index(source: Source, path: str, inventory: Inventory) -> dict[str, str] | None:
    """The index's weight_map as {tensor name: repo-relative shard path}, or None when absent.

    On the Hub every shard must exist; locally, shards missing from the folder count as absent weights.
    """
    doc = strict_json.load_file(source, path, MAX_INDEX_BYTES)
    if doc is None:
        return None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in weight_map.items()
    ):
        raise InvalidCheckpoint(f"{path}: weight_map must be an object mapping tensor names to file names")
    folder = posixpath.dirname(path)
    resolved: dict[str, str] = {}
    for name, shard in weight_map.items():
        full = posixpath.normpath(posixpath.join(folder, shard))
        if shard.startswith("/") or full.startswith("../") or full == "..":
            raise InvalidCheckpoint(f"{path}: shard {shard!r} points outside the repository")
        resolved[name] = full
    missing = sorted({f for f in resolved.values() if inventory.get(f) is None})
    if missing and inventory.ref.kind == "hub":
        # the Hub inventory is the whole repository: a shard it lacks is a broken upload. A local
        # folder may be a metadata-only snapshot, where missing shards just mean weights absent.
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise InvalidCheckpoint(f"{path}: weight_map names files missing from the repository: {shown}")
    return resolved
