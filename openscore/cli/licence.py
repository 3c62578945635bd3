"""`openscore licence identify|resolve`: the licence engine from the command line."""

from __future__ import annotations

from pathlib import Path

import click

#: licence files are small; a larger "licence" is read only this far (identify_text bounds it again)
MAX_LICENCE_BYTES = 4_000_000


@click.group("licence")
def licence_group() -> None:
    """Identify licence texts and look up licence facts (`openscore license` works too)."""


@licence_group.command("identify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text lines.")
def identify_cmd(files: tuple[Path, ...], as_json: bool) -> None:
    """Name the licence each of FILES is (LICENSE, NOTICE, USE_POLICY...); "unknown" when none is recognised."""
    from dataclasses import asdict

    from openscore.atomic import canonical_json
    from openscore.errors import UsageError
    from openscore.licences import identify_text

    results = {}
    for path in files:
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_LICENCE_BYTES)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        results[str(path)] = identify_text(raw.decode("utf-8", errors="replace"))
    if as_json:
        click.echo(canonical_json({p: asdict(m) for p, m in results.items()}), nl=False)
        return
    from openscore.cli.console import echo, paint

    for path, match in results.items():
        where = f" line {match.line}" if match.line else ""
        shown = paint("grade", match.id, "unknown") if match.id == "unknown" else match.id
        echo(f"{path}: {shown} (confidence {match.confidence:.2f}, {match.method}{where})")


@licence_group.command("resolve")
@click.argument("license_id", required=False)
@click.option("--name", "license_name", help="The card's license_name (for `other`).")
@click.option("--link", "license_link", help="The card's license_link.")
def resolve_cmd(license_id: str | None, license_name: str | None, license_link: str | None) -> None:
    """Print the facts (JSON) of a card's licence: LICENSE_ID is its `license:` value (e.g. llama3.1).

    Exit 2, with nothing on stdout, when openscore does not know the licence."""
    from openscore.atomic import canonical_json
    from openscore.errors import UsageError
    from openscore.licences import resolve

    given = [f"{what} {value!r}" for what, value in (("id", license_id), ("--name", license_name),
                                                     ("--link", license_link)) if value]
    if not given:
        raise UsageError("nothing to resolve: give LICENSE_ID (a card's `license:` value), --name or --link")
    facts = resolve(license_id, license_name=license_name, license_link=license_link)
    if facts.id == "unknown":
        raise UsageError(f"unknown licence ({', '.join(given)}): not a Hub licence id, SPDX id, licence name or "
                         "link openscore knows (openscore/data/licences.yaml)")
    click.echo(canonical_json(facts.model_dump(mode="json")), nl=False)
