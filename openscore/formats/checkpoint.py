"""Find a repository's weight files and read their headers into CheckpointHeaders.

Which files form "the checkpoint" follows what transformers loads: the index of a sharded
checkpoint, else the single standard file, else an adapter, else any file of the format. When a
repository carries several formats the preferred one (safetensors, then pickle, then GGUF) supplies
the tensor records and every format present is listed.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from openscore.errors import InvalidCheckpoint
from openscore.formats import gguf_header, onnx, safetensors_header, strict_json
from openscore.formats.index import read_index
from openscore.formats.pickles import is_pickle_file, scan_entry
from openscore.formats.records import CheckpointHeaders, TensorRecord, WeightFormat
from openscore.gcpause import gc_paused
from openscore.sources.base import FileEntry, Inventory, Source

#: format -> (standard index, standard single file, adapter file, suffixes)
_LAYOUTS: dict[WeightFormat, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "safetensors": (
        "model.safetensors.index.json", "model.safetensors", "adapter_model.safetensors", (".safetensors",)
    ),
    "pickle": (
        "pytorch_model.bin.index.json", "pytorch_model.bin", "adapter_model.bin", (".bin", ".pt", ".pth", ".ckpt")
    ),
    "gguf": (None, None, None, (".gguf",)),
    "onnx": (None, "model.onnx", None, (".onnx",)),
}
PREFERENCE: tuple[WeightFormat, ...] = ("safetensors", "pickle", "gguf", "onnx")
#: concurrent header reads of remote shards (their round trips overlap)
HEADER_READ_WORKERS = 8
_GGUF_SPLIT = re.compile(r"^(?P<stem>.*)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")
#: files that use a weight suffix but hold trainer state (still scanned as pickles, never read as weights)
_NOT_WEIGHTS = re.compile(r"(^|/)(training_args|optimizer|scheduler|rng_state[^/]*|scaler)\.(bin|pt|pth)$")


@dataclass(frozen=True)
class _Selection:
    """The files of one format chosen as the checkpoint, with the index that names them (if any)."""

    files: list[FileEntry]
    index_path: str | None = None
    weight_map: dict[str, str] | None = None


def _candidates(inventory: Inventory, fmt: WeightFormat) -> list[FileEntry]:
    suffixes = _LAYOUTS[fmt][3]
    return [f for f in inventory.files if f.path.lower().endswith(suffixes) and not _NOT_WEIGHTS.search(f.path)]


def _root_index(inventory: Inventory, fmt: WeightFormat) -> str | None:
    standard = _LAYOUTS[fmt][0]
    if standard is None:
        return None
    if inventory.get(standard) is not None:
        return standard
    suffix = standard.split(".", 1)[1]  # "safetensors.index.json" / "bin.index.json"
    others = sorted(f.path for f in inventory.files if "/" not in f.path and f.path.endswith("." + suffix))
    return others[0] if others else None


def _select(source: Source, inventory: Inventory, fmt: WeightFormat) -> _Selection | None:
    candidates = _candidates(inventory, fmt)
    index_path = _root_index(inventory, fmt)
    if index_path is not None:
        weight_map = read_index(source, index_path, inventory)
        shards = sorted(set(weight_map.values()))
        files = [inventory.get(p) or FileEntry(p, 0, present=False) for p in shards]  # not downloaded here
        return _Selection(files, index_path, weight_map)
    if not candidates:
        return None
    _, single, adapter, _ = _LAYOUTS[fmt]
    for name in (single, adapter):
        if name is not None and inventory.get(name) is not None:
            return _Selection([inventory.get(name)])
    if fmt == "gguf":
        return _Selection(_gguf_choice(candidates))
    if fmt == "onnx":  # exports and quantisations of one model are alternatives: the plain export, else the largest
        named = [f for f in candidates if f.path.rsplit("/", 1)[-1] == "model.onnx"]
        return _Selection([min(named, key=lambda f: f.path) if named else max(candidates, key=lambda f: (f.size, f.path))])
    top = [f for f in candidates if "/" not in f.path]
    return _Selection(top or candidates)


def _gguf_choice(candidates: list[FileEntry]) -> list[FileEntry]:
    """One model per GGUF repo: quantisations of the same model are alternatives, not parts.

    The largest (highest-precision) variant is read, with its sibling splits when it is split.
    """
    groups: dict[str, list[FileEntry]] = {}
    for entry in candidates:
        m = _GGUF_SPLIT.match(entry.path)
        groups.setdefault(m.group("stem") if m else entry.path, []).append(entry)
    best = max(sorted(groups), key=lambda k: sum(f.size for f in groups[k]))
    return sorted(groups[best], key=lambda f: f.path)


@gc_paused()
def read_checkpoint(source: Source, inventory: Inventory | None = None) -> CheckpointHeaders:
    """Every tensor record of the repository's checkpoint, its config and what its files say.

    Weight files that are only LFS pointers contribute names from the index (shape and dtype None)
    and set `weights_absent`; without an index or readable weights the tensor list is empty and
    callers decide (an audit can still grade the card). Pickles are scanned, never loaded; call
    `assert_safe` on the result to refuse dangerous ones.
    """
    inventory = inventory or source.inventory()
    headers = CheckpointHeaders(
        tensors=[],
        formats=[],
        config=_json_object(source, "config.json"),
        adapter=_json_object(source, "adapter_config.json"),
    )
    selections = {fmt: _select(source, inventory, fmt) for fmt in PREFERENCE}
    present = [fmt for fmt in PREFERENCE if selections[fmt] is not None]
    for fmt in present:
        selection = selections[fmt]
        tensors = _read_format(source, fmt, selection, headers)
        if tensors:
            headers.tensors = tensors
            headers.formats = [fmt] + [f for f in present if f != fmt]
            headers.index = selection.weight_map
            headers.weights_absent = any(not f.present for f in selection.files)
            break
    else:
        headers.formats = present
        headers.weights_absent = any(not f.present for fmt in present for f in selections[fmt].files)
    headers.pickle_scans = [
        scan for f in inventory.files if is_pickle_file(f.path) and (scan := scan_entry(source, f)) is not None
    ]
    return headers


def _read_format(
    source: Source, fmt: WeightFormat, selection: _Selection, headers: CheckpointHeaders
) -> list[TensorRecord]:
    """Tensor records of one format's selected files (headers read where the bytes are present)."""
    by_file: dict[str, list[TensorRecord]] = {}
    readable = [entry for entry in selection.files if entry.present and fmt != "pickle"]
    reader = {"safetensors": safetensors_header.read_header, "onnx": onnx.read_header}.get(fmt, gguf_header.read_header)
    def read(entry: FileEntry):
        return reader(source, entry.path, entry.size)

    if len(readable) > 1 and any(source.local_path(e.path) is None for e in readable):
        # remote shards are independent: their round trips overlap (162 shards, 162 requests);
        # map() keeps file order and raises the first failing file's error in that order
        with ThreadPoolExecutor(max_workers=min(HEADER_READ_WORKERS, len(readable))) as pool:
            results = list(pool.map(read, readable))
    else:  # local files: reading is cheaper than starting threads
        results = [read(e) for e in readable]
    for entry, (header, read) in zip(readable, results):
        if fmt == "safetensors":
            headers.file_metadata[entry.path] = header.metadata
        elif fmt == "gguf" and not headers.gguf_metadata:
            headers.gguf_metadata = header.metadata
        headers.bytes_read += read
        by_file[entry.path] = list(header.tensors)
    if selection.weight_map is not None:
        _check_against_index(selection, by_file)
        read = set(by_file)
        for name, shard in selection.weight_map.items():
            if shard not in read:  # absent, or pickle: the index is all we know
                by_file.setdefault(shard, []).append(TensorRecord(name=name, file=shard, dtype=None, shape=None))
    return [t for path in sorted(by_file) for t in by_file[path]]


def _check_against_index(selection: _Selection, by_file: dict[str, list[TensorRecord]]) -> None:
    """A shard must hold exactly the tensors the index assigns to it."""
    assigned: dict[str, set[str]] = {}
    for name, shard in selection.weight_map.items():
        assigned.setdefault(shard, set()).add(name)
    for path, records in by_file.items():
        expected, found = assigned.get(path, set()), {t.name for t in records}
        if found != expected:
            extra, missing = sorted(found - expected), sorted(expected - found)
            detail = "; ".join(
                part for part in (
                    f"not in the index: {', '.join(extra[:3])}" if extra else "",
                    f"missing from the shard: {', '.join(missing[:3])}" if missing else "",
                ) if part
            )
            raise InvalidCheckpoint(f"{path}: disagrees with {selection.index_path}: {detail}")


def _json_object(source: Source, path: str) -> dict | None:
    doc = strict_json.load_file(source, path)
    if doc is not None and not isinstance(doc, dict):
        raise InvalidCheckpoint(f"{path}: not a JSON object")
    return doc
