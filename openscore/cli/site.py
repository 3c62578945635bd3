"""`openscore site build`: the static leaderboard site from saved audit reports.

The site package only reads reports. With no reports (or an empty folder) this command first
audits the embedded samples into a temporary folder, so a fresh machine still gets a meaningful
site: the honest `tiny-llama` and its renamed, relicensed `tiny-llama-shell`, exactly the case the
lineage page exists to show. `--with-realcards` adds every model folder found there, audited from
metadata only (the real cards ship LFS pointers, not weights).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click


def holds_no_reports(reports: Path) -> bool:
    """An existing folder without any report; a missing folder is a mistake, not "no reports"."""
    return reports.is_dir() and not any(reports.rglob("*.json"))


def realcard_folders(realcards: Path) -> list[Path]:
    """Model folders under `realcards` (those holding a README.md or config.json), sorted."""
    return sorted(p for p in realcards.iterdir() if p.is_dir() and ((p / "README.md").is_file() or (p / "config.json").is_file()))


def audit_defaults(reports: Path, *, realcards: Path | None = None, ids: Path | None = None) -> list[Path]:
    """Audit the samples (weights read) and the real cards (metadata only) into `reports`.

    `ids` is a list file (`SRC [ID]` lines, as `audit --from` reads; e.g. examples/realcards.list): a
    folder it names by a Hub id is audited as that id, so the cards join their declared bases' families."""
    from openscore.audit import audit, write_report
    from openscore.batch import read_list
    from openscore.samples import SAMPLE_NAMES

    named = {Path(job.spec).name: job.identity for job in read_list(ids) if job.identity} if ids else {}
    written = [write_report(audit(f"sample:{name}"), reports) for name in SAMPLE_NAMES]
    for folder in realcard_folders(realcards) if realcards else []:
        written.append(write_report(audit(str(folder), weights=False, identity=named.get(folder.name)), reports))
    return written


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
@click.option("--ids", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --with-realcards: a list file (`SRC [ID]` lines, e.g. examples/realcards.list) naming "
                   "folders by their Hub ids.")
@click.option("--registry/--no-registry", "with_registry", default=True, show_default=True,
              help="Publish the fingerprint registry under registry/ (`openscore registry pull URL/registry/`).")
def build_cmd(reports: Path | None, out: Path, rubric: str, realcards: Path | None, ids: Path | None,
              with_registry: bool) -> None:
    """Render the leaderboard, model, lineage, compare and rubric pages, the JSON/CSV API and badges."""
    from openscore.site import build_site

    if reports is not None and not holds_no_reports(reports):
        built = build_site(reports, out, rubric=rubric)
    else:
        with tempfile.TemporaryDirectory(prefix="openscore-site-reports-") as scratch:
            audit_defaults(Path(scratch), realcards=realcards, ids=ids)
            built = build_site(Path(scratch), out, rubric=rubric)
    if with_registry:
        from openscore.weights.publish import export
        from openscore.weights.registry import Registry

        entries = export(Registry.load(), Path(built.out) / "registry")
        click.echo(f"{built.out}/registry: {len(entries)} registry entries (index.yaml + fingerprints)")
    click.echo(f"{built.out}: {built.models} models, {built.pages} pages, {built.files} files")
