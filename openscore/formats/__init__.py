"""Checkpoint format readers: safetensors, pickle (scanned, never loaded) and GGUF headers.

`read_checkpoint(source)` returns every tensor's name, shape, dtype and absolute byte range without
loading weights; `assert_safe(headers)` refuses dangerous pickles.
"""

from __future__ import annotations

from openscore.formats.checkpoint import read_checkpoint
from openscore.formats.pickles import assert_safe
from openscore.formats.records import CheckpointHeaders, PickleScan, TensorRecord, WeightFormat

__all__ = ["CheckpointHeaders", "PickleScan", "TensorRecord", "WeightFormat", "assert_safe", "read_checkpoint"]
