"""Token responses: a unit statistic that survives a rotation of the residual stream, for wide models.

A matrix W that reads the residual stream (q, k, v, gate, up; rows = units) answers a fixed set of probe
token rows E (the same token ids on both sides: a derivative keeps its vocabulary) with
P = X · diag(g) · Wᵀ, X = E with each row RMS-normalised, g the gain of the norm in front of W. A rotation
derivative (E -> E·R, the gain folded into W, W -> W·diag(g)·R) leaves P unchanged: E·R·Rᵀ·diag(g)·Wᵀ, and
RMS normalisation commutes with R. A matrix that writes the stream (o, down; columns = units, W -> Rᵀ·W)
answers with P = X · W, unchanged alike. Permuting units (MLP units, heads) permutes P's columns, so the kept
units are chosen by a rotation- and permutation-invariant rank: the largest ‖g ⊙ w_j‖. compare() matches each
candidate unit to its best reference unit of the role by |Pearson| over the shared probe tokens
(`response_matches`); the null is empirical (docs/provenance.md, "Token responses").

Only models wider than SKETCH_COLS get responses (narrower ones hold whole units and token rows, and are
aligned by orthogonal Procrustes instead), and only pre-norm blocks (the gain is part of the invariant).
Ranking the units needs every row, so a sampled fingerprint reads a few matrices whole (`sampled_picks`: by
position and shape only, so a renamed copy, a GGUF, a fused re-save and the original pick the same ones; of a
fused matrix only the picked part's rows) and keeps exactly the responses a full fingerprint keeps for them;
compare() then matches a full candidate's same matrices.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import torch

from openscore.errors import InvalidCheckpoint
from openscore.read_budget import layer_order
from openscore.weights import sampling
from openscore.weights.decode import decode_rows, is_readable, matrix_shape, row_bytes

#: probe tokens (whole embedding rows): 128 give a per-unit |Pearson| null of about 0.09 per pair
RESPONSE_TOKENS = 128
#: probe ids are drawn from the first this many token ids, so models whose vocabularies differ in size above it
#: (added rows, padding) probe the same tokens
RESPONSE_VOCAB = 32768
#: units kept per matrix (the largest ‖g ⊙ w_j‖); a candidate's first RESPONSE_MATCHED of them are matched
#: against all of the reference's, so a unit that moved a few ranks in a fine-tune still finds its partner
RESPONSE_UNITS = 32
RESPONSE_MATCHED = 16
#: matrices that read the residual stream -> the norm whose gain scales their input (pre-norm blocks)
READERS = {"attn_q": "attn_norm", "attn_k": "attn_norm", "attn_v": "attn_norm",
           "mlp_gate": "mlp_norm", "mlp_up": "mlp_norm"}
#: matrices that write it (units are their columns: P = X·W, E·R·Rᵀ·W = E·W) -> the norm of their block, whose
#: presence marks a pre-norm block (its gain does not apply: it scales what the next matrices read)
WRITERS = {"attn_o": "attn_norm", "mlp_down": "mlp_norm"}
#: every role that keeps token responses
RESPONSE_ROLES = frozenset(READERS) | frozenset(WRITERS)
#: the norms whose gains the responses use: a model with them has pre-norm blocks
NORMS_READ = frozenset(READERS.values())
#: a sampled fingerprint reads whole, for their responses, the SAMPLED_MATRICES reading matrices of fewest values
#: (ties in _PICK_ORDER) of each of the first SAMPLED_LAYERS layers of read_budget.layer_order (first and last):
#: attn_k of a GQA model. Two matrices, the fewest a derived verdict takes (`response_min_tensors`): each more
#: costs a whole matrix (0.25 % of a Llama-2-7B; docs/provenance.md, "Token responses in sampled fingerprints")
SAMPLED_LAYERS = 2
SAMPLED_MATRICES = 1
_PICK_ORDER = {role: i for i, role in enumerate(("attn_k", "attn_v", "attn_q", "mlp_gate", "mlp_up"))}
#: rows whose squared norms are summed at a time (bounds the float copy of a bf16 matrix)
_CHUNK_ROWS = 1024


class ResponseInputs(NamedTuple):
    """What the fingerprint pass needs to compute a matrix's token responses."""

    tokens: np.ndarray  # probe token ids
    x: torch.Tensor  # [tokens, hidden] probe rows, RMS-normalised (float32)
    gains: dict[tuple[str, int | None], torch.Tensor]  # (norm role, layer) -> gain
    rows: dict[int, torch.Tensor] = {}  # token id -> its embed row as read (a sampled pass reuses them)


class ProbePlan(NamedTuple):
    """What response_inputs reads: the probe rows of `embed` and the norm gains of a residual `hidden` wide."""

    embed: object  # the fingerprint pass's placement of embed
    tokens: np.ndarray
    hidden: int
    norms: list  # placements of the gains

    @property
    def cost(self) -> int:
        """Bytes the reads take (one read per run of probe ids, the whole gains)."""
        rec = self.embed.record
        return len(self.tokens) * row_bytes(rec.dtype, self.hidden) + sum(p.record.end - p.record.start
                                                                       for p in self.norms)

    def gain_of(self, role: str, layer: int | None):
        """The placement of the gain in front of matrix `role` of `layer`, or None when it is not read."""
        norm = READERS.get(role) or WRITERS.get(role)
        return next((p for p in self.norms if p.role == norm and p.layer == layer), None)


def probe_plan(placed, hidden_limit: int) -> ProbePlan | None:
    """What the responses need to read, or None when the model is at most `hidden_limit` wide, has no
    untransposed float-readable embedding, or has too few tokens. `placed` are the fingerprint pass's placements."""
    embed = next((p for p in placed if p.role == "embed" and len(p.record.shape) == 2 and not p.transposed), None)
    if embed is None:
        return None
    rec = embed.record
    vocab, hidden = matrix_shape(tuple(rec.shape))
    if hidden <= hidden_limit or vocab < RESPONSE_TOKENS or not is_readable(rec.dtype):
        return None
    tokens = sampling.pick_rows("responses", min(vocab, RESPONSE_VOCAB), RESPONSE_TOKENS)
    norms = [p for p in placed if p.role in NORMS_READ and tuple(p.record.shape) == (hidden,)
             and is_readable(p.record.dtype)]
    return ProbePlan(embed, tokens, hidden, norms)


def response_inputs(plan: ProbePlan | None, read, device: str) -> ResponseInputs | None:
    """The probe rows, RMS-normalised, and the gains `plan` names (None without a plan).
    `read(file, start, length)` reads bytes."""
    if plan is None:
        return None

    def fetch(file: str, start: int, length: int) -> bytearray:
        data = read(file, start, length)
        if len(data) != length:
            raise InvalidCheckpoint(f"{file}: short read at byte {start}: wanted {length}, got {len(data)}")
        return bytearray(data)

    rec, hidden, tokens = plan.embed.record, plan.hidden, plan.tokens
    stride = row_bytes(rec.dtype, hidden)
    # one read per run of consecutive ids (the sampler picks aligned blocks of 8)
    runs = np.split(tokens, np.nonzero(np.diff(tokens) != 1)[0] + 1)
    raw = torch.cat([decode_rows(fetch(rec.file, rec.start + int(run[0]) * stride, len(run) * stride), rec.dtype,
                                 len(run), hidden, device, rec.dequant, int(run[0])) for run in runs]).float()
    x = raw * torch.rsqrt(raw.pow(2).mean(1, keepdim=True).clamp_min(1e-30))
    gains = {}
    for p in plan.norms:
        r = p.record
        gains[(p.role, p.layer)] = decode_rows(fetch(r.file, r.start, r.end - r.start), r.dtype, 1, hidden,
                                               device, r.dequant)[0].float()
    return ResponseInputs(tokens.astype(np.int32), x, gains, dict(zip(tokens.tolist(), raw)))


def sampled_picks(matrices) -> set:
    """Keys of the matrices a sampled fingerprint reads whole for their token responses, from
    (key, role, layer, values) of the eligible matrices (reading the stream, gain known; a part of a fused matrix,
    Phi-3 qkv_proj or InternLM2 wqkv, counts as the matrix it stacks, so a fused and a split copy pick alike):
    SAMPLED_MATRICES of fewest values of each of the first SAMPLED_LAYERS layers in layer_order. Position and
    shape decide, never names or dtypes: a GGUF and its safetensors original pick the same matrices."""
    by_layer: dict[int, list] = defaultdict(list)
    for key, role, layer, values in matrices:
        if role in _PICK_ORDER and layer is not None:
            by_layer[layer].append((values, _PICK_ORDER[role], key))
    depth = sorted(by_layer)
    picked = set()
    for pos in layer_order(len(depth))[:SAMPLED_LAYERS]:
        picked.update(key for _, _, key in sorted(by_layer[depth[pos]], key=lambda m: m[:2])[:SAMPLED_MATRICES])
    return picked


def unit_responses(matrix: torch.Tensor, role: str, layer: int | None, inputs: ResponseInputs
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """(kept unit indices in rank order, their responses [tokens, units] as fp16) of a matrix in [out, in]
    orientation that reads (rows are units) or writes (columns are units) a residual of the probes' width, or
    None otherwise and outside pre-norm blocks: the invariance needs the gain in front of a reading matrix (a
    post-norm BERT has none and keeps no responses)."""
    gain = inputs.gains.get((READERS.get(role) or WRITERS.get(role), layer))
    matrix = matrix.T if role in WRITERS else matrix  # [units, residual]
    if gain is None or matrix.shape[1] != inputs.x.shape[1] or matrix.shape[0] < 2:
        return None
    gain = torch.ones_like(gain) if role in WRITERS else gain
    gain = gain.to(matrix.device)
    norms = torch.cat([_squares(chunk) @ gain.square() for chunk in matrix.split(_CHUNK_ROWS)])  # ‖g ⊙ w_j‖²
    # descending norm, ties by index: deterministic
    order = np.lexsort((np.arange(len(norms)), -norms.cpu().numpy().astype(np.float64)))[:RESPONSE_UNITS]
    units = torch.as_tensor(order.astype(np.int64), device=matrix.device)
    picked = matrix.index_select(0, units).float() * gain
    responses = torch.nan_to_num(inputs.x.to(matrix.device) @ picked.T, nan=0.0, posinf=0.0, neginf=0.0)
    # each unit scaled to a largest response of 1 before fp16 (no overflow; a Pearson r ignores the scale)
    responses = responses / responses.abs().amax(0).clamp_min(1e-30)
    return order.astype(np.int32), responses.cpu().numpy().astype(np.float16)


def _squares(chunk: torch.Tensor) -> torch.Tensor:
    """The squared values as float32: squared in place when the cast copied (bf16, fp16), never in the
    checkpoint's own memory (a float32 chunk is a view of it)."""
    values = chunk.float()
    return values.square_() if values.data_ptr() != chunk.data_ptr() else values.square()


def _standardised(p: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm: a product of two of them is a Pearson r."""
    p = p.astype(np.float64)
    p = p - p.mean(0)
    norm = np.linalg.norm(p, axis=0)
    return p / np.where(norm > 0, norm, 1.0)


class ResponseMatch(NamedTuple):
    score: float  # median over the candidate's matched units of its best |r| with a unit of `reference`
    candidate: object  # TensorPrint
    reference: object  # TensorPrint
    own_index: float  # share of those units whose best partner has their unit index
    units: int


def response_matches(a, b) -> list[ResponseMatch]:
    """Per candidate (`b`) matrix with token responses: its best reference tensor of the same role (any
    layer) by the median over its RESPONSE_MATCHED strongest units of the best |Pearson r| over the probe tokens
    both fingerprints share. Empty when either has no responses or they share fewer than half the probes."""
    if not a.response_tokens or not b.response_tokens:
        return []
    shared, ia, ib = np.intersect1d(a.response_tokens, b.response_tokens, return_indices=True)
    if len(shared) < RESPONSE_TOKENS // 2:
        return []
    refs: dict[str, list] = defaultdict(list)
    for t in a.tensors:
        if "responses" in t.sketch:
            refs[t.role].append((t, a.array(t, "response_units"), _standardised(a.array(t, "responses")[ia])))
    candidates = [t for t in b.tensors if "responses" in t.sketch]
    if a.sample and not b.sample:
        # a sampled reference holds the responses of the few matrices sampled_picks names: the candidate's same ones
        # (a part of a fused matrix competes as the split matrix: shapes alike)
        candidates = [candidates[i] for i in sorted(sampled_picks(
            (i, t.role, t.layer, math.prod(t.shape)) for i, t in enumerate(candidates)))]
    found = []
    for tb in candidates:
        if not refs.get(tb.role):
            continue
        units_b = b.array(tb, "response_units")[:RESPONSE_MATCHED]
        xb = _standardised(b.array(tb, "responses")[ib][:, :RESPONSE_MATCHED])
        best = None
        for ta, units_a, xa in refs[tb.role]:
            sim = np.abs(xb.T @ xa)
            score = float(np.median(sim.max(1)))
            if best is None or score > best.score:
                own = float(np.mean(units_a[sim.argmax(1)] == units_b))
                best = ResponseMatch(score, tb, ta, own, len(units_b))
        found.append(best)
    return found
