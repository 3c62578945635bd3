"""The weight fingerprint: one streaming pass over a checkpoint's tensors, kept as a few MB.

Per tensor it keeps
  * XXH3-128 content hashes of the raw bytes and of the values rounded to the bf16 and fp16 grids
    (name-independent: a renamed or re-cast copy is found by hash alone);
  * a direct sketch: a fixed sub-block of rows x columns (chosen from the canonical role, never the
    name), compared by centred Pearson correlation at equal indices (survives fine-tuning, casts,
    quantisation, vocabulary rows added, layers dropped or duplicated);
  * two Gram sketches over a fixed subset of the residual-side indices, summed over the other axis
    after normalising each unit: invariant to permutation and per-unit scaling of rows (MLP hidden
    units, attention heads, rotary row order) and of columns respectively.
See docs/provenance.md for why these statistics and how they are compared.
"""

from __future__ import annotations

import json
import math
import re
import mmap
import os
import warnings
from collections.abc import Callable
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from xxhash import xxh3_128
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from openscore.atomic import write_bytes
from openscore.errors import InvalidCheckpoint, NothingToAnalyse, UsageError
from openscore.formats.records import CheckpointHeaders, TensorRecord
from openscore.gcpause import gc_paused
from openscore.layout.roles import is_index
from openscore.read_budget import DEFAULT_READ_BUDGET, BudgetRecord, Matrix, ReadBudget, select
from openscore.safeio import read_bounded
from openscore.sources.base import Source
from openscore.weights import fused, sampling
from openscore.weights.responses import (READERS, RESPONSE_ROLES, ProbePlan, ResponseInputs, probe_plan,
                                         response_inputs, sampled_picks, unit_responses)
from openscore.weights.decode import (FLOAT_DTYPES, INT8_DTYPES, col_span, decode_rows, is_readable, matrix_shape,
                                      row_bytes)

#: 2: per-tensor hashes are BLAKE3 (version 1 used sha256); the field `content` replaces `sha256`
#: 3: the bf16 / fp16 grid hashes cover every CAST_ROW_STRIDE-th row (all of a small tensor), not all rows
#: 4: per-tensor hashes are XXH3-128 (BLAKE3 alone took more CPU than a page-cache read: docs/provenance.md)
#: 5: a column Gram over residual dimensions takes its 48 indices as six aligned runs of 8 (one strided copy)
#: 6: the grid hashes cover every 32nd row, not every 8th (rounding was a third of a 7B-shaped BF16 pass)
#: 7: matrices sketched in [out, in] orientation whatever the storage (Conv1D, a runtime's re-save: `transposed`);
#:    a matrix of at most SKETCH_ALL_BELOW values is sketched whole; unnamed tensors get a role from their shape
#: 8: embed / lm_head of a model at most SKETCH_COLS wide keep ALIGN_ROWS_PER_DIM token rows per residual
#:    dimension (full and sampled): enough shared rows to solve the residual rotation (compare.residual_alignment);
#:    a fused q/k/v or gate/up matrix is sketched as its parts (`part_of`), split by the config (weights/fused.py)
#: 9: a full fingerprint of a pre-norm model wider than SKETCH_COLS keeps, per matrix reading or writing the residual
#:    stream, the token responses of its strongest units (weights/responses.py); version 8 files are still read
#: 10: a sampled fingerprint of such a model reads 2 reading matrices whole and keeps their token responses
#:    (responses.sampled_picks), its probe rows and gains counted in its bytes and its read budget
#: 11: the matrix so read may be a part of a fused one (Phi-3 qkv_proj, InternLM2 wqkv): only that part's rows are
#:    read, and it keeps the part's responses (a version 10 sampled fingerprint of a fused model has none)
FINGERPRINT_VERSION = 11
#: versions this openscore reads: 8 lacks the token responses, 9 has none in sampled fingerprints, 10 none in sampled
#: fingerprints of fused models; compare() then skips them
READABLE_VERSIONS = frozenset({8, 9, 10, FINGERPRINT_VERSION})
#: the grid hashes read rows 0, 32, 64, ...: a cast copy rounds every row, a fine-tune changes nearly every
#: row, and the full content hash still proves byte identity; rounding 1/32 of the values costs 1/32. What
#: it gives up: an edit of k rows that misses every hashed row looks like a cast (31/32)^k of the time
#: (docs/provenance.md, version 6)
CAST_ROW_STRIDE = 32
#: tensors this small have every row on the grid hashes (norms, biases: cheap, and few rows)
CAST_ALL_ROWS_BELOW = 1 << 16
#: the per-tensor hash (recorded in every fingerprint as `hash_algorithm`): fast enough to hash every byte
#: at memory speed, not collision-resistant against a forger; file-level hashes (LFS, lock, verify) stay sha256
HASH_ALGORITHM = "xxh3-128"
METADATA_KEY = "openscore.fingerprint"
#: a fingerprint holds sketches, not weights: far below this even for the largest models
MAX_FINGERPRINT_BYTES = 256 << 20
#: rows and columns of the direct sketch (columns in GGUF-block multiples)
SKETCH_ROWS = 32
#: rows a sampled fingerprint reads per matrix (the first-ranked blocks of the same choice, a subset of a
#: full fingerprint's rows); compare() estimates both Grams from these whole rows (docs/provenance.md)
SAMPLE_ROWS = 16
SKETCH_COLS = 128
#: matrices of at most this many values (64 KB of F32) have all their rows and columns in the direct sketch (full and
#: sampled): a 1 MB checkpoint then compares every value it has instead of a few thousand (power certificate)
SKETCH_ALL_BELOW = 1 << 14
#: the same when sampling by ranged reads (4 KB of F32): a sampled fingerprint stays a sample on small models
SAMPLE_ALL_BELOW = 1 << 10
#: token rows per residual dimension that embed / lm_head keep when their rows are held whole (width at most
#: SKETCH_COLS): orthogonal Procrustes on them aligns a rotated residual basis. 2 per dimension recovered no
#: rotation on stories260K (dim 64, real weights), 4 recovers it from a sampled fingerprint (docs/provenance.md)
ALIGN_ROWS_PER_DIM = 4
#: roles whose token rows are shared by construction between a model and its derivatives: the alignment's data
ALIGN_ROLES = frozenset({"embed", "lm_head"})
#: residual-side indices of each Gram sketch (GRAM_SIZE * (GRAM_SIZE - 1) / 2 entries)
GRAM_SIZE = 48
#: roles whose first axis is shared by construction (token ids, positions), not an arbitrary learned basis
SHARED_AXIS_ROLES = frozenset({"embed", "lm_head", "pos_embed", "type_embed"})
#: roles that write to the residual stream: in [out, in] order their rows are residual dimensions; every
#: other matrix role reads from it (its columns are residual dimensions; embeddings store [vocab, hidden])
RESIDUAL_ROWS_ROLES = frozenset({"attn_o", "mlp_down", "expert_down", "shared_down"})
#: roles whose q/k rows a GGUF conversion reorders (llama.cpp's rotary permutation)
ROPE_ROLES = frozenset({"attn_q", "attn_k"})

#: tensor bytes that may be in flight in the workers (mapped, not yet released)
_LOOKAHEAD_BYTES = 48 << 20
#: tensors that may be in flight, however small (bounds the queue of a checkpoint of many tiny tensors)
_MAX_PENDING = 256
#: small float tensors (_is_small) are fingerprinted in chunks of up to this many tensors or bytes, one worker
#: call per chunk (_small_prints)
_CHUNK_TENSORS = 2048
_CHUNK_BYTES = 1 << 20
#: workers hashing and sketching tensors (one per core of the 2-core machines this is tuned on)
_WORKERS = 2

Progress = Callable[[int, int], None]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TensorPrint(_Model):
    """What the fingerprint keeps of one tensor (its arrays live beside, under `key`)."""

    key: str  # prefix of this tensor's arrays in the fingerprint file
    name: str
    file: str
    role: str
    layer: int | None = None
    shape: list[int]
    dtype: str
    content: str | None = None  # hash (Fingerprint.hash_algorithm) of the raw bytes; None when sampled
    bf16: str | None = None  # hash of the values rounded to bf16 (fp32/fp16/bf16 tensors)
    fp16: str | None = None  # hash of the values rounded to fp16
    constant: bool = False  # every value equal (e.g. a norm of ones): carries no lineage
    sketch: list[str] = Field(default_factory=list)  # which arrays exist: direct, direct_alt, gram_r, gram_c
    residual_gram: str | None = None  # which Gram is indexed by residual dimensions (clean null)
    transposed: bool = False  # stored [in, out]: sketched in [out, in] orientation
    part_of: str | None = None  # a part (q, k, v, gate, up) of this fused tensor: sketched alone, hashed with it


class Fingerprint(_Model):
    """A compact, versioned, name-independent description of a checkpoint's weights."""

    version: int = FINGERPRINT_VERSION
    hash_algorithm: str = HASH_ALGORITHM  # algorithm of the per-tensor hashes (content, bf16, fp16)
    source: str  # repo@sha of what was fingerprinted
    family: str | None = None
    sample: bool = False
    bytes_read: int = 0
    bytes_total: int = 0  # bytes of tensor data in the checkpoint
    #: set when a read budget left matrices unread (openscore/read_budget.py); absent from the file otherwise, so a
    #: fingerprint the budget did not bind is byte-identical to an unbudgeted one
    budget: BudgetRecord | None = None
    files: dict[str, str | None] = Field(default_factory=dict)  # weight file -> sha256 when known
    response_tokens: list[int] = Field(default_factory=list)  # probe token ids of the token responses (version 9)
    tensors: list[TensorPrint] = Field(default_factory=list)
    arrays: dict[str, np.ndarray] = Field(default_factory=dict, exclude=True)

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def array(self, tensor: TensorPrint, kind: str) -> np.ndarray:
        return self.arrays[f"{tensor.key}.{kind}"]

    def to_bytes(self) -> bytes:
        """The fingerprint file; InvalidCheckpoint when the checkpoint's tensors make a header the safetensors
        format refuses (over 100 MB: about 300k tensors)."""
        from safetensors import SafetensorError
        from safetensors.numpy import save

        doc = self.model_dump(mode="json")
        if doc["budget"] is None:
            del doc["budget"]
        header = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        try:
            return save({k: self.arrays[k] for k in sorted(self.arrays)}, metadata={METADATA_KEY: header})
        except SafetensorError as exc:
            raise InvalidCheckpoint(
                f"{self.source}: the fingerprint of {len(self.tensors):,} tensors cannot be written ({exc})"
            ) from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically: a reader never sees half a fingerprint."""
        return write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Fingerprint:
        return cls.from_bytes(read_bounded(path, MAX_FINGERPRINT_BYTES, error=InvalidCheckpoint, what="fingerprint"),
                              str(path))

    @classmethod
    def from_bytes(cls, data: bytes, label: str = "fingerprint") -> Fingerprint:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            arrays = load(data)
            (n,) = np.frombuffer(data[:8], dtype="<u8")
            meta = json.loads(data[8 : 8 + int(n)]).get("__metadata__", {})
            doc = json.loads(meta[METADATA_KEY])
        except (SafetensorError, ValueError, KeyError, TypeError) as exc:
            raise InvalidCheckpoint(f"{label}: not an openscore fingerprint file ({exc})") from None
        if doc.get("version") not in READABLE_VERSIONS or doc.get("hash_algorithm", HASH_ALGORITHM) != HASH_ALGORITHM:
            old = {1: " (sha256 tensor hashes)", 2: " (BLAKE3 tensor hashes)", 3: " (BLAKE3 tensor hashes)",
                   4: " (residual column Gram over single columns)", 5: " (grid hashes over every 8th row)",
                   6: " (matrices sketched in storage orientation)",
                   7: " (32 token rows of embed / lm_head)"}.get(
                doc.get("version"), ""
            )
            raise InvalidCheckpoint(
                f"{label}: fingerprint version {doc.get('version')!r}{old}, this openscore reads version "
                f"{FINGERPRINT_VERSION} ({HASH_ALGORITHM} tensor hashes): fingerprint the checkpoint again"
            )
        try:
            fp = cls.model_validate(doc)
        except ValidationError as exc:
            raise InvalidCheckpoint(f"{label}: invalid fingerprint ({exc.errors()[0]['msg']})") from None
        fp.arrays = arrays
        for t in fp.tensors:
            needed = [f"{t.key}.{kind}" for kind in t.sketch]
            needed += [f"{t.key}.rows", f"{t.key}.cols"] if "direct" in t.sketch else []
            needed += [f"{t.key}.{kind}_ids" for kind in t.sketch if kind.startswith("gram")]
            needed += [f"{t.key}.response_units"] if "responses" in t.sketch else []
            missing = [k for k in needed if k not in arrays]
            if missing:
                raise InvalidCheckpoint(f"{label}: invalid fingerprint (arrays missing: {', '.join(missing[:3])})")
        return fp


def is_fingerprint_file(path: Path) -> bool:
    """True when `path` is a file holding a fingerprint (not a checkpoint)."""
    if not path.is_file() or path.stat().st_size < 16:
        return False
    with open(path, "rb") as fh:
        head = fh.read(64)
    # safetensors writes __metadata__ first; a fingerprint's only metadata key is METADATA_KEY
    return head[8:].startswith(b'{"__metadata__":{"' + METADATA_KEY.encode() + b'"')


# ---------------------------------------------------------------------------------------------
# layout access


class _Placed(NamedTuple):  # a tuple: one is made per tensor
    record: TensorRecord
    role: str
    layer: int | None
    transposed: bool = False  # stored [in, out] (GPT-2 Conv1D)
    #: a fused matrix split by the config: (part role, its rows of the [out, in] matrix) per part
    parts: tuple[tuple[str, np.ndarray], ...] = ()


def residual_gram(role: str) -> str | None:
    """The Gram sketch indexed by residual-stream dimensions ("gram_r": columns, "gram_c": rows) of a matrix
    sketched in [out, in] orientation.

    Summing over the unit axis makes it invariant to permuting and rescaling MLP units and heads; its
    null is clean (independent tiny models: max z 3.5). None for tensors of unknown role (name or shape
    class only: which axis is residual is unknown)."""
    if role.startswith(("unmapped:", "shape:")):
        return None
    return "gram_c" if role in RESIDUAL_ROWS_ROLES else "gram_r"


def gram_kinds(role: str) -> tuple[str, ...]:
    """Both Grams, except over a token or position axis.

    The Gram indexed by units (head dims, MLP neurons) is invariant to residual-stream permutation and
    rotation (W W^T), but rotary pairs and head blocks give every model of an architecture a common
    pattern in it (independent zoo models reach z 5.8), so compare() uses it as positive evidence only.
    A Gram over token ids or positions measures what the data taught (independent models: z 16): never kept."""
    return ("gram_r",) if role in SHARED_AXIS_ROLES else ("gram_r", "gram_c")


def _placements(headers: CheckpointHeaders, layout) -> list[_Placed]:
    """Each weight tensor with its canonical role, layer and storage orientation.

    Orientation: the naming scheme's (GPT-2 Conv1D), else the config's: a matrix whose shape is the
    transpose of its role's [out, in] shape is stored transposed, and when every non-square matrix of the
    checkpoint is, the square ones are too (a runtime's re-save transposes all). Tensors no name map knows
    get a role from their shape (unmapped_role)."""
    roles: dict[str, tuple[str, int | None]] = {}
    for item in getattr(layout, "tensors", None) or ():
        roles[item.name] = (item.role or item.name, item.layer)
    by_scheme = _transposed_roles(layout)
    expected = _expected_shapes(layout)
    splits = _fused_orders(layout)
    skipped = {getattr(a, "name", a) for a in (getattr(layout, "artefacts", None) or ())}
    found = []
    for rec in headers.tensors:
        if rec.name in skipped or rec.start is None or rec.end is None or rec.shape is None or rec.dtype is None:
            continue
        role, layer = roles.get(rec.name) or unmapped_role(rec.name, list(rec.shape), expected)
        found.append((rec, role, layer))
    flips: dict[tuple, bool | None] = {}  # (shape, role) -> _flipped: layers repeat a few shapes
    for rec, role, _ in found:
        if role not in by_scheme and role not in SHARED_AXIS_ROLES and (tuple(rec.shape), role) not in flips:
            flips[tuple(rec.shape), role] = _flipped(list(rec.shape), expected.get(role))
    decided = [f for f in flips.values() if f is not None]
    all_flipped = bool(decided) and all(decided)
    placed = []
    for rec, role, layer in found:
        if role in by_scheme or rec.transposed:
            transposed = True
        elif len(rec.shape) != 2 or role in SHARED_AXIS_ROLES:
            transposed = False
        else:
            flip = flips[tuple(rec.shape), role]
            transposed = flip if flip is not None else all_flipped
        placed.append(_Placed(rec, role, layer, transposed, _parts(role, list(rec.shape), transposed, splits)))
    placed.sort(key=lambda p: (p.record.file, p.record.start, p.record.name))
    return placed


def _fused_orders(layout) -> tuple[dict[str, str], dict[str, int]] | None:
    """(row order per fused role, config symbols) of the layout's naming scheme, or None without a config."""
    config = getattr(layout, "config", None)
    if config is None:
        return None
    from openscore.layout.roles import load_role_map

    scheme = load_role_map().schemes.get(getattr(layout, "scheme", None) or "")
    return (scheme.fused if scheme is not None else {}), config.symbols()


def _parts(role: str, shape: list[int], transposed: bool, splits) -> tuple[tuple[str, np.ndarray], ...]:
    """The parts of a fused matrix by the config (weights/fused.py), or () to sketch it whole."""
    if role not in fused.PARTS or splits is None or len(shape) != 2:
        return ()
    orders, symbols = splits
    rows = shape[1] if transposed else shape[0]
    return tuple(fused.part_rows(role, orders.get(role, "contiguous"), symbols, rows) or ())


def _flipped(shape: list[int], want: list[int] | None) -> bool | None:
    """True when a non-square `shape` is the transpose of the expected [out, in] shape, False when it is that
    shape, None when it cannot tell (square, unknown, or neither)."""
    if want is None or len(shape) != 2 or len(want) != 2 or want[0] == want[1]:
        return None
    if shape == want:
        return False
    return True if shape == want[::-1] else None


def _expected_shapes(layout) -> dict[str, list[int]]:
    """[out, in] shape of every 2-D role the layout's config determines."""
    config = getattr(layout, "config", None)
    if config is None:
        return {}
    from openscore.layout.build import expected_shape
    from openscore.layout.roles import load_role_map

    rm = load_role_map()
    symbols = config.symbols()
    out = {}
    # roles of other architectures whose shape the config happens to determine (experts of a dense model,
    # BERT's pooler, fused projections) would make every guess ambiguous: only the family's own roles
    family = rm.families.get(getattr(layout, "family", None) or "")
    own = set()
    for scheme in (family.schemes if family is not None else ()):
        found = rm.schemes.get(scheme)
        own |= set(found.role_order) if found is not None else set()
    for role in rm.roles:
        if own and role not in own:
            continue
        shape = expected_shape(rm, role, symbols)
        if shape is not None and len(shape) == 2:
            out[role] = shape
    return out


#: the first number in a tensor name: its block index when the name map does not know the name
_FIRST_NUMBER = re.compile(r"(?<![A-Za-z])(\d+)(?![A-Za-z])")


def unmapped_role(name: str, shape: list[int], expected: dict[str, list[int]]) -> tuple[str, int | None]:
    """(role, layer) of a tensor no name map knows, from its shape and the config.

    The role whose [out, in] shape it has, when exactly one role of the config has it (else the one whose
    transposed shape it has, when exactly one); else `shape:RxC` (the sorted dimensions), which compare() pairs with every reference matrix of that
    shape. Vectors and tensors of no known shape stay `unmapped:NAME` (they never decide a verdict)."""
    match = _FIRST_NUMBER.search(name)
    layer = int(match.group(1)) if match and is_index(match.group(1)) else None
    if len(shape) != 2:
        return f"unmapped:{name}", None
    roles = [role for role in expected if role not in ("lm_head", "attn_qkv", "mlp_gate_up")]
    as_stored = sorted(role for role in roles if shape == expected[role])
    reversed_ = sorted(role for role in roles if shape == expected[role][::-1])
    fits = as_stored if as_stored else reversed_  # storage in [out, in] order is the default
    if len(fits) == 1:
        return fits[0], (None if fits[0] in SHARED_AXIS_ROLES else layer)
    return "shape:{}x{}".format(*sorted(shape, reverse=True)), layer


def _transposed_roles(layout) -> frozenset[str]:
    """Roles the layout's naming scheme stores as [in, out] (roles.yaml `transposed`)."""
    scheme = getattr(layout, "scheme", None)
    if not scheme:
        return frozenset()
    from openscore.layout.roles import load_role_map

    found = load_role_map().schemes.get(scheme)
    return frozenset(found.transposed) if found is not None else frozenset()


def _head_counts(headers: CheckpointHeaders) -> dict[str, int]:
    """attn_q / attn_k head counts of a GGUF file, needed to undo its rotary row order."""
    meta = headers.gguf_metadata or {}
    arch = meta.get("general.architecture")
    if not arch:
        return {}
    heads = meta.get(f"{arch}.attention.head_count")
    kv = meta.get(f"{arch}.attention.head_count_kv", heads)
    if not isinstance(heads, int) or not isinstance(kv, int):
        return {}
    return {"attn_q": heads, "attn_k": kv}


def gguf_rope_rows(rows: np.ndarray, n_head: int, total: int) -> np.ndarray:
    """File rows holding canonical (HF order) `rows` of a q/k matrix llama.cpp converted.

    llama.cpp's `permute` interleaves the two rotary halves of every head: HF row h*hd + t*hd/2 + j
    is stored at h*hd + 2j + t."""
    hd = total // n_head
    half = hd // 2
    h, rest = np.divmod(rows, hd)
    t, j = np.divmod(rest, half)
    return h * hd + 2 * j + t


# ---------------------------------------------------------------------------------------------
# the pass


#: roundings done through float32: bf16 values are exact in float32, so bf16 -> float32 -> fp16 rounds once, as
#: torch's direct cast does (same bits, NaNs included: a test pins it), and runs 2.2x faster
_VIA_FLOAT32 = frozenset({(torch.bfloat16, torch.float16)})


def _bytes_of(values: torch.Tensor) -> np.ndarray:
    """A 16-bit contiguous CPU tensor as an array XXH3 reads as bytes (no copy; empty tensors too)."""
    return values.view(torch.int16).numpy()


def _on_grid(values: torch.Tensor, target: torch.dtype) -> torch.Tensor:
    """`values` rounded to `target` (round to nearest even), contiguous on the CPU; a tensor stored on that
    grid is its own rounding."""
    if values.dtype != target:
        values = (values.float() if (values.dtype, target) in _VIA_FLOAT32 else values).to(target)
    return values.contiguous().cpu()


def _scan(data, matrix: torch.Tensor) -> tuple[str, str, str]:
    """(content, bf16, fp16) hashes of one float matrix.

    The content hash is one XXH3 call over all the stored bytes (outside the GIL); the grid hashes cover
    every CAST_ROW_STRIDE-th row (all rows of a small tensor), gathered by one strided copy and rounded by
    torch: 1/32 of the values, so no second full pass over memory. The same operations on CPU and GPU."""
    stride = 1 if matrix.numel() < CAST_ALL_ROWS_BELOW else CAST_ROW_STRIDE
    picked = matrix[::stride]
    grids = (xxh3_128(_bytes_of(_on_grid(picked, t))).hexdigest() for t in (torch.bfloat16, torch.float16))
    return (xxh3_128(data).hexdigest(), *grids)


@lru_cache(maxsize=64)
def _triu(n: int) -> torch.Tensor:
    """Flat indices of the strict upper triangle of an n x n matrix (row-major)."""
    i, j = torch.triu_indices(n, n, offset=1)
    return i * n + j


def _gram(x: torch.Tensor, unit_axis: int) -> np.ndarray:
    """Upper triangle of sum_i u_i u_i^T / |u_i|^2 / n over the n units u_i along `unit_axis` of `x`
    (a zero unit adds nothing).

    Invariant to any permutation and per-unit scaling of the units. Taken in the orientation `x` has (rows
    as units for the column Gram, columns for the row Gram): a transposed view costs a strided copy."""
    x = x.float()
    inv = x.square().sum(1 - unit_axis, keepdim=True).rsqrt_().nan_to_num_(nan=0.0, posinf=0.0)
    units = x * inv
    gram = (units.T @ units if unit_axis == 0 else units @ units.T).div_(max(1, x.shape[unit_axis])).cpu()
    return torch.take(gram, _triu(gram.shape[0])).to(torch.float16).numpy()


def _index(ids: np.ndarray, device: torch.device) -> torch.Tensor:
    """`ids` as a torch index (shares the array's memory on CPU: indices are only read)."""
    return torch.from_numpy(np.asarray(ids, dtype=np.int64)).to(device)


def _columns(matrix: torch.Tensor, ids: np.ndarray, run: int) -> torch.Tensor:
    """matrix[:, ids]; ids in aligned runs of `run` (sampling.pick_gram) are one strided copy of whole runs."""
    rows, cols = matrix.shape
    if run == 1 or cols % run or len(ids) % run:  # pick_gram gives whole runs, or a prefix of the axis
        return matrix.index_select(1, _index(ids, matrix.device))
    picked = matrix.reshape(rows, cols // run, run).index_select(1, _index(ids[::run] // run, matrix.device))
    return picked.reshape(rows, len(ids))


class _Reader:
    """Bytes of tensors: a memory map for local files (pages dropped after use), Range reads otherwise."""

    def __init__(self, source: Source):
        self.source = source
        self.bytes_read = 0
        self._file: str | None = None
        self._mm: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._size = 0

    def open(self, file: str) -> None:
        self.close()
        self._file = file
        path = self.source.local_path(file)
        if path is not None:
            with open(path, "rb") as fh:
                self._size = os.fstat(fh.fileno()).st_size
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if self._size else None
                self._view = memoryview(self._mm) if self._mm is not None else None

    def close(self) -> None:
        if self._mm is not None:
            try:
                self._view.release()  # tensor views sliced from it keep the map until they go
                self._mm.close()
            except BufferError:
                # a tensor view of the map is still referenced (a finished worker task not yet dropped): the
                # map is unmapped when the last view goes; its pages were already released. No gc.collect()
                # here: a full collection costs more (80 ms measured) than hashing a 100 MB shard
                pass
        self._mm = self._view = None

    def read(self, start: int, length: int):
        if self._mm is None:
            data = self.source.read_range(self._file, start, length)
        else:
            if start + length > self._size:
                raise InvalidCheckpoint(
                    f"{self._file}: truncated: tensor data ends at byte {start + length}, file has {self._size}"
                )
            data = self._view[start : start + length]
        if len(data) != length:
            raise InvalidCheckpoint(f"{self._file}: short read at byte {start}: wanted {length}, got {len(data)}")
        self.bytes_read += length
        return data

    def decode(self, data, rec: TensorRecord, count: int, width: int, device: str, first: int) -> torch.Tensor:
        """`count` stored rows of `rec` from their bytes, the first being stored row `first`."""
        return decode_rows(data, rec.dtype, count, width, device, rec.dequant, first)

    def read_file(self, file: str, start: int, length: int) -> bytes:
        """A ranged read of any file (sampling reads rows, never whole files)."""
        data = self.source.read_range(file, start, length)
        if len(data) != length:
            raise InvalidCheckpoint(f"{file}: short read at byte {start}: wanted {length}, got {len(data)}")
        self.bytes_read += length
        return data

    def release(self, start: int, length: int) -> None:
        """Drop the pages of a processed tensor so resident memory stays near one tensor."""
        if self._mm is not None and hasattr(mmap, "MADV_DONTNEED") and length:
            page = mmap.PAGESIZE
            lo = start - start % page
            self._mm.madvise(mmap.MADV_DONTNEED, lo, min(self._size, start + length) - lo)


def _sketch_ids(role: str, rows: int, cols: int, keep_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the direct sketch: every one of a small matrix (SKETCH_ALL_BELOW, or
    SAMPLE_ALL_BELOW when sampling); ALIGN_ROWS_PER_DIM token rows per dimension of a narrow embedding,
    the same ones full and sampled."""
    if rows * cols <= (SAMPLE_ALL_BELOW if keep_rows == SAMPLE_ROWS else SKETCH_ALL_BELOW):
        return sampling.pick_rows(role, rows, rows), sampling.pick_cols(role, cols, cols)
    if role in ALIGN_ROLES and cols <= SKETCH_COLS:
        keep_rows = max(keep_rows, ALIGN_ROWS_PER_DIM * cols)
    return sampling.pick_rows(role, rows, keep_rows), sampling.pick_cols(role, cols, SKETCH_COLS)


def _sketch_direct(
    fetch_rows: Callable[[np.ndarray], torch.Tensor], role: str, rows: int, cols: int, keep_rows: int = SKETCH_ROWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row_ids, col_ids = _sketch_ids(role, rows, cols, keep_rows)
    got = fetch_rows(row_ids)
    block = got.index_select(1, _index(col_ids, got.device))
    return row_ids, col_ids, block.float().cpu().numpy()


def fingerprint(
    source: Source,
    headers: CheckpointHeaders,
    layout,
    *,
    device: str | None = None,
    sample: bool = False,
    progress: Progress | None = None,
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET,
) -> Fingerprint:
    """Fingerprint every weight tensor in one pass; `sample=True` reads only the sketched rows, within
    `read_budget` (headers included: `headers.bytes_read`) when given (openscore/read_budget.py).

    Raises InvalidCheckpoint when a file is truncated or a tensor's bytes disagree with its header."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to torch here")
    threads = torch.get_num_threads()
    # torch's intra-op pool spin-waits on these short ops and starves the workers (measured: 5-10x slower
    # on 2 cores); one torch thread in each of the workers uses the cores better
    torch.set_num_threads(1)
    # the pass makes no reference cycles, but its many small allocations trigger collections that walk every
    # object torch created (8 % of the CPU time in a perf profile): collect after it instead
    try:
        with gc_paused():
            return _fingerprint(source, headers, layout, device, sample, progress, read_budget if sample else None)
    finally:
        torch.set_num_threads(threads)


def _fingerprint(source, headers, layout, device, sample, progress, read_budget) -> Fingerprint:
    placed = _placements(headers, layout)
    if not placed:
        raise NothingToAnalyse(f"{source.ref.key}: no weight tensor with known bytes to fingerprint")
    heads = _head_counts(headers) if "gguf" in headers.formats else {}
    inventory = source.inventory()
    files = sorted({p.record.file for p in placed})
    fp = Fingerprint(
        source=source.ref.key,
        family=getattr(layout, "family", None),
        sample=sample,
        bytes_total=sum(p.record.end - p.record.start for p in placed),
        files={f: (inventory.get(f).sha256 if inventory.get(f) else None) for f in files},
    )
    skipped: set[int] = set()
    probes, whole = probe_plan(placed, SKETCH_COLS), {}
    if sample:
        probes, whole = _response_picks(placed, probes)  # matrices a sampled pass reads whole
    if read_budget is not None:
        for item in placed:
            _check_size(item)  # before the plan decodes anything
        fp.budget, skipped, whole = _budget_plan(placed, heads, read_budget, headers.bytes_read, fp.bytes_total,
                                                 probes, whole)
    reader = _Reader(source)
    # the probe rows and norm gains are read ahead of the pass: by a full one uncounted in bytes_read (a few hundred
    # KB the pass reads again), by a sampled one counted, and only when it reads matrices whole to rank their units
    if sample:
        responses = response_inputs(probes, reader.read_file, device) if whole else None
    else:
        responses = response_inputs(probes, source.read_range, device)
    if responses is not None:
        fp.response_tokens = responses.tokens.tolist()
    done = 0

    def add(items: list[_Placed], results: list[tuple[list[TensorPrint], dict]]) -> None:
        """Record the prints of `items` (a fused matrix has one per part besides its own), then report
        progress (once per chunk of small tensors)."""
        nonlocal done
        for item, (prints, arrays) in zip(items, results):
            fp.tensors.extend(prints)
            fp.arrays.update(arrays)
            done += item.record.end - item.record.start
        if progress is not None:
            progress(done, fp.bytes_total)

    # each tensor is hashed and sketched by a worker while the next ones are mapped: up to _LOOKAHEAD_BYTES
    # in flight keeps both cores busy; never past the current file (one shard mapped at a time). Small float
    # tensors go to a worker together, a chunk of them in one future (_small_prints), so a checkpoint of
    # 300k tiny tensors costs a few vectorised calls per chunk instead of a dozen torch calls per tensor.
    # (their bytes are counted as they come and go: re-summing the queue per tensor was quadratic)
    pending: deque[tuple[list[_Placed], Future]] = deque()
    in_flight = 0
    chunk: list[tuple[_Placed, str, memoryview]] = []
    chunk_bytes = 0

    def finish_oldest() -> None:
        nonlocal in_flight
        items, future = pending.popleft()
        results = future.result()
        add(items, results if isinstance(results, list) else [results])
        in_flight -= sum(item.record.end - item.record.start for item in items)
        reader.release(items[0].record.start, items[-1].record.end - items[0].record.start)

    def submit(items: list[_Placed], future: Future, size: int) -> None:
        nonlocal in_flight
        pending.append((items, future))
        in_flight += size
        while len(pending) > _WORKERS and (in_flight > _LOOKAHEAD_BYTES or len(pending) > _MAX_PENDING):
            finish_oldest()

    def flush_chunk() -> None:
        nonlocal chunk, chunk_bytes
        if chunk:
            submit([item for item, _, _ in chunk], pool.submit(_small_prints, chunk, device, heads), chunk_bytes)
            chunk, chunk_bytes = [], 0

    # OpenMP's thread count is per thread: a pool thread would start at the core count and spin a team
    # against the other worker (two threads of sgemm scaled 1.2x instead of 1.9x, measured)
    workers = ThreadPoolExecutor(max_workers=_WORKERS, initializer=torch.set_num_threads, initargs=(1,))
    with workers as pool, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        current = None
        for index, item in enumerate(placed):
            rec = item.record
            key = f"t{index:05d}"
            count = _check_size(item)
            if sample:
                known = responses.rows if responses is not None and item is probes.embed else None
                add([item], [_unread_print(item, key) if index in skipped else
                             _sampled_print(reader, item, key, device, heads, responses, known, whole.get(index))])
                continue
            if rec.file != current:
                flush_chunk()
                while pending:
                    finish_oldest()
                reader.open(rec.file)
                current = rec.file
            size = rec.end - rec.start
            data = reader.read(rec.start, size)
            if _is_small(item, count, heads) and not (responses is not None and item.role in RESPONSE_ROLES):
                chunk.append((item, key, data))
                chunk_bytes += size
                if len(chunk) >= _CHUNK_TENSORS or chunk_bytes >= _CHUNK_BYTES:
                    flush_chunk()
                continue
            flush_chunk()
            submit([item], pool.submit(_full_print, data, item, key, device, heads, responses), size)
        flush_chunk()
        while pending:
            finish_oldest()
        reader.close()
    fp.bytes_read = reader.bytes_read
    if not any("responses" in t.sketch for t in fp.tensors):
        fp.response_tokens = []  # no pre-norm block (BERT): nothing the probes serve
    return fp


def _readable(rec: TensorRecord) -> bool:
    """Values can be decoded: floats, GGUF quantised types, 8-bit integers with a scale (ONNX)."""
    return is_readable(rec.dtype) or (rec.dequant is not None and rec.dtype in INT8_DTYPES)


def _check_size(item: _Placed) -> int:
    """The tensor's value count, once its bytes are checked to hold them."""
    rec = item.record
    rows, cols = matrix_shape(rec.shape)
    if _readable(rec) and rows * row_bytes(rec.dtype, cols) != rec.end - rec.start:
        raise InvalidCheckpoint(
            f"{rec.file}: {rec.name}: {rec.end - rec.start} bytes do not hold {rec.dtype} {list(rec.shape)}"
        )
    return rows * cols


def _is_small(item: _Placed, count: int, heads: dict) -> bool:
    """A tensor of `count` values _small_prints fingerprints: a float dtype, at most SKETCH_ALL_BELOW values
    (sketched whole, every row on the grid hashes; none: hashes of no bytes), not fused, no GGUF rotary
    alternative."""
    return (count <= SKETCH_ALL_BELOW and item.record.dtype in FLOAT_DTYPES and not item.parts
            and not (heads and item.role in ROPE_ROLES and heads.get(item.role)))


def _small_prints(chunk: list[tuple[_Placed, str, memoryview]], device: str, heads: dict) -> list[tuple]:
    """What _full_print gives for each of many small tensors (_is_small), from a few calls over the chunk.

    A small tensor is sketched whole: its direct sketch is the matrix itself in [out, in] order, so no Gram;
    its grid hashes cover every row. The chunk is cast once per dtype and hashed slice by slice, and its
    prints are validated in one call. Casts round finite values to nearest even whether torch runs its
    vectorised or its scalar loop, but NaN payloads may differ between the two: a tensor holding a NaN is
    fingerprinted on its own."""
    found: list[tuple | None] = [None] * len(chunk)
    by_dtype: dict[str, list[int]] = {}
    for i, (item, _, data) in enumerate(chunk):
        if len(data):
            by_dtype.setdefault(item.record.dtype, []).append(i)
        else:  # no values: hashes of no bytes, no sketch (as _full_print)
            found[i] = ({**_print_fields(item, chunk[i][1]), "content": _NOTHING, "bf16": _NOTHING,
                         "fp16": _NOTHING, "constant": True}, {})
    for dtype, picked in by_dtype.items():
        values = torch.frombuffer(bytearray(b"".join(chunk[i][2] for i in picked)), dtype=FLOAT_DTYPES[dtype])
        floats = values.float().numpy()
        sizes = np.array([len(chunk[i][2]) for i in picked], dtype=np.int64) // values.element_size()
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        nan = np.logical_or.reduceat(np.isnan(floats), starts)
        # a matrix is constant when its float32 sketch is; a vector when its values are (doubles compared as such)
        constant = {
            precision: np.minimum.reduceat(array, starts) == np.maximum.reduceat(array, starts)
            for precision, array in (("block", floats), ("values", values.numpy() if dtype == "F64" else floats))
        }
        bf16, fp16 = (_bytes_of(_on_grid(values, t)) for t in (torch.bfloat16, torch.float16))
        for j, i in enumerate(picked):
            item, key, data = chunk[i]
            if nan[j]:
                found[i] = _full_print(data, item, key, device, heads)
                continue
            lo, hi = int(starts[j]), int(starts[j] + sizes[j])
            flat = bool(constant["block" if len(item.record.shape) >= 2 else "values"][j])
            found[i] = _small_print(item, key, data, floats[lo:hi], bf16[lo:hi], fp16[lo:hi], flat)
    fields = [f[0] for f in found if isinstance(f[0], dict)]
    prints = iter(_PRINTS.validate_python(fields))
    return [([next(prints)], arrays) if isinstance(doc, dict) else (doc, arrays) for doc, arrays in found]


_NOTHING = xxh3_128(b"").hexdigest()
#: validates a chunk's prints in one call (a third cheaper than one TensorPrint(...) each)
_PRINTS = TypeAdapter(list[TensorPrint])


def _small_print(item: _Placed, key: str, data, floats: np.ndarray, bf16: np.ndarray, fp16: np.ndarray,
                 constant: bool) -> tuple[dict, dict]:
    """The fields of a small tensor's print (not yet validated) and its arrays."""
    rec = item.record
    doc = _print_fields(item, key)
    doc["content"], doc["bf16"], doc["fp16"] = xxh3_128(data).hexdigest(), xxh3_128(bf16).hexdigest(), \
        xxh3_128(fp16).hexdigest()
    doc["constant"] = constant
    arrays: dict[str, np.ndarray] = {}
    if len(rec.shape) < 2:
        return doc, arrays
    doc["residual_gram"] = residual_gram(item.role)
    if constant:
        return doc, arrays
    rows, cols = matrix_shape(rec.shape)
    matrix = floats.reshape(rows, cols)
    if item.transposed:
        rows, cols, matrix = cols, rows, matrix.T
    arrays[f"{key}.rows"] = np.arange(rows, dtype=np.int32)
    arrays[f"{key}.cols"] = np.arange(cols, dtype=np.int32)
    arrays[f"{key}.direct"] = np.ascontiguousarray(matrix) if item.transposed else matrix.copy()
    doc["sketch"] = ["direct"]
    return doc, arrays


def _print_fields(item: _Placed, key: str) -> dict:
    rec = item.record
    return {"key": key, "name": rec.name, "file": rec.file, "role": item.role, "layer": item.layer,
            "shape": list(rec.shape), "dtype": rec.dtype, "transposed": item.transposed and len(rec.shape) == 2}


def _new_print(item: _Placed, key: str) -> TensorPrint:
    return TensorPrint(**_print_fields(item, key))


def _part_print(tp: TensorPrint, index: int, role: str, rows: np.ndarray, cols: int) -> TensorPrint:
    """The print of one part of a fused matrix ([out, in]): sketched on its own, hashed with the whole."""
    return TensorPrint(key=f"{tp.key}p{index}", name=f"{tp.name}[{role}]", file=tp.file, role=role, layer=tp.layer,
                       shape=[len(rows), cols], dtype=tp.dtype, part_of=tp.name)


def _full_print(data, item: _Placed, key: str, device: str, heads: dict, responses: ResponseInputs | None = None
                ) -> tuple[list[TensorPrint], dict]:
    """Hashes and sketches of one tensor from all its bytes (runs in a worker: hashing, torch's copies and
    products release the GIL or are short); a fused matrix's parts are sketched instead of the whole."""
    rec = item.record
    shape = tuple(rec.shape)
    rows, cols = matrix_shape(shape)
    tp = _new_print(item, key)
    arrays: dict[str, np.ndarray] = {}
    if rec.dtype in FLOAT_DTYPES:
        values = _full_values(data, rec.dtype, rows, cols, device)  # a view of the bytes on CPU: no copy
        tp.content, tp.bf16, tp.fp16 = _scan(data, values)
    else:
        tp.content = xxh3_128(data).hexdigest()
        if not _readable(rec):
            return [tp], arrays
        values = decode_rows(data, rec.dtype, rows, cols, device, rec.dequant)
    if not values.numel():  # a zero-element tensor: hashed as no bytes, no values to sketch (no signal)
        tp.constant = True
        return [tp], arrays
    if len(shape) < 2:
        lo, hi = torch.aminmax(values.float() if values.element_size() == 1 else values)  # no fp8 aminmax
        tp.constant = bool(lo == hi)
        return [tp], arrays
    matrix = values.reshape(rows, cols)
    matrix = matrix.T.contiguous() if item.transposed else matrix
    if not item.parts:
        _sketch_matrix(tp, arrays, matrix, item, heads, responses)
        return [tp], arrays
    prints = [tp]
    for index, (role, part_rows) in enumerate(item.parts):
        part, part_arrays = _part_print(tp, index, role, part_rows, matrix.shape[1]), {}
        _sketch_matrix(part, part_arrays, matrix.index_select(0, _index(part_rows, matrix.device)),
                       item._replace(role=role, parts=()), heads, responses)
        prints.append(part)
        arrays.update(part_arrays)
    return prints, arrays


def _gram_run(kind: str, residual: str | None) -> int:
    """Index run length of a Gram: whole runs for a column Gram over residual dimensions (sampling.GRAM_RUN)."""
    return sampling.GRAM_RUN if kind == "gram_r" == residual else 1


def _gram_ids(role: str, kind: str, length: int, run: int) -> np.ndarray | None:
    """Indices of a Gram sketch over an axis of `length`, or None when the axis is too short to give one."""
    ids = sampling.pick_gram(role, kind, length, GRAM_SIZE, run)
    return ids if len(ids) >= 4 else None


def _sketch_matrix(tp: TensorPrint, arrays: dict, matrix: torch.Tensor, item: _Placed, heads: dict,
                   responses: ResponseInputs | None = None) -> None:
    """The direct sketch and both Grams of a matrix, and its token responses when it reads or writes a wide
    residual stream."""
    rows, cols = matrix.shape
    key = tp.key

    def fetch(ids: np.ndarray) -> torch.Tensor:
        return matrix.index_select(0, _index(ids, matrix.device))

    _add_direct(tp, arrays, fetch, item.role, rows, cols, heads)
    tp.residual_gram = residual_gram(item.role)
    block = arrays[f"{key}.direct"]
    # a constant matrix (or one whose sampled block is) carries no lineage: no sketch to match on
    tp.constant = bool(block.size and block.min() == block.max())
    if tp.constant:
        arrays.clear()
        tp.sketch = []
        return
    found = None if responses is None else unit_responses(matrix, item.role, item.layer, responses)
    if found is not None:
        arrays[f"{key}.response_units"], arrays[f"{key}.responses"] = found
        tp.sketch.append("responses")
    if block.size == rows * cols:
        return  # sketched whole: compare() takes both Grams from the block itself, exactly
    for kind in gram_kinds(item.role):
        run = _gram_run(kind, tp.residual_gram)
        ids = _gram_ids(item.role, kind, cols if kind == "gram_r" else rows, run)
        if ids is None:
            continue
        arrays[f"{key}.{kind}_ids"] = ids
        if kind == "gram_r":
            arrays[f"{key}.{kind}"] = _gram(_columns(matrix, ids, run), unit_axis=0)
        else:
            arrays[f"{key}.{kind}"] = _gram(fetch(ids), unit_axis=1)
        tp.sketch.append(kind)


def _sampled_print(reader: _Reader, item: _Placed, key: str, device: str, heads: dict,
                   responses: ResponseInputs | None = None, known: dict[int, torch.Tensor] | None = None,
                   whole: tuple[int, ...] | None = None) -> tuple[list[TensorPrint], dict]:
    """The direct sketch of a matrix (or of each part of a fused one) from its SAMPLE_ROWS rows alone, fetched
    by ranged reads (stored rows `known` already read are not fetched again). With `whole`, the rows of the parts it
    names (() for an unfused matrix: all of them) are read whole, one read per run (_whole_rows), and with
    `responses` the matrix or those parts keep their token responses too, the ones a full fingerprint keeps."""
    rec = item.record
    shape = tuple(rec.shape)
    rows, cols = matrix_shape(shape)
    tp = _new_print(item, key)
    arrays: dict[str, np.ndarray] = {}
    if not _readable(rec) or len(shape) < 2 or not rows * cols:
        return [tp], arrays  # hashes need every byte; 1-D and zero-element tensors carry no lineage
    width = cols  # of a stored row
    stride = row_bytes(rec.dtype, width)
    # the bytes of a stored row the sketch uses: from the block of its first column to that of its last (a
    # transposed matrix uses whole stored rows); the rest of a run's first and last rows is not fetched
    # (the parts of a fused matrix each take their own columns: the span of all of them)
    spans = [_col_range(role, len(part_rows), cols) for role, part_rows in item.parts] or [
        _col_range(item.role, rows, cols)]
    lo, hi = (0, stride) if tp.transposed else col_span(rec.dtype, min(a for a, _ in spans), max(b for _, b in spans))
    got = dict(known or {})  # stored rows already read (a GGUF q/k's two row orders share some; probe rows)

    def stored_rows(ids: np.ndarray) -> torch.Tensor:
        for run in _runs(np.array([i for i in ids.tolist() if i not in got], dtype=np.int64)):
            buf = bytearray(len(run) * stride)  # bytes left out stay zero: columns the sketch never takes
            buf[lo : len(buf) - stride + hi] = reader.read_file(
                rec.file, rec.start + int(run[0]) * stride + lo, len(buf) - stride + hi - lo)
            got.update(zip(run.tolist(), reader.decode(buf, rec, len(run), width, device, int(run[0]))))
        return torch.stack([got[i] for i in ids.tolist()])

    for run in _runs(_whole_rows(item, whole, rows)):  # the sketch's rows come from them too
        data = bytearray(reader.read_file(rec.file, rec.start + int(run[0]) * stride, len(run) * stride))
        got.update(zip(run.tolist(), reader.decode(data, rec, len(run), width, device, int(run[0]))))
    if tp.transposed:
        rows, cols = cols, rows
    if not item.parts:
        targets = [(tp, item.role, np.arange(rows))]
    else:
        targets = [(_part_print(tp, i, role, part_rows, cols), role, part_rows)
                   for i, (role, part_rows) in enumerate(item.parts)]
    for target, role, canonical in targets:
        fetch = lambda ids, canonical=canonical: stored_rows(canonical[ids])  # noqa: E731
        if tp.transposed:
            # canonical rows are stored columns: read the stored rows the sketch's columns need (whole blocks
            # of 32), and place them at those columns of the canonical rows asked for
            col_ids = _sketch_ids(role, len(canonical), cols, SAMPLE_ROWS)[1]
            block = stored_rows(col_ids)  # [len(col_ids), canonical rows]

            def fetch(ids: np.ndarray, block=block, col_ids=col_ids, canonical=canonical) -> torch.Tensor:
                out = torch.zeros((len(ids), cols), dtype=block.dtype, device=block.device)
                out[:, _index(col_ids, block.device)] = block.index_select(1, _index(canonical[ids], block.device)).T
                return out

        _add_direct(target, arrays, fetch, role, len(canonical), cols, heads, SAMPLE_ROWS)
        target.residual_gram = residual_gram(role)
    if responses is not None and whole is not None:
        # the full pass's matrices: [out, in] (a transposed one made contiguous), a part's rows in its own order
        if tp.transposed:
            full = torch.stack([got[i] for i in range(cols)]).T.contiguous()
            pick = lambda ids: (full if len(ids) == len(full)  # noqa: E731
                                else full.index_select(0, _index(ids, full.device)))
        else:
            pick = lambda ids: torch.stack([got[i] for i in ids.tolist()])  # noqa: E731
        for target, role, canonical in ([targets[i] for i in whole] if whole else targets):
            found = unit_responses(pick(canonical), role, item.layer, responses)
            if found is not None:
                arrays[f"{target.key}.response_units"], arrays[f"{target.key}.responses"] = found
                target.sketch.append("responses")
    return [tp] + [t for t, _, _ in targets if t is not tp], arrays


def _whole_rows(item: _Placed, whole: tuple[int, ...] | None, rows: int) -> np.ndarray:
    """Stored rows a sampled print reads whole for token responses (`whole`: _sampled_print's): none without
    `whole`; all of an unfused or transposed matrix (a part of a transposed one is a column range of every stored
    row); else the sorted rows of the parts named, so a fused matrix is read no further than its part."""
    if whole is None:
        return np.zeros(0, dtype=np.int64)
    if not whole or item.transposed:
        return np.arange(rows)
    return np.unique(np.concatenate([item.parts[i][1] for i in whole]))


def _response_picks(placed: list[_Placed], probes: ProbePlan | None
                    ) -> tuple[ProbePlan | None, dict[int, tuple[int, ...]]]:
    """(`probes` reduced to the gains the picks need, {index of `placed`: the parts read whole, () for an unfused
    matrix} of what a sampled fingerprint reads whole for token responses): responses.sampled_picks among the
    matrices reading the stream and the parts of fused ones (a part competes as the split matrix would, so a
    fused and a split checkpoint pick the same role), readable, with their gain and the probes' width."""
    if probes is None:
        return None, {}
    eligible = []
    for index, p in enumerate(placed):
        shape = tuple(p.record.shape)
        if len(shape) != 2 or not _readable(p.record) or shape[0 if p.transposed else 1] != probes.hidden:
            continue
        units = [(part, role, len(rows)) for part, (role, rows) in enumerate(p.parts)] if p.parts else [
            (None, p.role, shape[1 if p.transposed else 0])]
        eligible += [((index, part), role, p.layer, n * probes.hidden) for part, role, n in units
                     if role in READERS and probes.gain_of(role, p.layer)]
    whole: dict[int, tuple[int, ...]] = {}
    norms = {}
    for index, part in sorted(sampled_picks(eligible), key=lambda k: (k[0], -1 if k[1] is None else k[1])):
        whole[index] = whole.get(index, ()) + (() if part is None else (part,))
        p = placed[index]
        norms[probes.gain_of(p.role if part is None else p.parts[part][0], p.layer)] = None
    return probes._replace(norms=list(norms)), whole


class _Tally(_Reader):
    """A reader that counts the bytes a sampled print would fetch and returns zeros (a plan, not a read)."""

    def read_file(self, file: str, start: int, length: int) -> bytes:
        self.bytes_read += length
        return bytes(length)

    def decode(self, data, rec: TensorRecord, count: int, width: int, device: str, first: int) -> torch.Tensor:
        return torch.zeros((count, width))  # a plan counts bytes, decodes nothing


def _budget_plan(placed: list[_Placed], heads: dict, budget: ReadBudget, header_bytes: int, total: int,
                 probes: ProbePlan | None, whole: dict[int, tuple[int, ...]]
                 ) -> tuple[BudgetRecord | None, set[int], dict[int, tuple[int, ...]]]:
    """(the record, indices of `placed` not to read, what to read whole: _response_picks') when the headers, the
    token responses' reads (`probes`, the matrices or parts `whole`) and every other matrix's sampled rows exceed
    `budget`; (None, empty, `whole`) when they fit. The responses are planned first, then the stratified layers
    (which always hold the layers of `whole`: first and last); when the two do not fit together the responses are
    left out (they never make a budget exceeded). Costs come from a dry run of the sampled reads (exact by
    construction), with and without the reads whole."""
    costs: dict[int, Matrix] = {}
    whole_costs: dict[int, tuple[int, int]] = {}  # (bytes of the matrices of `whole` read so, of their rows read whole)
    for index, item in enumerate(placed):
        for parts in ([None, whole[index]] if index in whole else [None]):
            tally = _Tally(None)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*not writable.*")
                _, arrays = _sampled_print(tally, item, "plan", "cpu", heads, whole=parts)
            if parts is not None:
                rows, cols = matrix_shape(tuple(item.record.shape))
                whole_costs[index] = (tally.bytes_read,
                                      len(_whole_rows(item, parts, rows)) * row_bytes(item.record.dtype, cols))
            elif tally.bytes_read:
                values = sum(a.size for k, a in arrays.items() if k.endswith(".direct"))
                costs[index] = Matrix(item.layer, tally.bytes_read, values)
    limit = budget.limit(total)
    with_responses = _plan_within(placed, costs, probes, whole_costs, header_bytes, limit, budget)
    if with_responses is None:
        return None, set(), whole
    if with_responses[0].exceeded and whole:
        without = _plan_within(placed, costs, probes, {}, header_bytes, limit, budget)
        return (None, set(), {}) if without is None else (*without, {})
    return *with_responses, whole


def _plan_within(placed: list[_Placed], costs: dict[int, Matrix], probes: ProbePlan | None,
                 whole: dict[int, tuple[int, int]], header_bytes: int, limit: int, budget: ReadBudget
                 ) -> tuple[BudgetRecord, set[int]] | None:
    """_budget_plan's (record, skipped) with the matrices `whole` read whole for token responses ({index: (bytes
    read so, bytes of the rows read whole)}); None when everything fits. The record's response_bytes are the
    probes' and the rows read whole (a fused matrix's other parts are sampled as usual)."""
    from openscore.weights.compare import calibration  # compare imports this module

    costs = {i: m._replace(cost=whole[i][0]) if i in whole else m for i, m in costs.items()}
    fixed = header_bytes + (probes.cost if probes is not None and whole else 0)
    if fixed + sum(m.cost for m in costs.values()) <= limit:
        return None
    cal = calibration()
    order = sorted(costs)
    chosen, layers, spent = select([costs[i] for i in order], limit - fixed, math.ceil((cal.z_derived / cal.r_min) ** 2))
    # (the layers of `whole`, first and last, are always chosen: select's first MIN_LAYERS)
    skipped = {order[i] for i in range(len(order)) if i not in chosen} - whole.keys()
    depth = {m.layer for m in costs.values() if m.layer is not None}
    record = BudgetRecord(budget=budget.label, limit=limit, header_bytes=header_bytes, matrices=len(costs),
                          sampled=len(costs) - len(skipped), layers=layers, layer_count=len(depth),
                          skipped=sorted(placed[i].record.name for i in skipped),
                          exceeded=max(0, fixed + spent - limit),
                          response_bytes=fixed - header_bytes + sum(read for _, read in whole.values()))
    return record, skipped


def _unread_print(item: _Placed, key: str) -> tuple[list[TensorPrint], dict]:
    """A matrix the read budget left out: its name, role, layer and shape (the structure stays whole), no sketch."""
    tp = _new_print(item, key)
    rows, cols = matrix_shape(tuple(item.record.shape))
    cols = rows if tp.transposed else cols
    return [tp] + [_part_print(tp, i, role, part_rows, cols) for i, (role, part_rows) in enumerate(item.parts)], {}


def _col_range(role: str, rows: int, cols: int) -> tuple[int, int]:
    """First and one past the last column of a sampled matrix's direct sketch."""
    col_ids = _sketch_ids(role, rows, cols, SAMPLE_ROWS)[1]
    return int(col_ids[0]), int(col_ids[-1]) + 1


def _full_values(data, dtype: str, rows: int, cols: int, device: str) -> torch.Tensor:
    """The tensor's values on `device`, in their stored float dtype (no float32 copy of bf16/fp16)."""
    if not len(data):
        return torch.zeros((rows, cols), dtype=FLOAT_DTYPES[dtype], device=device)
    return torch.frombuffer(data, dtype=torch.uint8).to(device).view(FLOAT_DTYPES[dtype]).reshape(rows, cols)


def _add_direct(
    tp: TensorPrint, arrays: dict, fetch, role: str, rows: int, cols: int, heads: dict, keep_rows: int = SKETCH_ROWS
) -> None:
    row_ids, col_ids, block = _sketch_direct(fetch, role, rows, cols, keep_rows)
    arrays[f"{tp.key}.rows"] = row_ids.astype(np.int32)
    arrays[f"{tp.key}.cols"] = col_ids.astype(np.int32)
    arrays[f"{tp.key}.direct"] = block
    tp.sketch.append("direct")
    n_head = heads.get(role)
    if role in ROPE_ROLES and n_head and rows % n_head == 0 and (rows // n_head) % 2 == 0:
        # a GGUF q/k may or may not carry llama.cpp's rotary row order: keep the undone order too
        alt = gguf_rope_rows(row_ids, n_head, rows)

        def fetch_alt(_ids, base=fetch, alt=alt):
            order = np.argsort(alt, kind="stable")
            got = base(alt[order])
            return got.index_select(0, _index(np.argsort(order, kind="stable"), got.device))

        arrays[f"{tp.key}.direct_alt"] = _sketch_direct(fetch_alt, role, rows, cols, keep_rows)[2]
        tp.sketch.append("direct_alt")


def _runs(ids: np.ndarray) -> list[np.ndarray]:
    """Split sorted indices into runs of consecutive values (one ranged read each)."""
    if len(ids) == 0:
        return []
    breaks = np.nonzero(np.diff(ids) != 1)[0] + 1
    return np.split(ids, breaks)
