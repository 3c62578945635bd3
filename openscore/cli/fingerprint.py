"""`openscore fingerprint` and `openscore compare`: thin commands over openscore.weights."""

from __future__ import annotations

import click

from openscore.cli.limits import limit_options
from openscore.atomic import canonical_json


def progress_printer(label: str):
    """A progress callback printing whole-ten percentages of bytes to stderr."""
    state = {"shown": -1}

    def report(done: int, total: int) -> None:
        pct = 100 if not total else done * 100 // total
        if pct // 10 > state["shown"]:
            state["shown"] = pct // 10
            click.echo(f"{label}: {pct}% of {total / 1e6:.1f} MB", err=True)

    return report


@click.command("fingerprint")
@click.argument("src")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Fingerprint file to write.")
@click.option("--sample", is_flag=True, help="Read only the sketched rows (ranged reads); no content hashes.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="Torch device (default: cuda if available).")
@limit_options
def fingerprint_cmd(src: str, output: str, sample: bool, device: str | None) -> None:
    """Fingerprint the weights of SRC (folder, sample:NAME or org/name[@rev]) into a small file."""
    from openscore.weights.spec import fingerprint_spec

    fp = fingerprint_spec(src, sample=sample, device=device, progress=progress_printer(src))
    fp.save(output)
    click.echo(f"{output}: {len(fp.tensors)} tensors, read {fp.bytes_read} of {fp.bytes_total} bytes", err=True)


@click.command("compare")
@click.argument("reference")
@click.argument("candidate")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sample", is_flag=True, help="Fingerprint checkpoints by sampling rows only.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@limit_options
def compare_cmd(reference: str, candidate: str, fmt: str, sample: bool, device: str | None) -> None:
    """Is CANDIDATE derived from REFERENCE? Each is a checkpoint or a fingerprint file."""
    from openscore.weights import compare
    from openscore.weights.spec import fingerprint_spec

    fps = [fingerprint_spec(s, sample=sample, device=device, progress=progress_printer(s)) for s in (reference, candidate)]
    result = compare(*fps)
    if fmt == "json":
        click.echo(canonical_json(result.model_dump(mode="json", exclude={"tensors"})), nl=False)
        return
    click.echo(f"verdict: {result.verdict} (confidence {result.confidence:.3f}, score {result.score:.3f})")
    click.echo(f"reason: {result.reason}")
    for item in result.transformations:
        click.echo(f"transformation: {item}")
    for old, new in result.renames:
        click.echo(f"renamed: {old} -> {new}")
    if result.layer_map:
        pairs = ", ".join(f"{i}->{'-' if j is None else j}" for i, j in sorted(result.layer_map.items()))
        click.echo(f"layers (candidate->reference): {pairs}")
