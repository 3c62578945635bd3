"""`openscore site build`: the static leaderboard site from saved audit reports."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("site")
def site_group() -> None:
    """Build the static leaderboard site."""


@site_group.command("build")
@click.option(
    "--reports",
    "reports",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of saved audits (reports/<org>/<name>/<sha>.json). Absent or empty: the embedded samples are audited.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("_site"),
    show_default=True,
    help="Output folder; replaced whole, and only if empty or an earlier openscore site.",
)
@click.option("--rubric", default="osai-v3", show_default=True, help="Rubric that ranks the leaderboard.")
@click.option(
    "--with-realcards",
    "realcards",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Also audit these real-card folders (e.g. ../shared/data/realcards), metadata only, when no reports are given.",
)
@click.option("--registry/--no-registry", "with_registry", default=True, show_default=True,
              help="Publish the fingerprint registry under registry/ (`openscore registry pull URL/registry/`).")
def build_cmd(reports: Path | None, out: Path, rubric: str, realcards: Path | None, with_registry: bool) -> None:
    """Render the leaderboard, model, lineage, compare and rubric pages, the JSON/CSV API and badges."""
    from openscore.site import build_site_with_defaults

    built = build_site_with_defaults(reports, out, rubric=rubric, realcards=realcards)
    if with_registry:
        from openscore.weights.publish import export
        from openscore.weights.registry import Registry

        entries = export(Registry.load(), Path(built.out) / "registry")
        click.echo(f"{built.out}/registry: {len(entries)} registry entries (index.yaml + fingerprints)")
    click.echo(f"{built.out}: {built.models} models, {built.pages} pages, {built.files} files")
