"""A read budget for sampled weight fingerprints: audit a 400 GB model reading at most N % of its bytes.

A sampled fingerprint reads a header (the tensor table) and SAMPLE_ROWS rows of every matrix. When the
header and every matrix's rows fit the budget nothing changes. When they do not (a GGUF whose header holds
a large vocabulary, a tight budget), a deterministic, stratified subset of the matrices is read: every
matrix without a layer (embeddings, head), then whole layers (every role of a layer together) in the order
first, last, then midpoints breadth-first, so that any prefix of the order is spread over the depth. The
order depends on the layer's position in the depth only, never on names or dtypes: a renamed copy and its
base take the same layers, and a tighter budget takes a prefix of a looser one's. The subset never falls
below what a verdict needs (MIN_LAYERS layers and the power certificate's value count); when that floor
exceeds the budget, the fingerprint records by how much.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from openscore.errors import UsageError

#: a percentage never allows less than this: below it a budget saves less than the audit's other requests
#: cost, at the price of a weaker verdict (every tiny model stays whole)
MIN_BUDGET_BYTES = 1 << 20
#: the fewest layers a budgeted subset holds (the first and the last)
MIN_LAYERS = 2
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


@dataclass(frozen=True)
class ReadBudget:
    """At most `share` of the checkpoint's tensor bytes (never under `floor`), or exactly `size` bytes."""

    share: float | None = None
    size: int | None = None
    floor: int = MIN_BUDGET_BYTES

    def limit(self, total: int) -> int:
        """Bytes the header and the sampled rows of a checkpoint of `total` tensor bytes may take."""
        if self.size is not None:
            return self.size
        return max(math.floor(self.share * total), self.floor)

    @property
    def label(self) -> str:
        if self.size is not None:
            return f"{self.size:,} bytes" if self.size < 1 << 20 else f"{self.size / 2**20:,.2f} MiB"
        return f"{100 * self.share:g} %"

    @property
    def key(self) -> str:
        """A file-name-safe spelling (the fingerprint cache keys budgeted fingerprints by it)."""
        if self.size is not None:
            return f"{self.size}B"
        return f"{100 * self.share:g}pct" + ("" if self.floor == MIN_BUDGET_BYTES else f"-floor{self.floor}")


DEFAULT_READ_BUDGET = ReadBudget(share=0.02)


def parse_budget(text: str) -> ReadBudget | None:
    """`2%` (of the checkpoint's tensor bytes, at least MIN_BUDGET_BYTES), `64MiB` / `1.5GB` / `500000`
    (bytes), `none` or `0` (no budget). UsageError otherwise."""
    value = text.strip().lower().replace(" ", "")
    if value in ("none", "0", "0%", "off"):
        return None
    pct = re.fullmatch(r"(\d+(?:\.\d+)?)%", value)
    if pct and 0 < float(pct.group(1)) <= 100:
        return ReadBudget(share=float(pct.group(1)) / 100)
    size = re.fullmatch(r"(\d+(?:\.\d+)?)(b|kb|mb|gb|kib|mib|gib)?", value)
    if size and float(size.group(1)) > 0:
        return ReadBudget(size=int(float(size.group(1)) * _UNITS[size.group(2) or "b"]))
    raise UsageError(f"--read-budget {text!r}: expected a percentage (2%), a size (64MiB, 1.5GB) or none")


class BudgetRecord(BaseModel):
    """What a budgeted fingerprint holds: the budget, what it cost, and which matrices were left unread."""

    model_config = ConfigDict(extra="forbid")

    budget: str  # ReadBudget.label
    limit: int  # bytes the header and the sampled rows could take
    header_bytes: int  # bytes the headers took to read
    matrices: int  # matrices a complete sampled fingerprint sketches
    sampled: int  # of them, those read
    layers: list[int]  # the layers read (all of their matrices)
    layer_count: int  # layers of the checkpoint
    skipped: list[str]  # names of the matrices not read (their prints carry names and shapes only)
    exceeded: int = 0  # bytes over the limit: the smallest sound subset did not fit
    response_bytes: int = 0  # of the bytes read, those of the token responses (matrices read whole, probe rows, gains)

    def coverage(self) -> str:
        text = f"on {self.sampled} of {self.matrices} matrices sampled within a {self.budget} read budget"
        if self.exceeded:
            text += f", exceeded by {self.exceeded:,} bytes (the smallest sound subset)"
        return text


class Matrix(NamedTuple):
    """A matrix a sampled fingerprint reads: its layer (None: embeddings, head), bytes and sketched values."""

    layer: int | None
    cost: int
    values: int


def layer_order(count: int) -> list[int]:
    """Positions 0..count-1: first, last, then midpoints breadth-first (every prefix spread over the depth)."""
    order = list(dict.fromkeys([0, count - 1])) if count > 0 else []
    seen = set(order)
    spans = deque([(0, count - 1)])
    while spans:
        lo, hi = spans.popleft()
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        if mid not in seen:
            seen.add(mid)
            order.append(mid)
        spans.extend([(lo, mid), (mid, hi)])
    return order


def select(matrices: Sequence[Matrix], allowance: int, min_values: int) -> tuple[set[int], list[int], int]:
    """(indices of the matrices to read, their layers, their bytes) within `allowance` bytes.

    Matrices without a layer first, then whole layers in layer_order, stopping at the first that does not
    fit once MIN_LAYERS layers and `min_values` sketched values are held (so the subset stays a prefix)."""
    chosen = {i for i, m in enumerate(matrices) if m.layer is None}
    spent = sum(matrices[i].cost for i in chosen)
    values = sum(matrices[i].values for i in chosen)
    by_layer: dict[int, list[int]] = {}
    for i, m in enumerate(matrices):
        if m.layer is not None:
            by_layer.setdefault(m.layer, []).append(i)
    depth = sorted(by_layer)
    taken: list[int] = []
    for pos in layer_order(len(depth)):
        members = by_layer[depth[pos]]
        cost = sum(matrices[i].cost for i in members)
        if len(taken) >= MIN_LAYERS and values >= min_values and spent + cost > allowance:
            break
        chosen.update(members)
        taken.append(depth[pos])
        spent += cost
        values += sum(matrices[i].values for i in members)
    return chosen, sorted(taken), spent
