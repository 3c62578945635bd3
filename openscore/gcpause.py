"""The cyclic garbage collector paused around passes that allocate an object or more per tensor.

Such a pass makes no reference cycles (reference counting frees all it drops), but its allocations trigger
collections that walk every object alive, the pass's own included: a checkpoint of 300k tensors spent more
than half of reading its headers and building its layout in the collector (bench/hostile.py). Collection
resumes after the pass; nested or concurrent pauses leave it as the outermost found it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
