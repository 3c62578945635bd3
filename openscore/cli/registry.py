"""`openscore registry add|list|match`: the reference fingerprints a candidate is matched against."""

from __future__ import annotations

import click

from openscore.atomic import canonical_json
from openscore.cli.fingerprint import fingerprint_with_progress
from openscore.cli.options import sparse_option


@click.group("registry")
def registry_group() -> None:
    """Reference fingerprints of known base models (shipped + ~/.cache/openscore/registry)."""


@registry_group.command("add")
@click.argument("src")
@click.option("--id", "entry_id", required=True, help="Registry id, e.g. org/name or org/name@revision.")
@click.option("--licence", "--license", "licence", default=None, help="Licence id of the model (SPDX or named).")
def add_cmd(src: str, entry_id: str, licence: str | None) -> None:
    """Fingerprint SRC (or load a fingerprint file) and store it in the user registry."""
    from openscore.weights.registry import Registry

    registry = Registry.load()
    entry = registry.add(fingerprint_with_progress(src), entry_id, licence=licence)
    click.echo(f"added {entry.id} ({len(entry.files)} weight files) to {registry.user_dir}")


@registry_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_cmd(fmt: str) -> None:
    """Every registry entry: id, licence, family, source."""
    from openscore.weights.registry import Registry

    entries = Registry.load().entries()
    if fmt == "json":
        click.echo(canonical_json([e.model_dump(mode="json") for e in entries]), nl=False)
        return
    for e in entries:
        click.echo(f"{e.id}\t{e.licence or '-'}\t{e.family or '-'}\t{e.source}")


@registry_group.command("match")
@click.argument("src")
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 100))
@sparse_option()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def match_cmd(src: str, top: int, sparse: bool, fmt: str) -> None:
    """The registry entries SRC is most strongly related to."""
    from openscore.weights.registry import Registry

    matches = Registry.load().match(fingerprint_with_progress(src, sample=sparse), top=top)
    if fmt == "json":
        click.echo(canonical_json([m.model_dump(mode="json", exclude={"comparison": {"tensors"}}) for m in matches]),
                   nl=False)
        return
    for m in matches:
        c = m.comparison
        click.echo(f"{m.id}\t{c.verdict}\tconfidence {c.confidence:.3f}\tscore {c.score:.3f}\t{c.reason}")
