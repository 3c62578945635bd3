"""`openscore licence identify|resolve`: the licence engine from the command line."""

from __future__ import annotations

from pathlib import Path

import click

#: licence files are small; a larger "licence" is read only this far (identify_text bounds it again)
MAX_LICENCE_BYTES = 4_000_000


@click.group("licence")
def licence_group() -> None:
    """Identify licence texts and look up licence facts."""


@licence_group.command("identify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text lines.")
def identify_cmd(files: tuple[Path, ...], as_json: bool) -> None:
    """Name the licence each of FILES is (LICENSE, NOTICE, USE_POLICY...); "unknown" when none is recognised."""
    from dataclasses import asdict

    from openscore.atomic import canonical_json
    from openscore.licences import identify_text
    from openscore.safeio import open_regular

    results = {}
    for path in files:
        with open_regular(path, what="licence file") as fh:
            raw = fh.read(MAX_LICENCE_BYTES)
        results[str(path)] = identify_text(raw.decode("utf-8", errors="replace"))
    if as_json:
        click.echo(canonical_json({p: asdict(m) for p, m in results.items()}), nl=False)
        return
    for path, match in results.items():
        where = f" line {match.line}" if match.line else ""
        click.echo(f"{path}: {match.id} (confidence {match.confidence:.2f}, {match.method}{where})")


@licence_group.command("resolve")
@click.argument("license_id", required=False)
@click.option("--name", "license_name", help="The card's license_name (for `other`).")
@click.option("--link", "license_link", help="The card's license_link.")
def resolve_cmd(license_id: str | None, license_name: str | None, license_link: str | None) -> None:
    """Print the facts (JSON) of a card's licence: LICENSE_ID is its `license:` value (e.g. llama3.1)."""
    from openscore.atomic import canonical_json
    from openscore.licences import resolve

    facts = resolve(license_id, license_name=license_name, license_link=license_link)
    click.echo(canonical_json(facts.model_dump(mode="json")), nl=False)
