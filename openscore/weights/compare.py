"""Compare two fingerprints: is the candidate a copy, a cast, a derivative or independent of the reference?

Layered, cheapest and most certain first (docs/provenance.md):
  1. content hashes: identical / renamed-copy / recast-copy, with the renames listed;
  2. exact sketch checks for sampled fingerprints and re-quantisation for GGUF-quantised candidates;
  3. correlation tests of the sketches at every (role, candidate layer, reference layer): Fisher z
     against an analytic null, the layer map (dropped / duplicated layers), vocabulary rows added,
     permutation (Gram-only agreement) and scaling;
  4. a verdict from thresholds in z (openscore/data/registry/calibration.yaml) and a calibrated confidence.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from functools import lru_cache
from statistics import NormalDist, median
from typing import NamedTuple

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from openscore.errors import ConfigError
from openscore.report import Verdict
from openscore.resources import package_data
from openscore.weights import fused
from openscore.weights.decode import FLOAT_DTYPES, INT8_DTYPES
from openscore.weights.fingerprint import (ALIGN_ROLES, GRAM_SIZE, RESIDUAL_ROWS_ROLES, SHARED_AXIS_ROLES, SKETCH_COLS,
                                           Fingerprint, TensorPrint)
from openscore.weights.responses import NORMS_READ, response_matches
from openscore.weights.sampling import pick_gram

_GRAMS = ("gram_r", "gram_c")
_VOCAB_ROLES = frozenset({"embed", "lm_head"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NullModel(_Model):
    statistic: str
    mean: float
    std: float
    pairs: int
    measured_on: str


class Calibration(_Model):
    version: int
    z_derived: float
    z_independent: float
    min_derived_tensors: int
    r_floor: float
    r_min: float
    derived_share: float
    requant_share: float
    z_unit_null: float
    token_geometry_guard: float
    aligned_match: float
    aligned_guard: float
    null_model: NullModel
    aligned_null: NullModel
    response_match: float
    response_guard: float
    response_null: NullModel
    response_min_tensors: int
    rotation_unexcluded: float


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    path = package_data("registry", "calibration.yaml")
    try:
        return Calibration.model_validate(yaml.safe_load(path.read_text()))
    except Exception as exc:  # noqa: BLE001 - any parse/validation problem is a config error
        raise ConfigError(f"{path}: invalid calibration ({exc})") from None


class TensorMatch(_Model):
    """The best reference tensor for one candidate tensor."""

    candidate: str
    reference: str | None
    role: str
    layer: int | None = None
    reference_layer: int | None = None
    statistic: str  # content | bf16 | fp16 | requant | exact | direct | direct_alt | gram_r | gram_c | none
    r: float | None = None
    z: float | None = None
    z_null_clean: float | None = None  # best z among statistics with a clean null (direct, residual Gram)
    n: int = 0


class Comparison(_Model):
    reference: str
    candidate: str
    verdict: Verdict
    score: float  # median best correlation over compared tensors (1.0 for copies)
    confidence: float  # calibrated, see docs/provenance.md
    reason: str
    transformations: list[str] = Field(default_factory=list)
    renames: list[tuple[str, str]] = Field(default_factory=list)  # (reference name, candidate name)
    layer_map: dict[int, int | None] = Field(default_factory=dict)  # candidate layer -> reference layer
    layer_similarity: list[float | None] = Field(default_factory=list)  # per candidate layer
    layers_dropped: list[int] = Field(default_factory=list)  # reference layers no candidate layer comes from
    layers_duplicated: dict[int, list[int]] = Field(default_factory=dict)  # reference layer -> candidate layers
    vocab_rows_added: int = 0
    permuted: list[str] = Field(default_factory=list)  # roles matched only by Gram sketches ("residual": the stream)
    scale: float | None = None  # candidate/reference magnitude when not 1
    compared_tensors: int = 0
    matched_tensors: int = 0
    elements_compared: int = 0
    max_z: float | None = None
    tensors: list[TensorMatch] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# statistics


def fisher_z(r: float, n: int) -> float:
    r = min(max(r, -0.999999), 0.999999)
    return math.atanh(r) * math.sqrt(max(n - 3, 1))


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    x = x.astype(np.float64).ravel()
    y = y.astype(np.float64).ravel()
    x = x - x.mean()
    y = y - y.mean()
    # einsum, not `@`: BLAS dot on a few thousand values spins up its thread pool (0.6 ms against 18 us
    # on the loaded 2-core box; sketches of small models are sketched whole since format version 7)
    denom = math.sqrt(float(np.einsum("i,i", x, x)) * float(np.einsum("i,i", y, y)))
    return None if denom == 0 else float(np.einsum("i,i", x, y)) / denom


def _intersect(a_ids: np.ndarray, b_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(a_ids) == len(b_ids) and np.array_equal(a_ids, b_ids):
        idx = np.arange(len(a_ids))
        return idx, idx
    _, ia, ib = np.intersect1d(a_ids, b_ids, assume_unique=True, return_indices=True)
    return ia, ib


def _triangle_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(size, k=1)


def _gram_common(ids_a, tri_a, ids_b, tri_b) -> tuple[np.ndarray, np.ndarray]:
    ia, ib = _intersect(ids_a, ids_b)
    if len(ia) == len(ids_a) == len(ids_b):
        return tri_a, tri_b
    full_a = np.zeros((len(ids_a), len(ids_a)), dtype=np.float32)
    full_b = np.zeros((len(ids_b), len(ids_b)), dtype=np.float32)
    full_a[_triangle_pairs(len(ids_a))] = tri_a
    full_b[_triangle_pairs(len(ids_b))] = tri_b
    rows, cols = _triangle_pairs(len(ia))
    return full_a[ia[rows], ia[cols]], full_b[ib[rows], ib[cols]]


class _Pair:
    """Sketch statistics between one candidate tensor and one reference tensor."""

    def __init__(self, fa: Fingerprint, ta: TensorPrint, fb: Fingerprint, tb: TensorPrint):
        self.fa, self.ta, self.fb, self.tb = fa, ta, fb, tb

    def direct_blocks(self, kind_a: str = "direct", kind_b: str = "direct"):
        if kind_a not in self.ta.sketch or kind_b not in self.tb.sketch:
            return None
        ra, rb = _intersect(self.fa.array(self.ta, "rows"), self.fb.array(self.tb, "rows"))
        ca, cb = _intersect(self.fa.array(self.ta, "cols"), self.fb.array(self.tb, "cols"))
        if not len(ra) or not len(ca):
            return None
        xa = self.fa.array(self.ta, kind_a)[np.ix_(ra, ca)]
        xb = self.fb.array(self.tb, kind_b)[np.ix_(rb, cb)]
        return xa, xb

    def clean(self, label: str) -> bool:
        """True for statistics whose null is N(0,1): direct blocks and the residual-indexed Gram."""
        if label.startswith("direct"):
            return True
        residual = self.tb.residual_gram or self.ta.residual_gram
        return residual is None or label == residual

    def block_grams(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Gram sketches estimated from the direct blocks, for sampled fingerprints (no stored Grams).

        A sampled fingerprint holds whole rows at hash-chosen indices. The cosine Gram of the block's
        columns averaged over *any* subset of its rows estimates the full column Gram (up to sampling
        noise), and the cosine Gram of its rows over any subset of columns estimates the full row Gram.
        So each side's Gram is computed from its own rows (columns) and only the indexed axis is
        intersected: the column Gram ("gram_r") survives a permutation or sign flip of the rows, the
        row Gram ("gram_c") one of the columns. Token/position rows get no row Gram (learned from data)."""
        blocks = []
        xa, xb = self.fa.array(self.ta, "direct"), self.fb.array(self.tb, "direct")
        ra, rb = self._gram_axis("rows", "gram_c")
        ca, cb = self._gram_axis("cols", "gram_r")
        if len(ca) >= 8 and xa.shape[0] >= 8 and xb.shape[0] >= 8:
            blocks.append(("gram_r", _block_gram(xa, ca, 1), _block_gram(xb, cb, 1)))
        if (self.tb.role not in SHARED_AXIS_ROLES and len(ra) >= 8
                and xa.shape[1] >= 8 and xb.shape[1] >= 8):
            blocks.append(("gram_c", _block_gram(xa, ra, 0), _block_gram(xb, rb, 0)))
        return blocks

    def _gram_axis(self, axis: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Common indices of one axis of the two direct blocks; a block sketched whole keeps GRAM_SIZE of
        them (hash-chosen as a stored Gram's, by the reference's length): a Gram over all 192 rows costs
        16x the comparisons and adds nothing a 48-index one lacks."""
        ids = self.fa.array(self.ta, axis)
        ia, ib = _intersect(ids, self.fb.array(self.tb, axis))
        if len(ia) <= 2 * GRAM_SIZE:
            return ia, ib
        length = oriented(self.ta)[0 if axis == "rows" else 1]
        keep = np.isin(ids[ia], pick_gram(self.ta.role, kind, length, GRAM_SIZE))
        return ia[keep], ib[keep]

    def stats(self) -> list[tuple[str, float, float, int]]:
        """(statistic, r, z, n) for every sketch both tensors have."""
        out = []
        for kind_a, kind_b in (("direct", "direct"), ("direct_alt", "direct"), ("direct", "direct_alt")):
            blocks = self.direct_blocks(kind_a, kind_b)
            if blocks is None or blocks[0].size < 16:
                continue
            if self.tb.role in SHARED_AXIS_ROLES:
                blocks = tuple(strip_frequency(x) for x in blocks)
            r = pearson(*blocks)
            if r is not None:
                label = "direct" if kind_a == kind_b else "direct_alt"
                out.append((label, r, fisher_z(r, blocks[0].size), blocks[0].size))
        stored = all(any(k in t.sketch for k in _GRAMS) for t in (self.ta, self.tb))
        if (self.fa.sample or self.fb.sample or not stored) and "direct" in self.ta.sketch and "direct" in self.tb.sketch:
            # sampled or sketched whole (no stored Grams): Grams from the direct blocks (the stored ones, if
            # any, are not comparable with an estimate)
            for kind, xa, xb in self.block_grams():
                r = pearson(xa, xb)
                if r is not None:
                    out.append((kind, r, fisher_z(r, xa.size), xa.size))
            return out
        for kind in _GRAMS:
            if kind not in self.ta.sketch or kind not in self.tb.sketch:
                continue
            xa, xb = _gram_common(
                self.fa.array(self.ta, f"{kind}_ids"), self.fa.array(self.ta, kind),
                self.fb.array(self.tb, f"{kind}_ids"), self.fb.array(self.tb, kind),
            )
            if xa.size < 16:
                continue
            r = pearson(xa, xb)
            if r is not None:
                out.append((kind, r, fisher_z(r, xa.size), xa.size))
        return out


#: block Grams already computed: (id(block), axis, indices) -> (block, gram); the block is held so its id stays unique
_BLOCK_GRAMS: OrderedDict[tuple[int, int, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_BLOCK_GRAMS_MAX = 4096


def _block_gram(block: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """`_cosine_gram` of the block's columns `idx` (axis 1) or rows `idx` (axis 0), cached: every
    reference tensor meets every candidate layer of its role."""
    key = (id(block), axis, np.asarray(idx, dtype=np.int64).tobytes())
    hit = _BLOCK_GRAMS.get(key)
    if hit is not None and hit[0] is block:
        _BLOCK_GRAMS.move_to_end(key)
        return hit[1]
    gram = _cosine_gram(block[:, idx] if axis == 1 else block[idx].T)
    _BLOCK_GRAMS[key] = (block, gram)
    if len(_BLOCK_GRAMS) > _BLOCK_GRAMS_MAX:
        _BLOCK_GRAMS.popitem(last=False)
    return gram


def _cosine_gram(x: np.ndarray) -> np.ndarray:
    """Upper triangle of the cosine similarity of `x`'s columns, after normalising every row.

    Computed over whichever rows are present: invariant to their order, sign and scale."""
    x = x.astype(np.float64)
    x = x / np.where((n := np.linalg.norm(x, axis=1, keepdims=True)) > 0, n, 1.0)
    gram = x.T @ x
    d = np.sqrt(np.clip(np.diag(gram), 1e-30, None))
    gram = gram / d[:, None] / d[None, :]
    return gram[_triangle_pairs(gram.shape[0])]


def strip_frequency(block: np.ndarray) -> np.ndarray:
    """A token-indexed block (rows = token ids) without its mean row and its first principal component.

    Models trained on the same text share how often each token occurs, and that frequency shows as one
    direction along which every token row moves by its count (independent models: z up to 13 on it).
    Removing each side's own top component (computed on that side alone) takes it out of both; a
    derivative keeps every other direction, so its correlation stays."""
    x = block.astype(np.float64)
    x = x - x.mean(0)
    if min(x.shape) < 3:
        return x
    # the top singular vector from the small side's Gram (a d x d eigenproblem instead of a 256-row SVD)
    if x.shape[0] >= x.shape[1]:
        v = _small_linalg(_torch_eigh, x.T @ x)[1][:, -1]
        return x - np.outer(x @ v, v)
    u = _small_linalg(_torch_eigh, x @ x.T)[1][:, -1]
    return x - np.outer(u, u @ x)


def _torch_eigh(gram):
    import torch

    return torch.linalg.eigh(gram)


def _torch_svd(matrix):
    import torch

    return torch.linalg.svd(matrix)


def _torch_abs_products(x, y):
    """|x yᵀ| (every candidate unit against every reference unit)."""
    return ((x @ y.T).abs_(),)


def _torch_products(x, y):
    return (x @ y,)


def _small_linalg(fn, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """`fn` (torch operations) on small arrays on one torch thread, as numpy arrays.

    Right after numpy's multi-threaded BLAS products a 64 x 64 eigh took 30-90 ms on the 2-core box (torch's
    and OpenBLAS's thread pools spinning against each other; numpy's own LAPACK alike), on one torch thread
    0.2 ms; a 768 x 64 x 768 product likewise."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return tuple(t.numpy() for t in fn(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)))
    finally:
        torch.set_num_threads(threads)


def token_geometry(fa: Fingerprint, fb: Fingerprint) -> tuple[float, int] | None:
    """(r, tokens) between the token-token cosine Grams of the two input embeddings (lm_head without one).

    Rotation- and permutation-invariant in the residual basis (E·Q·Qᵀ·Eᵀ = E·Eᵀ), computed on the token
    rows both direct sketches hold, after strip_frequency. Token geometry is partly learned from data, so
    it only blocks a negative verdict (calibration `token_geometry_guard`), never makes a positive one."""
    for role in ("embed", "lm_head"):
        ta = next((t for t in fa.tensors if t.role == role and "direct" in t.sketch), None)
        tb = next((t for t in fb.tensors if t.role == role and "direct" in t.sketch), None)
        if ta is None or tb is None:
            continue
        ra, rb = _intersect(fa.array(ta, "rows"), fb.array(tb, "rows"))
        if len(ra) < 8:
            continue
        grams = []
        for x in (fa.array(ta, "direct")[ra], fb.array(tb, "direct")[rb]):
            x = strip_frequency(x)
            x = x / np.where((n := np.linalg.norm(x, axis=1, keepdims=True)) > 0, n, 1.0)
            grams.append(_small_linalg(_torch_products, x, x.T)[0][_triangle_pairs(len(x))])
        r = pearson(*grams)
        if r is not None:
            return r, len(ra)
    return None


# ---------------------------------------------------------------------------------------------
# residual-basis alignment


class Alignment:
    """The reference's units (rows of the matrices that read the residual stream, columns of those that write
    it) rotated into the candidate's residual basis: role -> [(tensor, unit ids, unit vectors)]."""

    def __init__(self, tokens: int, width: int, rotation: np.ndarray):
        self.tokens, self.width = tokens, width
        self.units: dict[str, list[tuple[TensorPrint, np.ndarray, np.ndarray]]] = defaultdict(list)
        # a rotation far from any signed permutation (a permuted stream is found without alignment)
        self.rotated = float(np.median(np.abs(rotation).max(1))) < 0.9


def residual_alignment(a: Fingerprint, b: Fingerprint) -> Alignment | None:
    """Orthogonal Procrustes of the residual basis: R = argmin ||E_a R - E_b|| over orthogonal R, with E the
    token rows of embed / lm_head both fingerprints hold (centred), solved by the SVD of E_aᵀ E_b; every
    reference unit whose direct sketch spans the whole residual axis is then rotated by R.

    None when the widths differ, a side does not hold whole token rows (residual width above SKETCH_COLS: the
    fingerprint keeps 128 columns of a row) or there are fewer than 2 shared token rows per dimension.
    A rotation is always found, related or not: the token rows never count as evidence, and the unit match
    of independent pairs after alignment is the measured null (calibration `aligned_null`)."""
    xs, ys = [], []
    width = None
    for role in sorted(ALIGN_ROLES):
        ta = next((t for t in a.tensors if t.role == role and "direct" in t.sketch), None)
        tb = next((t for t in b.tensors if t.role == role and "direct" in t.sketch), None)
        if ta is None or tb is None or len(ta.shape) != 2 or len(tb.shape) != 2:
            continue
        d = oriented(ta)[1]
        if oriented(tb)[1] != d or width not in (None, d) or not _whole(a.array(ta, "cols"), d) \
                or not _whole(b.array(tb, "cols"), d):
            continue
        width = d
        ra, rb = _intersect(a.array(ta, "rows"), b.array(tb, "rows"))
        xs.append(a.array(ta, "direct")[ra])
        ys.append(b.array(tb, "direct")[rb])
    tokens = sum(len(x) for x in xs)
    if width is None or tokens < 2 * width:
        return None
    x, y = (np.concatenate(v).astype(np.float64) for v in (xs, ys))
    u, _, vt = _small_linalg(_torch_svd, (x - x.mean(0)).T @ (y - y.mean(0)))
    rotation = u @ vt
    alignment = Alignment(tokens, width, rotation)
    views = [(t, view) for t in a.tensors if (view := _unit_view(a, t, width)) is not None]
    if not views:
        return None
    # every unit rotated in one product, then split back per tensor
    (turned,) = _small_linalg(_torch_products, np.concatenate([view[1] for _, view in views]), rotation)
    for (t, (ids, _)), units in zip(views, np.split(turned, np.cumsum([len(v[1]) for _, v in views])[:-1])):
        alignment.units[t.role].append((t, ids, _unit_rows(units).astype(np.float32)))
    return alignment


def _whole(ids: np.ndarray, length: int) -> bool:
    """The sketch's indices along an axis are all of 0..length-1."""
    return len(ids) == length and bool(np.array_equal(ids, np.arange(length)))


def _unit_view(fp: Fingerprint, t: TensorPrint, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(unit ids, [units, width] vectors) of a matrix whose sketch holds its whole residual axis, else None.
    Units are the rows of a matrix that reads the stream ([out, in]: in is residual) and the columns of one
    that writes it; token-indexed and unknown roles have none."""
    if "direct" not in t.sketch or len(t.shape) != 2 or t.role in SHARED_AXIS_ROLES \
            or t.role.startswith(("shape:", "unmapped:")):
        return None
    block = fp.array(t, "direct").astype(np.float64)
    if t.role in RESIDUAL_ROWS_ROLES:
        ok = oriented(t)[0] == width and _whole(fp.array(t, "rows"), width)
        return (fp.array(t, "cols"), block.T) if ok else None
    ok = oriented(t)[1] == width and _whole(fp.array(t, "cols"), width)
    return (fp.array(t, "rows"), block) if ok else None


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(1, keepdims=True)
    return x / np.where((n := np.linalg.norm(x, axis=1, keepdims=True)) > 0, n, 1.0)


def _informative(t: TensorPrint) -> bool:
    """A tensor whose hashes can prove a copy: not constant, not a part of a fused matrix (hashed whole)."""
    return not t.constant and math.prod(t.shape) >= 2 and t.part_of is None


# ---------------------------------------------------------------------------------------------
# layer 1-2: exact copies


def _match_by_hash(a: Fingerprint, b: Fingerprint, fields: tuple[str, ...]):
    """Pair every informative candidate tensor with a reference tensor of equal hash (name first)."""
    index: dict[tuple[str, str, tuple], list[TensorPrint]] = defaultdict(list)
    for t in a.tensors:
        if _informative(t):
            for f in fields:
                if getattr(t, f):
                    index[(f, getattr(t, f), tuple(t.shape))].append(t)
    pairs: list[tuple[TensorPrint, TensorPrint, str]] = []
    used: set[str] = set()
    for t in b.tensors:
        if not _informative(t):
            continue
        found = None
        for f in fields:
            options = [o for o in index.get((f, getattr(t, f), tuple(t.shape)), []) if o.name not in used]
            if getattr(t, f) and options:
                found = next((o for o in options if o.name == t.name), options[0]), f
                break
        if found is None:
            return None
        used.add(found[0].name)
        pairs.append((found[0], t, found[1]))
    if len(used) != sum(1 for t in a.tensors if _informative(t)) or not pairs:
        return None
    return pairs


def _copy_verdict(a: Fingerprint, b: Fingerprint) -> Comparison | None:
    if not all(t.content for t in a.tensors + b.tensors if _informative(t)):
        return None
    exact = _match_by_hash(a, b, ("content",))
    pairs = exact or _match_by_hash(a, b, ("content", "bf16", "fp16"))
    if pairs is None:
        return None
    renames = sorted((ta.name, tb.name) for ta, tb, _ in pairs if ta.name != tb.name)
    casts = sorted({f"{ta.dtype}->{tb.dtype}" for ta, tb, _ in pairs if ta.dtype != tb.dtype})
    if exact and not renames and not casts:
        verdict, reason = "identical", f"all {len(pairs)} informative tensors have equal content and names"
    elif exact:
        verdict = "renamed-copy"
        reason = f"all {len(pairs)} informative tensors are byte-identical; {len(renames)} are stored under other names"
    else:
        verdict = "recast-copy"
        reason = f"all {len(pairs)} informative tensors equal the reference after rounding to the candidate's dtype"
    matches = [
        TensorMatch(candidate=tb.name, reference=ta.name, role=tb.role, layer=tb.layer,
                    reference_layer=ta.layer, statistic=how, r=1.0)
        for ta, tb, how in pairs
    ]
    return _exact_result(a, b, verdict, reason, renames, casts, matches)


def _exact_result(a, b, verdict, reason, renames, casts, matches) -> Comparison:
    transformations = []
    if renames:
        transformations.append(f"renamed {len(renames)} tensors")
    transformations += [c if " grid" in c or "stored" in c else f"cast {c}" for c in casts]
    layers = sorted({t.layer for t in b.tensors if t.layer is not None})
    return Comparison(
        reference=a.source, candidate=b.source, verdict=verdict, score=1.0, confidence=1.0, reason=reason,
        transformations=transformations, renames=renames,
        layer_map={i: i for i in layers}, layer_similarity=[1.0 for _ in layers],
        compared_tensors=len(matches), matched_tensors=len(matches), tensors=matches,
    )


def _round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    import torch

    return torch.from_numpy(values).to(FLOAT_DTYPES[dtype]).float().numpy()


def _requant(values: np.ndarray, dtype: str) -> np.ndarray | None:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    try:
        qtype = GGMLQuantizationType[dtype]
        return dequantize(quantize(np.ascontiguousarray(values, dtype=np.float32), qtype), qtype)
    except (KeyError, ValueError, NotImplementedError):
        return None


#: column group an integer quantiser shares one scale over (GGUF blocks, GPTQ/AWQ groups; a per-row scale
#: is the same on every group of its row). The direct sketch's columns are whole aligned groups of 32
_GRID_GROUP = 32


def integer_grid_copy(xa: np.ndarray, xb: np.ndarray, dtype: str, share: float) -> int | None:
    """Bits of the integer grid when the float candidate block `xb` (stored as `dtype`) is the reference
    `xa` quantised to it and dequantised (int8 / 4-bit absmax per row or per group, GGUF Q8_0 / Q4_0 /
    Q5_0), else None.

    Each aligned group of 32 candidate values must be integer multiples of one step s, within the rounding
    of the candidate's dtype (bf16 keeps 8 bits: a 4-bit grid survives it, an int8 grid does not), and
    round(xa / s) must give the same integers for `share` of the values. The step is read off the candidate
    (its smallest non-zero magnitude is s, 2s, ... 8s, or its absmax is 127s, 7s, ...), then refined by
    least squares over the row or group."""
    if xa.shape != xb.shape or not xb.size:
        return None
    eps = {"F16": 2.0**-11, "BF16": 2.0**-8}.get(dtype, 2.0**-23)
    # one scale per row, else per aligned group of 32
    for group in [xb.shape[-1]] + ([_GRID_GROUP] if xb.shape[-1] % _GRID_GROUP == 0 else []):
        a = xa.astype(np.float64).reshape(-1, group)
        b = xb.astype(np.float64).reshape(-1, group)
        mags = np.where(b != 0, np.abs(b), np.inf).min(1)
        if not np.isfinite(mags).all():
            return None
        step = np.full(len(b), np.nan)
        peak = np.abs(b).max(1)
        # the step: the smallest magnitude over k = 1..8, or an absmax grid (int8, 4-bit, 3-bit levels)
        for guess in [mags / k for k in range(1, 9)] + [peak / level for level in (127, 7, 8, 3, 4)]:
            q = np.round(b / guess[:, None])
            s = (b * q).sum(1) / np.maximum((q * q).sum(1), 1)
            off = np.abs(b / s[:, None] - q)
            fits = (off <= 0.05 + np.abs(q) * eps).all(1) & (np.abs(q).max(1) <= 127) & np.isnan(step)
            step[fits] = s[fits]
        keep = ~np.isnan(step)
        if keep.mean() < share:
            continue
        qb = np.round(b[keep] / step[keep, None])
        qa = np.round(a[keep] / step[keep, None])
        if np.mean(qa == qb) * keep.mean() >= share and len(np.unique(qb)) >= 3:
            return int(np.ceil(np.log2((qb.max(1) - qb.min(1)).max() + 1)))
    return None


def _sketch_copy_verdict(a: Fingerprint, b: Fingerprint) -> Comparison | None:
    """Copies seen through sketches: sampled fingerprints (no hashes) and re-quantised candidates."""
    cal = calibration()
    by_place = {(t.role, t.layer, oriented(t)): t for t in a.tensors if "direct" in t.sketch}
    matches, renames, casts = [], set(), set()
    grids: set[int] = set()  # bit widths of integer grids the candidate was dequantised from
    exact_only = True
    skipped = _unread(a)
    unread = {(t.role, t.layer, oriented(t)) for t in a.tensors if t.name in skipped}
    for tb in b.tensors:
        if "direct" not in tb.sketch:
            continue
        ta = by_place.get((tb.role, tb.layer, oriented(tb)))
        if ta is None and (tb.role, tb.layer, oriented(tb)) in unread:
            continue  # the reference's read budget left its counterpart unread
        if ta is None:
            return None
        pair = _Pair(a, ta, b, tb)
        # a GGUF side may hold q/k in llama.cpp's rotary row order: its direct_alt block is in HF order
        how = None
        for xa, xb in filter(None, (pair.direct_blocks(), pair.direct_blocks("direct", "direct_alt"),
                                    pair.direct_blocks("direct_alt", "direct"))):
            if xa.shape != xb.shape:
                continue
            if np.array_equal(xa, xb):
                how = "exact"
            elif tb.dtype in FLOAT_DTYPES and tb.dtype != ta.dtype and np.array_equal(_round_to(xa, tb.dtype), xb):
                how = "cast"
            elif ((tb.dtype in FLOAT_DTYPES or tb.dtype in INT8_DTYPES)
                  and (bits := integer_grid_copy(xa, xb, tb.dtype, cal.requant_share))):
                how = "dequant"
                grids.add(bits)
            elif tb.dtype not in FLOAT_DTYPES and tb.dtype not in INT8_DTYPES:
                rq = _requant(xa, tb.dtype)
                if rq is not None and np.mean(rq == xb) >= cal.requant_share:
                    how = "requant"
            if how:
                break
        if how is None:
            return None
        exact_only &= how == "exact"
        if ta.name != tb.name:
            renames.add((ta.name, tb.name))
        if ta.dtype != tb.dtype:
            casts.add(f"{ta.dtype}->{tb.dtype}")
        if ta.transposed != tb.transposed:
            casts.add("stored transposed ([in, out] <-> [out, in])")
        matches.append(TensorMatch(candidate=tb.name, reference=ta.name, role=tb.role, layer=tb.layer,
                                   reference_layer=ta.layer, statistic=how, r=1.0, n=int(xb.size)))
    if grids:
        casts.add(f"quantised to a {max(grids)}-bit integer grid and dequantised")
    if len(matches) < cal.min_derived_tensors:
        return None
    if a.sample or b.sample:
        # names come from the headers even when only rows were sampled: tensors without a sketch (1-D
        # norms, biases) are paired by place, so a shell that renames only those is still a renamed copy
        sketched = {tb.name for tb in b.tensors if "direct" in tb.sketch}
        places = {(t.role, t.layer, oriented(t)): t for t in a.tensors}
        for tb in b.tensors:
            ta = places.get((tb.role, tb.layer, oriented(tb)))
            if tb.name not in sketched and ta is not None and ta.name != tb.name:
                renames.add((ta.name, tb.name))
    if exact_only and not casts:
        verdict = "renamed-copy" if renames else "identical"
        reason = f"the sampled values of all {len(matches)} sketched tensors are equal"
    elif grids:
        verdict = "recast-copy"
        reason = (f"the sketched values of all {len(matches)} tensors equal the reference rounded to the integer "
                  f"grid they lie on (a quantise-dequantise copy, up to {max(grids)} bits)")
    else:
        verdict = "recast-copy"
        reason = (f"the sampled values of all {len(matches)} sketched tensors equal the reference after casting "
                  "or re-quantising it to the candidate's dtype")
    return _exact_result(a, b, verdict, reason, sorted(renames), sorted(casts), matches)


# ---------------------------------------------------------------------------------------------
# layer 3: similarity


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def compare(a: Fingerprint, b: Fingerprint) -> Comparison:
    """Relation of candidate `b` to reference `a` (a is the possible base); the reason says the coverage of a
    fingerprint a read budget left incomplete."""
    result = _copy_verdict(a, b) or _sketch_copy_verdict(a, b) or _similarity_verdict(a, b)
    notes = [f"{side}: {fp.budget.coverage()}" for side, fp in (("reference", a), ("candidate", b)) if fp.budget]
    return result.model_copy(update={"reason": f"{result.reason} ({'; '.join(notes)})"}) if notes else result


def _unread(fp: Fingerprint) -> set[str]:
    """Names of the matrices a read budget left unread (and of their parts): structure, not missing tensors."""
    if fp.budget is None:
        return set()
    skipped = set(fp.budget.skipped)
    return {t.name for t in fp.tensors if t.name in skipped or t.part_of in skipped}


def _inherited_share(b: Fingerprint, compared: list[int | None], inherited: list[int | None]) -> float:
    """The share of the candidate's compared matrices (given by their layers) that are inherited. A budgeted
    candidate read whole layers spread over its depth, a stratified sample: each matrix of a layer read stands
    for layer_count / layers read of its kind, the unlayered ones (all read) for themselves, so the share
    estimates the whole model's."""
    if b.budget is None or not b.budget.layers:
        return len(inherited) / len(compared)
    scale = b.budget.layer_count / len(b.budget.layers)
    weight = lambda layer: 1.0 if layer is None else scale  # noqa: E731
    return sum(map(weight, inherited)) / sum(map(weight, compared))


def _depth(fp: Fingerprint) -> list[int]:
    """The layers of `fp` holding a sketched matrix, or one a read budget left unread."""
    unread = _unread(fp)
    return sorted({t.layer for t in fp.tensors if t.layer is not None and (t.sketch or t.name in unread)})


def oriented(t: TensorPrint) -> tuple[int, ...]:
    """The tensor's [out, in] shape (its sketches are in that orientation)."""
    return tuple(t.shape[::-1]) if t.transposed else tuple(t.shape)


def _shape_class(t: TensorPrint) -> str:
    return "shape:{}x{}".format(*sorted(t.shape, reverse=True)) if len(t.shape) == 2 else t.role


def _reference_pools(a: Fingerprint):
    """Reference tensors a candidate tensor may come from: those of its role, and for a tensor whose role
    was only guessed from its shape (`shape:RxC`) every matrix of that shape, in either direction."""
    by_role: dict[str, list[TensorPrint]] = defaultdict(list)
    by_class: dict[str, list[TensorPrint]] = defaultdict(list)
    for t in a.tensors:
        if t.sketch:
            by_role[t.role].append(t)
            by_class[_shape_class(t)].append(t)

    def pool(tb: TensorPrint) -> list[TensorPrint]:
        if tb.role.startswith("shape:"):
            return by_class.get(tb.role, [])
        return by_role.get(tb.role, []) + [t for t in by_class.get(_shape_class(tb), []) if t.role.startswith("shape:")]

    return pool


def _similarity_verdict(a: Fingerprint, b: Fingerprint) -> Comparison:
    """Correlation of the sketches; when that finds no derivation, again with the reference's residual basis
    aligned to the candidate's (residual_alignment) before any negative verdict."""
    first = _similarity(a, b)
    # a partial match of a wide pair through the unit-indexed Gram alone ("residual" permuted or rotated) may be
    # a whole derivation whose units the sketches at equal indices cannot pair: token responses may make it derived
    if first.verdict == "derived" or (first.verdict == "partially-derived" and "residual" not in first.permuted):
        return first
    if architecture_difference(a, b):
        return first  # a rotation keeps every role and shape
    alignment = residual_alignment(a, b)
    if alignment is not None:
        return first if first.verdict == "partially-derived" else _aligned_verdict(a, b, first, alignment)
    units = _response_verdict(a, b, first)
    return first if first.verdict == "partially-derived" and units.verdict != "derived" else units


def _similarity(a: Fingerprint, b: Fingerprint) -> Comparison:
    cal = calibration()
    pool = _reference_pools(a)
    matches: list[TensorMatch] = []
    # per (candidate layer, reference layer): z sums and counts over roles, for the layer map
    layer_z: dict[tuple[int, int], list[float]] = defaultdict(list)
    layer_r: dict[tuple[int, int], list[float]] = defaultdict(list)
    permuted: set[str] = set()
    pruned: dict[str, tuple[list[int], list[int]]] = {}  # role -> (reference shape, candidate shape)
    scales: list[tuple[int | None, float]] = []  # (candidate layer, std ratio) of direct matches
    # values compared, for the power of a negative verdict: per candidate tensor its largest clean statistic
    # (not the one that happens to hold the maximum z, which under independence is chance)
    values = 0
    # a budgeted reference: a candidate matrix whose own layer the reference did not read and that matches
    # nothing is not counted (it had no counterpart to match), so the subset does not read as not inherited
    skipped = _unread(a)
    unread_layers = {(t.role, t.layer) for t in a.tensors if t.name in skipped}
    for tb in b.tensors:
        if not tb.sketch:
            continue
        best: tuple[float, TensorMatch] | None = None
        clean_z: float | None = None
        clean_n = 0
        sources = pool(tb)
        for ta in sources:
            pair = _Pair(a, ta, b, tb)
            stats = pair.stats()
            if not stats:
                continue
            label, r, z, n = max(stats, key=lambda s: s[2])
            clean = [s for s in stats if pair.clean(s[0])]
            if clean:
                top = max(s[2] for s in clean)
                clean_z = top if clean_z is None else max(clean_z, top)
                clean_n = max(clean_n, max(s[3] for s in clean))
            if tb.layer is not None and ta.layer is not None:
                layer_z[(tb.layer, ta.layer)].append(z)
                layer_r[(tb.layer, ta.layer)].append(r)
            if best is None or z > best[0]:
                direct_z = max((s[2] for s in stats if s[0].startswith("direct")), default=None)
                if label in _GRAMS and direct_z is not None and direct_z < cal.z_independent <= z:
                    # matched only through a Gram: the units it sums over were reordered
                    label = f"{label} (permuted)" if pair.clean(label) else f"{label} (residual permuted)"
                best = (z, TensorMatch(candidate=tb.name, reference=ta.name, role=tb.role, layer=tb.layer,
                                       reference_layer=ta.layer, statistic=label, r=r, z=z, n=n))
        if best is not None and best[0] < cal.z_derived and (tb.role, tb.layer) in unread_layers:
            continue
        if best is not None:
            best[1].z_null_clean = clean_z
            matches.append(best[1])
            values += clean_n or best[1].n
            m = best[1]
            if m.z >= cal.z_derived:
                source = next(t for t in sources if t.name == m.reference)
                if oriented(source) != oriented(tb) and tb.role not in _VOCAB_ROLES:
                    pruned.setdefault(tb.role, (list(oriented(source)), list(oriented(tb))))
                if m.statistic.endswith("(permuted)"):
                    permuted.add(m.role)
                elif m.statistic.endswith("(residual permuted)"):
                    permuted.add("residual")
                elif m.statistic.startswith("direct"):
                    ta = source
                    xa, xb = _Pair(a, ta, b, tb).direct_blocks()
                    sa, sb = float(np.std(xa)), float(np.std(xb))
                    if sa > 0:
                        scales.append((tb.layer, sb / sa))
    return _decide(a, b, matches, values, layer_z, layer_r, permuted, pruned, scales, cal)


def _layer_map(layer_z, layer_r, cal: Calibration):
    cand_layers = sorted({i for i, _ in layer_z})
    mapping: dict[int, int | None] = {}
    similarity: list[float | None] = []
    for i in cand_layers:
        options = [(float(np.mean(zs)), j) for (ii, j), zs in layer_z.items() if ii == i]
        z, j = max(options)
        if z >= cal.z_derived:
            mapping[i] = j
            similarity.append(round(float(np.mean(layer_r[(i, j)])), 6))
        else:
            mapping[i] = None
            similarity.append(round(max(float(np.mean(layer_r[(i, jj)])) for (ii, jj) in layer_r if ii == i), 6))
    return mapping, similarity


def _decide(a, b, matches, n_total, layer_z, layer_r, permuted, pruned, scales, cal: Calibration) -> Comparison:
    compared = len(matches)
    inherited = [m for m in matches if m.z is not None and m.z >= cal.z_derived]
    max_z = max((m.z for m in matches), default=None)
    score = round(float(median([m.r for m in matches])), 6) if matches else 0.0
    mapping, similarity = _layer_map(layer_z, layer_r, cal)
    ref_layers, cand_layers = _depth(a), _depth(b)
    budgeted = bool(a.budget or b.budget)
    sources = defaultdict(list)
    for i, j in mapping.items():
        if j is not None:
            sources[j].append(i)
    # structural claims only where the layer counts show them: a reference layer nobody maps to in a model
    # of the same depth is a weak layer, not a dropped one
    # (a budgeted side maps only the layers it read: which layers were dropped or duplicated is not known then,
    # only that the depths differ)
    duplicated = ({j: sorted(v) for j, v in sorted(sources.items()) if len(v) > 1}
                  if len(cand_layers) > len(ref_layers) and not budgeted else {})
    dropped = ([j for j in ref_layers if j not in sources]
               if sources and len(cand_layers) < len(ref_layers) and not budgeted else [])
    depth_changed = budgeted and len(cand_layers) != len(ref_layers)
    vocab_added = _vocab_delta(a, b)
    transformations: list[str] = []
    result = dict(
        reference=a.source, candidate=b.source, layer_map=mapping, layer_similarity=similarity,
        compared_tensors=compared, matched_tensors=len(inherited), elements_compared=n_total,
        max_z=None if max_z is None else round(max_z, 3), tensors=matches, score=score,
    )
    other_architecture = architecture_difference(a, b)
    if not matches:
        if other_architecture:
            return Comparison(**result, verdict="independent", confidence=0.99,
                              reason=f"different architectures: {other_architecture}")
        return Comparison(**result, verdict="inconclusive", confidence=0.0,
                          reason="no tensor of the candidate has a counterpart of the same role in the reference")
    null = cal.null_model
    if len(inherited) >= cal.min_derived_tensors and median([m.r for m in inherited]) >= cal.r_floor:
        share = _inherited_share(b, [m.layer for m in matches], [m.layer for m in inherited])
        if vocab_added:
            transformations.append(f"vocabulary {vocab_added:+d} rows")
        if dropped:
            transformations.append(f"reference layers dropped: {dropped}")
        if duplicated:
            transformations.append("reference layers duplicated: "
                                   + ", ".join(f"{j} -> {v}" for j, v in duplicated.items()))
        if depth_changed:
            transformations.append(f"{len(ref_layers)} -> {len(cand_layers)} layers (which ones: not known from a "
                                   "budgeted sample)")
        order = [j for _, j in sorted(mapping.items()) if j is not None]
        if order != sorted(order):
            transformations.append("layers reordered")
        for role, (was, now) in sorted(pruned.items()):
            transformations.append(f"width pruned ({role} {'x'.join(map(str, was))} -> {'x'.join(map(str, now))})")
        for role in sorted(permuted - set(pruned)):
            if role == "residual":
                transformations.append("residual stream permuted or rotated")
                continue
            kind = "attention heads" if role.startswith("attn") else "hidden units"
            transformations.append(f"{kind} permuted ({role})")
        scale = _consistent_scale(scales)
        if scale is not None:
            transformations.append(f"weights scaled x{scale:.3g}")
        partial = share < cal.derived_share or bool(dropped or duplicated or depth_changed or vocab_added < 0
                                                     or pruned)
        if vocab_added > 0 and share < 1:
            partial = True
        verdict = "partially-derived" if partial else "derived"
        z_null = (max_z - null.mean) / null.std
        confidence = 1.0 - min(1.0, _normal_sf(z_null) * max(1, compared))
        reason = (f"{len(inherited)} of {compared} tensors correlate with the reference far beyond chance "
                  f"(max z {max_z:.1f}, median r {median([m.r for m in inherited]):.3f})")
        return Comparison(**result, verdict=verdict, confidence=round(confidence, 6), reason=reason,
                          transformations=transformations, permuted=sorted(permuted - set(pruned)),
                          layers_dropped=dropped, layers_duplicated=duplicated, vocab_rows_added=vocab_added,
                          scale=None if scale is None else round(scale, 4))
    n_needed = (cal.z_derived / cal.r_min) ** 2
    # the maximum over many null tests grows with their number: Bonferroni at 1e-3 family-wise
    tests = sum(len(v) for v in layer_z.values()) + sum(1 for m in matches if m.layer is None)
    z_negative = max(cal.z_independent, NormalDist().inv_cdf(1 - 1e-3 / max(1, tests)))
    # statistics with an architecture-shaped null only count as positive evidence (z >= z_derived)
    max_clean = max((m.z_null_clean for m in matches if m.z_null_clean is not None), default=-math.inf)
    # chance that an aggregate derivation as weak as r_min would have been seen
    power = 1.0 - _normal_sf(cal.r_min * math.sqrt(n_total) - cal.z_derived)
    if other_architecture and max_z < cal.z_derived:
        # across architectures only a derivation's z counts: fused GPT-2 c_attn split into q/k/v meets LLaMA's
        # q/k/v at clean z up to 5.7 on the zoo (no lineage), which must not hold back the verdict
        bound = f"< {z_negative:.2f}" if max_clean < z_negative else f"< {cal.z_derived:g}, a derivation's level"
        return Comparison(**result, verdict="independent", confidence=round(max(power, 0.99), 6),
                          reason=f"different architectures: {other_architecture}; no tensor correlates "
                                 f"(max z {max_clean:.1f} {bound})")
    if max_clean < z_negative and max_z < cal.z_derived:
        # residual-basis checks before any negative verdict: a rotated stream leaves only rotation-invariant
        # statistics (the unit-indexed Gram, the token geometry of the embeddings)
        if max_z >= cal.z_unit_null:
            return Comparison(**result, verdict="inconclusive", confidence=0.0,
                              reason=f"a unit-indexed Gram correlates beyond its null (z {max_z:.1f} >= "
                                     f"{cal.z_unit_null:g}) while nothing else does: the residual stream may be "
                                     "rotated")
        tokens = token_geometry(a, b)
        if tokens is not None and tokens[0] >= cal.token_geometry_guard:
            return Comparison(**result, verdict="inconclusive", confidence=0.0,
                              reason=f"the embeddings' token geometry matches (r {tokens[0]:.2f} over {tokens[1]} "
                                     "tokens, rotation-invariant) while no weight correlates at equal indices: "
                                     "the residual stream may be rotated")
        if n_total >= n_needed:
            same = _same_geometry(a, b)
            verdict = "architecture-clone" if same else "independent"
            reason = (f"no tensor correlates with the reference (max z {max_clean:.1f} < {z_negative:.2f}) over "
                      f"{n_total} compared values" + ("; same layout" if same else ""))
            return Comparison(**result, verdict=verdict, confidence=round(power, 6), reason=reason)
        return Comparison(**result, verdict="inconclusive", confidence=round(power, 6),
                          reason=f"no correlation found, but only {n_total} values were comparable "
                                 f"(< {int(n_needed)} needed to rule out r >= {cal.r_min:g})")
    return Comparison(**result, verdict="inconclusive", confidence=0.0,
                      reason=f"{len(inherited)} of {compared} tensors correlate (max z {max_z:.1f}): "
                             "too few or too weak for a verdict")


def unit_matches(alignment: Alignment, b: Fingerprint) -> list[tuple[float, TensorPrint, TensorPrint, float, int]]:
    """Per candidate matrix whose sketch holds whole units: (median over its units of the best |cosine| with an
    aligned reference unit, the candidate tensor, the reference tensor of its role giving the highest median
    (any layer), the share of units matched at their own index, the number of units)."""
    views: dict[str, list[tuple[TensorPrint, np.ndarray, np.ndarray]]] = defaultdict(list)
    for tb in b.tensors:
        view = _unit_view(b, tb, alignment.width)
        if view is not None and alignment.units.get(tb.role):
            views[tb.role].append((tb, view[0], _unit_rows(view[1]).astype(np.float32)))
    found = []  # (median best |cosine|, candidate tensor, reference tensor, share of units at their own index)
    for role, cands in views.items():
        refs = alignment.units[role]
        # one product per role (every candidate unit against every reference unit), then each reference tensor's
        # best per candidate unit: the many small products it replaces cost more in BLAS calls than in arithmetic
        starts = np.cumsum([0] + [len(x) for _, _, x in refs])
        (sim,) = _small_linalg(_torch_abs_products, np.concatenate([x for _, _, x in cands]),
                              np.concatenate([x for _, _, x in refs]))
        best_of = np.maximum.reduceat(sim, starts[:-1], axis=1)
        row = 0
        for tb, ids_b, xb in cands:
            scores = np.median(best_of[row:row + len(xb)], axis=0)
            k = int(np.argmax(scores))
            block = sim[row:row + len(xb), starts[k]:starts[k + 1]]
            found.append((float(scores[k]), tb, refs[k][0], float(np.mean(refs[k][1][block.argmax(1)] == ids_b)),
                          len(ids_b)))
            row += len(xb)
    return found


_NEGATIVE = ("architecture-clone", "independent")


class _UnitMethod(NamedTuple):
    """How a unit-matching statistic is named, thresholded and described in a verdict."""

    statistic: str  # TensorMatch.statistic of a matched tensor
    match: float  # a tensor at or above is inherited
    guard: float  # a tensor at or above forbids a negative verdict
    null: NullModel
    min_tensors: int  # inherited tensors a derived verdict needs
    how: str  # "after ...": what was matched with what
    measure: str  # the per-unit similarity
    rotated: str | None  # the transformation to report when derived this way


def _aligned_verdict(a: Fingerprint, b: Fingerprint, first: Comparison, alignment: Alignment) -> Comparison:
    """Unit matching after the residual alignment, for a pair the sketches at equal indices did not relate.

    Every candidate unit (row of a matrix reading the stream, column of one writing it) takes its best
    |cosine| with the aligned units of each reference tensor of its role (any layer); a tensor's statistic is
    the median over its units. Heads and MLP units may be in any order. Independent models trained on the same
    text reach 0.63 at most this way (`aligned_null`), rotated derivatives 0.93-0.99. A tensor at or above
    `aligned_match` is inherited; at or above `aligned_guard` no negative verdict stands."""
    cal = calibration()
    method = _UnitMethod(
        "aligned-units", cal.aligned_match, cal.aligned_guard, cal.aligned_null, cal.min_derived_tensors,
        f"after aligning the residual basis on {alignment.tokens} token rows", "|cosine|",
        f"residual stream rotated (orthogonal Procrustes on {alignment.tokens} token rows)" if alignment.rotated
        else None)
    return _unit_verdict(a, b, first, unit_matches(alignment, b), method)


def _response_verdict(a: Fingerprint, b: Fingerprint, first: Comparison) -> Comparison:
    """Unit matching by token responses (weights/responses.py) for models too wide to align: each candidate
    unit's best |Pearson r| over the shared probe tokens with a unit of each reference tensor of its role (any
    layer), median per tensor. Rotation- and permutation-invariant; thresholds `response_match` /
    `response_guard`, null `response_null` (docs/provenance.md, "Token responses")."""
    found = response_matches(a, b)
    if not found:
        return _rotation_not_excluded(a, b, first)
    cal = calibration()
    method = _UnitMethod(
        "token-responses", cal.response_match, cal.response_guard, cal.response_null, cal.response_min_tensors,
        f"with units matched by their responses to {len(np.intersect1d(a.response_tokens, b.response_tokens))} "
        "probe tokens", "|r|", "residual stream rotated or permuted; units matched by their token responses")
    return _unit_verdict(a, b, first, found, method)


def _residual_width(fp: Fingerprint) -> int | None:
    return next((oriented(t)[1] for t in fp.tensors if t.role == "embed" and len(t.shape) == 2), None)


def _rotation_not_excluded(a: Fingerprint, b: Fingerprint, first: Comparison) -> Comparison:
    """A negative verdict between wide pre-norm models that had no token responses to compare (a sampled or
    version 8 fingerprint): its sketches keep 128 columns of a row, so a rotated derivative would look exactly
    like an independent model (measured: the real SmolLM2 fine-tune rotated, sampled, against its GGUF base:
    `independent` at confidence 1.0). The verdict stands, its confidence is capped (`rotation_unexcluded`)."""
    cap = calibration().rotation_unexcluded
    wide = all((_residual_width(fp) or 0) > SKETCH_COLS for fp in (a, b))
    pre_norm = all(any(t.role in NORMS_READ for t in fp.tensors) for fp in (a, b))
    if first.verdict not in _NEGATIVE or first.confidence <= cap or not (wide and pre_norm):
        return first
    lacking = " and ".join(side for side, fp in (("reference", a), ("candidate", b)) if not fp.response_tokens)
    return first.model_copy(update=dict(
        confidence=cap, reason=f"{first.reason}; a rotated derivative is not excluded (no token responses in the "
                               f"{lacking}: a sampled or version 8 fingerprint)"))


def _unit_verdict(a: Fingerprint, b: Fingerprint, first: Comparison, found: list, method: _UnitMethod) -> Comparison:
    """The verdict from per-tensor unit matches `found` [(score, candidate, reference, own-index share, units)]
    for a pair the first pass found unrelated or inconclusive: derived when enough tensors are inherited, else
    no negative verdict while a tensor reaches the guard. Never positive from token rows alone: only matrices
    reading or writing the stream are matched."""
    cal = calibration()
    if not found:
        return first
    inherited = [f for f in found if f[0] >= method.match]
    top = max(f[0] for f in found)
    if len(inherited) < method.min_tensors:
        if first.verdict in _NEGATIVE and top >= method.guard:
            return first.model_copy(update=dict(
                verdict="inconclusive", confidence=0.0,
                reason=f"{method.how}, the units of a tensor match the reference's at median {method.measure} "
                       f"{top:.2f} (>= {method.guard:g}): the residual stream may be rotated"))
        return first
    null = method.null
    weakest = min(f[0] for f in inherited)
    confidence = 1.0 - min(1.0, _normal_sf((weakest - null.mean) / null.std) * len(found))
    mapping = {tb.layer: ta.layer for _, tb, ta, _, _ in inherited if tb.layer is not None}
    ref_layers, cand_layers = set(_depth(a)), set(_depth(b))
    transformations = []
    if first.vocab_rows_added:
        transformations.append(f"vocabulary {first.vocab_rows_added:+d} rows")
    permuted = []
    if method.rotated:
        transformations.append(method.rotated)
        permuted.append("residual")
    for role in sorted({tb.role for _, tb, _, own, _ in inherited if own < 0.5}):
        transformations.append(f"{'attention heads' if role.startswith('attn') else 'hidden units'} permuted ({role})")
        permuted.append(role)
    share = _inherited_share(b, [tb.layer for _, tb, _, _, _ in found], [tb.layer for _, tb, _, _, _ in inherited])
    partial = (share < cal.derived_share or cand_layers != ref_layers
               or first.vocab_rows_added < 0 or any(oriented(ta) != oriented(tb) for _, tb, ta, _, _ in inherited))
    matched = {tb.name: TensorMatch(candidate=tb.name, reference=ta.name, role=tb.role, layer=tb.layer,
                                    reference_layer=ta.layer, statistic=method.statistic, r=round(score, 6), n=units)
               for score, tb, ta, _, units in found}
    return first.model_copy(update=dict(
        verdict="partially-derived" if partial else "derived", confidence=round(confidence, 6),
        reason=f"{method.how}, {len(inherited)} of {len(found)} tensors have their units matched in the reference "
               f"at median {method.measure} >= {method.match:g} (weakest {weakest:.2f}; independent models: mean "
               f"{null.mean:.2f}, all below {method.guard:g})",
        transformations=transformations, permuted=sorted(permuted), layer_map=dict(sorted(mapping.items())),
        layer_similarity=[], layers_dropped=[], layers_duplicated={}, matched_tensors=len(inherited),
        score=round(float(median(f[0] for f in found)), 6),
        tensors=[matched.get(m.candidate, m) for m in first.tensors]))


def _consistent_scale(scales: list[tuple[int | None, float]]) -> float | None:
    """The median magnitude ratio, claimed only with evidence across layers: at least two layers whose own
    median ratio is off 1 by more than 5 % in the same direction (one odd tensor is no rescaling)."""
    per_layer: dict[int | None, list[float]] = defaultdict(list)
    for layer, ratio in scales:
        per_layer[layer].append(ratio)
    medians = [float(median(v)) for layer, v in per_layer.items() if layer is not None]
    if len(medians) < 2:
        return None
    overall = float(median([r for _, r in scales]))
    if abs(overall - 1) <= 0.05 or not all((m - 1) * (overall - 1) > 0 and abs(m - 1) > 0.05 for m in medians):
        return None
    return overall


def architecture_difference(a: Fingerprint, b: Fingerprint) -> str | None:
    """Why `b` cannot be a derivative of `a` by its geometry alone, or None.

    Derivations keep the kinds of matrices (a gated MLP stays gated, learned positions stay) and, when they
    prune, keep at least one axis of each role. So: different sets of matrix roles (fused and split count
    alike; a tied head and unnamed tensors are ignored), or no common role sharing an axis length."""

    def roles(fp: Fingerprint) -> dict[str, set[tuple[int, ...]]]:
        out: dict[str, set[tuple[int, ...]]] = defaultdict(set)
        for t in fp.tensors:
            if len(t.shape) != 2 or t.role.startswith(("unmapped:", "shape:")) or "." in t.role or t.role == "lm_head":
                continue
            for role in fused.PARTS.get(t.role, (t.role,)):
                out[role].add(oriented(t))
        return out

    ra, rb = roles(a), roles(b)
    if not ra or not rb:
        return None
    if set(ra) != set(rb):
        only_a, only_b = sorted(set(ra) - set(rb)), sorted(set(rb) - set(ra))
        parts = [f"only the reference has {', '.join(only_a)}" if only_a else "",
                 f"only the candidate has {', '.join(only_b)}" if only_b else ""]
        return "; ".join(p for p in parts if p)
    shared_axis = any(sa[k] == sb[k] for role in ra for sa in ra[role] for sb in rb[role] for k in (0, 1))
    if not shared_axis:
        return "no matrix of a common role shares a dimension (beyond what pruning changes)"
    return None


def _vocab_delta(a: Fingerprint, b: Fingerprint) -> int:
    rows = lambda fp: {t.role: t.shape[0] for t in fp.tensors if t.role in _VOCAB_ROLES and len(t.shape) == 2}  # noqa: E731
    ra, rb = rows(a), rows(b)
    common = sorted(set(ra) & set(rb))
    return rb[common[0]] - ra[common[0]] if common else 0


def geometry(fp: Fingerprint) -> list[tuple[str, int | None, tuple[int, ...]]]:
    """Name- and dtype-free geometry: the sorted (role, layer, shape) of every tensor (a fused matrix split by the
    config counts as its parts)."""
    split = {t.part_of for t in fp.tensors}
    return sorted((t.role, t.layer, oriented(t)) for t in fp.tensors if t.name not in split)


def _same_geometry(a: Fingerprint, b: Fingerprint) -> bool:
    return geometry(a) == geometry(b)
