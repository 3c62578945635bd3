"""`openscore fingerprint` and `openscore compare`: thin commands over openscore.weights."""

from __future__ import annotations

from pathlib import Path

import click

from openscore.atomic import canonical_json
from openscore.cli.console import ByteMeter, echo, mib, paint
from openscore.cli.limits import limit_options
from openscore.cli.options import check_budget_needs_sparse, read_budget_option, sparse_option


def fingerprint_with_progress(src: str, **kwargs):
    """`fingerprint_spec(src)` with a live progress line (rate, ETA) on a terminal, plain lines otherwise."""
    from openscore.weights.spec import fingerprint_spec

    name = Path(src).name if Path(src).is_dir() else src  # a folder by its name: the line stays short
    with ByteMeter(f"fingerprint {name}") as meter:
        return fingerprint_spec(src, progress=meter, **kwargs)


@click.command("fingerprint")
@click.argument("src")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Fingerprint file to write.")
@sparse_option()
@read_budget_option()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="Torch device (default: cuda if available).")
@limit_options
def fingerprint_cmd(src: str, output: str, sparse: bool, read_budget, device: str | None) -> None:
    """Fingerprint the weights of SRC (folder, sample:NAME or org/name[@rev]) into a small file."""
    check_budget_needs_sparse(sparse)
    fp = fingerprint_with_progress(src, sample=sparse, device=device, read_budget=read_budget)
    fp.save(output)
    click.echo(f"{output}: {len(fp.tensors)} tensors, read {mib(fp.bytes_read)} of {mib(fp.bytes_total)} MiB"
               + (f", {fp.budget.coverage()}" if fp.budget else ""), err=True)


@click.command("compare")
@click.argument("reference")
@click.argument("candidate")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@sparse_option()
@read_budget_option()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@limit_options
def compare_cmd(reference: str, candidate: str, fmt: str, sparse: bool, read_budget, device: str | None) -> None:
    """Is CANDIDATE derived from REFERENCE? Each is a checkpoint or a fingerprint file."""
    from openscore.weights import compare

    check_budget_needs_sparse(sparse)
    fps = [fingerprint_with_progress(s, sample=sparse, device=device, read_budget=read_budget)
           for s in (reference, candidate)]
    result = compare(*fps)
    if fmt == "json":
        click.echo(canonical_json(result.model_dump(mode="json", exclude={"tensors"})), nl=False)
        return
    echo(f"verdict: {paint('verdict', result.verdict)} (confidence {result.confidence:.3f}, score {result.score:.3f})")
    click.echo(f"reason: {result.reason}")
    for item in result.transformations:
        click.echo(f"transformation: {item}")
    for old, new in result.renames:
        click.echo(f"renamed: {old} -> {new}")
    if result.layer_map:
        pairs = ", ".join(f"{i}->{'-' if j is None else j}" for i, j in sorted(result.layer_map.items()))
        click.echo(f"layers (candidate->reference): {pairs}")
