"""Deterministic choice of the rows, columns and Gram indices a sketch keeps.

Choices depend on the tensor's canonical role and on index values only, never on tensor names or
on the dimension's length: an index is kept when its hash ranks among the smallest. A renamed copy
therefore samples the same rows, and a model with extra vocabulary rows or dropped hidden units
still shares most sampled indices with its base (the comparison intersects them).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

#: rows are taken in aligned blocks so a ranged read fetches several rows per request
ROW_BLOCK = 8
#: columns are taken in aligned blocks of 32, the GGUF Q8_0/Q4_0 block, so a quantised copy can be re-quantised
COL_BLOCK = 32
#: a column Gram over residual dimensions takes its indices in aligned runs of 8: one strided copy of 16-32
#: byte runs gathers them (5x faster than 48 single bf16 columns, measured). Residual dimensions have no
#: grouping, so runs change nothing statistically; unit axes do (head dims: runs inside one head raised the
#: unit-indexed null from z 5.8 to 7.4 on the zoo), so their Grams, and every row Gram, keep single indices
GRAM_RUN = 8


def _block_rank(seed: str, count: int) -> np.ndarray:
    """A pseudo-random rank for block indices 0..count-1, a function of (seed, index) only."""
    key = np.frombuffer(hashlib.sha256(seed.encode()).digest()[:8], dtype=np.uint64)[0]
    x = np.arange(count, dtype=np.uint64) ^ key
    # splitmix64 finaliser: every index gets an independent-looking 64-bit value
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


@lru_cache(maxsize=4096)
def pick_blocks(seed: str, length: int, block: int, keep: int) -> np.ndarray:
    """Sorted indices of `keep` elements (in whole blocks of `block`) out of `length`; all when fewer.

    Cached (every layer of a model asks the same questions) and so returned read-only."""
    if length <= keep:
        ids = np.arange(length, dtype=np.int64)
    else:
        blocks = length // block
        want = max(1, keep // block)
        if blocks <= want:
            ids = np.arange(blocks * block, dtype=np.int64)
        else:
            chosen = np.sort(np.argsort(_block_rank(seed, blocks), kind="stable")[:want])
            ids = (chosen[:, None] * block + np.arange(block)[None, :]).reshape(-1).astype(np.int64)
    ids.setflags(write=False)
    return ids


def pick_rows(role: str, rows: int, keep: int) -> np.ndarray:
    return pick_blocks(f"rows/{role}", rows, ROW_BLOCK, keep)


def pick_cols(role: str, cols: int, keep: int) -> np.ndarray:
    return pick_blocks(f"cols/{role}", cols, COL_BLOCK, keep)


def pick_gram(role: str, axis: str, length: int, keep: int, run: int = 1) -> np.ndarray:
    """Indices of the `axis` Gram ("gram_r": columns, "gram_c": rows), in aligned runs of `run`."""
    return pick_blocks(f"gram-{axis}/{role}", length, run, keep)
