"""The reference registry: fingerprints of known base models a candidate is matched against.

Two layers, read in this order (a user entry replaces a shipped one with the same id):
  * shipped entries in openscore/data/registry/ (index.yaml + one fingerprint file per entry);
  * the user's registry folder, `$OPENSCORE_REGISTRY`, else `$OPENSCORE_CACHE/registry`, else
    `~/.cache/openscore/registry`, where `openscore registry add` writes.
Each entry keeps the sha256 of the weight files it was computed from, so a repository whose LFS
hashes equal an entry's is recognised as identical without reading any weight.

Matching at scale: the index keeps each entry's residual width and the distinct (role, shape) of its
matrices, so a candidate is compared only with the entries whose shapes it shares (then, when none of
those is related, with entries of its layout family: pruned widths); the rest cannot share a sketch
and are never loaded. An entry may name its `parent` (a base derived from another, per the curated
list): `lineage` walks those links to the root base. A model is never matched against its own entry.
"""

from __future__ import annotations

import base64
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from openscore.atomic import write_text
from openscore.errors import ConfigError, UsageError
from openscore.resources import package_data
from openscore.safeio import read_bounded
from openscore.weights.compare import Comparison, compare
from openscore.weights.fingerprint import SAMPLE_ROWS, Fingerprint
from openscore.weights.sampling import pick_rows

INDEX_FILE = "index.yaml"
#: a registry index larger than this is refused (500 entries take about 1 MB)
MAX_INDEX_BYTES = 8 << 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(@[A-Za-z0-9._-]+)?$")
#: how strongly each verdict ties a candidate to an entry (ranking of matches)
_RANK = {
    "identical": 0, "renamed-copy": 1, "recast-copy": 2, "derived": 3, "partially-derived": 4,
    "inconclusive": 5, "architecture-clone": 6, "independent": 7,
}
RELATED = frozenset({"identical", "renamed-copy", "recast-copy", "derived", "partially-derived"})


class RegistryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # "org/name" or "org/name@revision"
    fingerprint: str  # file name beside the index
    licence: str | None = None
    source: str  # repo@sha the fingerprint was computed from
    family: str | None = None
    files: dict[str, str | None] = Field(default_factory=dict)  # weight file -> sha256
    meta: dict = Field(default_factory=dict)
    parent: str | None = None  # registry id of the base this one derives from (lineage)
    sample: bool = False  # a sampled fingerprint (`registry sync` reads sampled rows only)
    width: int | None = None  # residual width (embedding columns): candidate selection
    shapes: list[str] = Field(default_factory=list)  # distinct "role:RxC" of its matrices: candidate selection
    probes: list[str] = Field(default_factory=list)  # a few sketch rows ("role:layer:row:fp16 base64"): ranking
    sha256: str | None = None  # of the fingerprint file, in an exported index (verified on pull)

    @field_validator("fingerprint")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        """A file beside the index: the index never names where openscore reads, writes or deletes."""
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
            raise ValueError(f"fingerprint {name[:80]!r} is not a file name beside the index")
        return name


class RegistryIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    entries: list[RegistryEntry] = Field(default_factory=list)


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    licence: str | None = None
    comparison: Comparison


def user_registry_dir() -> Path:
    """`$OPENSCORE_REGISTRY`, else the cache root's `registry` (openscore.weights.cache.cache_root)."""
    if os.environ.get("OPENSCORE_REGISTRY"):
        return Path(os.environ["OPENSCORE_REGISTRY"])
    from openscore.weights.cache import cache_root

    return cache_root() / "registry"


def signature(fp: Fingerprint) -> tuple[int | None, list[str]]:
    """(residual width, sorted distinct "role:RxC" of the matrices): what candidate selection compares."""
    shapes = sorted({f"{t.role}:{t.shape[0]}x{t.shape[1]}" for t in fp.tensors if len(t.shape) == 2})
    embed = [t.shape[1] for t in fp.tensors if t.role == "embed" and len(t.shape) == 2]
    dims = Counter(d for t in fp.tensors if len(t.shape) == 2 for d in t.shape)
    width = embed[0] if embed else (min(dims.most_common(), key=lambda kv: (-kv[1], kv[0]))[0] if dims else None)
    return width, shapes


#: roles probe rows are taken from: not q/k (a GGUF copy may hold them in llama.cpp's rotary row order),
#: not embeddings (vocabulary edits move rows)
PROBE_ROLES = ("mlp_down", "attn_o", "attn_v", "mlp_up", "mlp_gate")
PROBES = 3
#: a probe "passes" at this Fisher z against any layer's same row (one row of up to 128 values; independent
#: models: 7e-6 per comparison, under 0.1 % for 3 probes against 30 layers)
PROBE_Z = 4.5


def _probe_rows(fp: Fingerprint) -> dict[tuple[str, int | None, int], np.ndarray]:
    """(role, layer, row id) -> that row of the direct block, over the rows every fingerprint of a shape
    keeps (the first-ranked sampled rows: full fingerprints keep them too)."""
    out = {}
    for t in fp.tensors:
        if t.role in PROBE_ROLES and "direct" in t.sketch and len(t.shape) == 2:
            rows, block = fp.array(t, "rows"), fp.array(t, "direct")
            shared = set(pick_rows(t.role, t.shape[0], SAMPLE_ROWS).tolist())
            for i, row in enumerate(rows.tolist()):
                if row in shared:
                    out[(t.role, t.layer, row)] = block[i]
    return out


def probes(fp: Fingerprint) -> list[str]:
    """Up to PROBES sketch rows of `fp` as index strings: other roles, and the first, middle and last layers
    (so that a layer-wise merge of this entry still meets one of them)."""
    rows = _probe_rows(fp)
    layers = sorted({k[1] for k in rows if k[1] is not None})
    wanted = [layers[0], layers[len(layers) // 2], layers[-1]] if layers else [None] * PROBES
    chosen = []
    for role in PROBE_ROLES:
        layer = wanted[len(chosen)]
        keys = sorted(k for k in rows if k[0] == role and k[1] == layer)
        if keys:
            chosen.append(keys[0])
        if len(chosen) == PROBES:
            break
    return [f"{r}:{'' if layer is None else layer}:{row}:"
            + base64.b64encode(rows[(r, layer, row)].astype("<f2").tobytes()).decode() for r, layer, row in chosen]


def probe_passes(entry_probes: list[str], rows: dict) -> bool:
    """Whether one of an entry's probe rows correlates with the candidate's same row of that role in any layer
    (z >= PROBE_Z: layers may be dropped, stacked or merged); True when none can be compared (an entry without
    probes, rows the candidate does not keep): such an entry is compared."""
    by_row: dict[tuple[str, int], list[np.ndarray]] = {}
    for (role, _layer, row), values in rows.items():
        by_row.setdefault((role, row), []).append(values.astype(np.float64))
    tested = False
    for text in entry_probes:
        role, _layer, row, data = text.split(":", 3)
        theirs = np.frombuffer(base64.b64decode(data), dtype="<f2").astype(np.float64)
        b = theirs - theirs.mean()
        for mine in by_row.get((role, int(row)), []):
            if len(mine) != len(b) or len(b) < 8:
                continue
            a = mine - mine.mean()
            denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
            if not denom:
                continue
            tested = True
            r = min(max(float((a * b).sum()) / denom, -0.999999), 0.999999)
            if abs(np.arctanh(r)) * np.sqrt(len(a) - 3) >= PROBE_Z:
                return True
    return not tested


def _repo(entry_id: str) -> str:
    return entry_id.split("@", 1)[0]


def parse_index(raw: bytes, file: str) -> RegistryIndex:
    """A registry index from its bytes (a user folder's, or one being pulled): UTF-8 YAML, aliases checked
    before they expand (yamlconfig), validated; anything else is a one-line ConfigError."""
    from openscore.yamlconfig import compose_and_load

    try:
        # libyaml when present: a 500-entry index parses in a third of the pure-Python loader's time
        _, doc = compose_and_load(raw.decode("utf-8"), file, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return RegistryIndex.model_validate(doc or {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        raise ConfigError(f"{file}: invalid registry index ({where}: {err['msg'].removeprefix('Value error, ')})") \
            from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: invalid registry index ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(f"{file}: invalid registry index (nested too deeply)") from None


def _read_index(folder: Path) -> RegistryIndex:
    path = folder / INDEX_FILE
    if not path.exists():
        return RegistryIndex()
    return parse_index(read_bounded(path, MAX_INDEX_BYTES, error=ConfigError, what="registry index"), str(path))


def _slug(entry_id: str) -> str:
    from openscore.weights.cache import slug

    return slug(entry_id)


def write_index(folder: Path, entries: list[RegistryEntry]) -> None:
    index = RegistryIndex(entries=sorted(entries, key=lambda e: e.id))
    write_text(folder / INDEX_FILE, yaml.safe_dump(index.model_dump(mode="json", exclude_defaults=True),
                                                   sort_keys=True))


class Registry:
    """Shipped plus user entries; fingerprints are loaded on first use."""

    def __init__(self, folders: list[Path], user_dir: Path):
        self.user_dir = user_dir
        self._entries: dict[str, tuple[RegistryEntry, Path]] = {}
        for folder in folders:
            for entry in _read_index(folder).entries:
                self._entries[entry.id] = (entry, folder)
        self._loaded: dict[str, Fingerprint] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        """The shipped entries plus the user registry at `path` (default: user_registry_dir())."""
        user = Path(path) if path is not None else user_registry_dir()
        return cls([package_data("registry"), user], user)

    def entries(self) -> list[RegistryEntry]:
        return [entry for entry, _ in sorted(self._entries.values(), key=lambda item: item[0].id)]

    def get(self, entry_id: str) -> RegistryEntry | None:
        item = self._entries.get(entry_id)
        return item[0] if item else None

    def fingerprint(self, entry_id: str) -> Fingerprint:
        if entry_id not in self._loaded:
            entry, folder = self._entries[entry_id]
            self._loaded[entry_id] = Fingerprint.load(folder / entry.fingerprint)
        return self._loaded[entry_id]

    def add(self, fingerprint: Fingerprint, id: str, *, licence: str | None = None, meta: dict | None = None,  # noqa: A002
            parent: str | None = None, allow_sample: bool = False) -> RegistryEntry:
        """Store `fingerprint` under `id` in the user registry (replacing an entry of that id).

        Sampled fingerprints are refused unless `allow_sample` (registry sync, which reads sampled rows
        of the popular bases on purpose)."""
        if not _ID.match(id):
            raise UsageError(f"registry id {id!r}: use `org/name` or `org/name@revision` (letters, digits, . _ -)")
        if fingerprint.sample and not allow_sample:
            raise UsageError("a sampled fingerprint cannot be a registry entry: fingerprint the full checkpoint")
        width, shapes = signature(fingerprint)
        entry = RegistryEntry(
            id=id, fingerprint=f"{_slug(id)}.osfp", licence=licence, source=fingerprint.source,
            family=fingerprint.family, files=dict(fingerprint.files), meta=meta or {}, parent=parent,
            sample=fingerprint.sample, width=width, shapes=shapes, probes=probes(fingerprint),
        )
        fingerprint.save(self.user_dir / entry.fingerprint)
        write_index(self.user_dir, [e for e in _read_index(self.user_dir).entries if e.id != id] + [entry])
        self._entries[id] = (entry, self.user_dir)
        self._loaded[id] = fingerprint
        return entry

    def remove(self, entry_id: str) -> RegistryEntry:
        """Delete a user entry (its fingerprint file too); shipped entries cannot be removed."""
        item = self._entries.get(entry_id)
        if item is None:
            raise UsageError(f"registry id {entry_id!r}: no such entry (see `openscore registry list`)")
        entry, folder = item
        if folder != self.user_dir:
            raise UsageError(f"{entry_id} is shipped with openscore and cannot be removed (a user entry of the "
                             "same id would replace it)")
        write_index(self.user_dir, [e for e in _read_index(self.user_dir).entries if e.id != entry_id])
        (self.user_dir / entry.fingerprint).unlink(missing_ok=True)
        del self._entries[entry_id]
        self._loaded.pop(entry_id, None)
        return entry

    def lineage(self, entry_id: str) -> list[str]:
        """Registered ancestors of `entry_id` through `parent` links, root first, ending with `entry_id`."""
        chain = [entry_id]
        while True:
            entry = self.get(chain[-1])
            parent = self.resolve(entry.parent) if entry is not None and entry.parent else None
            if parent is None or parent in chain:
                return chain[::-1]
            chain.append(parent)

    def resolve(self, name: str) -> str | None:
        """The entry id a name refers to: itself, or `org/name` for the first `org/name@rev`."""
        if name in self._entries:
            return name
        return next((e.id for e in self.entries() if _repo(e.id) == _repo(name)), None)

    def _signature(self, entry: RegistryEntry) -> tuple[int | None, set[str]]:
        if entry.shapes:
            return entry.width, set(entry.shapes)
        width, shapes = signature(self.fingerprint(entry.id))  # an index written before signatures
        return width, set(shapes)

    def candidates(self, fp: Fingerprint, *, exclude: str | None = None) -> tuple[list[list[str]], int]:
        """Tiers of entry ids to compare in order, each only when no entry of the earlier tiers is related:
        entries sharing at least half of `fp`'s matrix shapes whose probe rows correlate with `fp`'s (or that
        cannot be probed), the other entries sharing that many shapes, then entries of its layout family, of
        its residual width or sharing any shape; and how many entries cannot share a sketch (skipped).

        `exclude` is the candidate's own repo id: its entry, and entries whose lineage runs through it (its
        registered descendants), are never candidates."""
        width, shapes = signature(fp)
        wanted = set(shapes)
        rows = _probe_rows(fp)
        close, wider, skipped = [], [], 0
        for entry in self.entries():
            if exclude and _repo(exclude) in {_repo(i) for i in self.lineage(entry.id)}:
                continue  # the model itself, or a registered descendant of it: never its base
            e_width, e_shapes = self._signature(entry)
            shared = len(wanted & e_shapes)
            if wanted and 2 * shared >= len(wanted):
                close.append((not probe_passes(entry.probes, rows), -shared, entry.id))
            elif shared or (entry.family and entry.family == fp.family) or (width and e_width == width):
                wider.append(entry.id)
            else:
                skipped += 1
        close.sort()
        return [[i for failed, _, i in close if not failed], [i for failed, _, i in close if failed], wider], skipped

    def match_counted(self, fp: Fingerprint, top: int = 3, *, exclude: str | None = None) -> tuple[list[Match], int, int]:
        """(the `top` matches, entries compared, entries skipped by shape)."""
        tiers, skipped = self.candidates(fp, exclude=exclude)
        found: list[Match] = []
        for tier in tiers:
            if any(m.comparison.verdict in RELATED for m in found):
                skipped += len(tier)
            else:
                found += [self._compare(i, fp) for i in tier]
        found.sort(key=lambda m: (_RANK[m.comparison.verdict], -(m.comparison.max_z or 0), -m.comparison.score, m.id))
        return found[:top], len(found), skipped

    def match(self, fp: Fingerprint, top: int = 3, *, exclude: str | None = None) -> list[Match]:
        """The `top` entries most strongly related to `fp`, strongest first (see `candidates`)."""
        return self.match_counted(fp, top, exclude=exclude)[0]

    def _compare(self, entry_id: str, fp: Fingerprint) -> Match:
        entry = self.get(entry_id)
        return Match(id=entry_id, licence=entry.licence, comparison=compare(self.fingerprint(entry_id), fp))

    def match_files(self, files: dict[str, str | None], *, exclude: str | None = None) -> RegistryEntry | None:
        """The entry whose weight files have exactly these sha256s (an identical re-upload), if any."""
        wanted = {sha for sha in files.values() if sha}
        if not wanted or len(wanted) != len(files):
            return None
        for entry in self.entries():
            if exclude and _repo(entry.id) == _repo(exclude):
                continue
            known = {sha for sha in entry.files.values() if sha}
            if known and len(known) == len(entry.files) and known == wanted:
                return entry
        return None
