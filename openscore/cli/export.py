"""`openscore export osai|mot REPORT`: an audit report as an OSAI Index entry or a MOT model file."""

from __future__ import annotations

from pathlib import Path

import click

_OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                       help="File to write (atomically); default: standard output.")
_REPORT = click.argument("report", type=click.Path(dir_okay=False, path_type=Path))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from openscore.atomic import write_text

    write_text(output, text)
    click.echo(f"wrote {output}", err=True)


@click.group("export")
def export_group() -> None:
    """Export an audit report in the format of an outside openness framework."""


@export_group.command("osai")
@_REPORT
@_OUTPUT
def osai_cmd(report: Path, output: Path | None) -> None:
    """REPORT's osai-v3 grades as a European Open Source AI Index entry (YAML, CC-BY-4.0 header)."""
    from openscore.anchors import osai
    from openscore.report import load_report

    _emit(osai.dump(osai.from_report(load_report(report))), output)


@export_group.command("mot")
@_REPORT
@_OUTPUT
def mot_cmd(report: Path, output: Path | None) -> None:
    """REPORT's MOF grades as a Model Openness Tool model file (YAML)."""
    from openscore.anchors import mot
    from openscore.report import load_report

    _emit(mot.from_report(load_report(report)), output)
