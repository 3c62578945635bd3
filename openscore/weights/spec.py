"""Fingerprints from what a user names on the command line: a fingerprint file or a checkpoint."""

from __future__ import annotations

from pathlib import Path

from openscore.weights.fingerprint import Fingerprint, Progress, fingerprint, is_fingerprint_file


def fingerprint_spec(
    spec: str,
    *,
    sample: bool = False,
    device: str | None = None,
    progress: Progress | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> Fingerprint:
    """Load `spec` when it is a fingerprint file, else fingerprint the checkpoint it names."""
    if is_fingerprint_file(Path(spec)):
        return Fingerprint.load(spec)
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source

    source = open_source(spec, endpoint=endpoint, token=token)
    headers = read_checkpoint(source)
    return fingerprint(source, headers, build_layout(headers), sample=sample, device=device, progress=progress)
