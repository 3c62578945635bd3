"""`openscore audit`: audit models, write their reports, print a readable summary."""

from __future__ import annotations

from pathlib import Path

import click

from openscore.cli.console import ByteMeter, echo, paint
from openscore.cli.options import sparse_option
from openscore.errors import UnsafePickle, UsageError
from openscore.textstyle import unpainted

FORMATS = ("text", "json", "cyclonedx")


@click.command("audit")
@click.argument("sources", nargs=-1, metavar="[SRC]...")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder the reports are written to (<org>/<name>/<sha>.json).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="What to print (or write with -o): a summary, the report JSON, or a CycloneDX 1.6 AI-BOM.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the --format output to FILE instead of stdout (one SRC only for json/cyclonedx).")
@click.option("--rubric", "rubrics", multiple=True, metavar="ID",
              help="Rubric to grade against (repeatable; default: osai-v3, osai-v1, mof, osaid).")
@click.option("--no-weights", is_flag=True, help="Do not read weights: card, licence and files only (fast).")
@sparse_option("sample")
@click.option("--endpoint", default=None, metavar="URL", help="Hub endpoint (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, metavar="T", help="Hub token for gated or private repositories.")
@click.option("--overrides", "overrides_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of reviewed overrides (<org>/<name>.yaml); default: ./overrides when it exists.")
def audit_cmd(sources, reports_dir, fmt, output, rubrics, no_weights, sample, endpoint, token, overrides_dir):
    """Audit SRC (Hub `org/name[@rev]`, a local folder, or `sample:NAME`) for openness and provenance.

    With no SRC, audits the embedded sample models (works offline)."""
    from openscore.audit import audit, write_report
    from openscore.openness.summary import summary_text
    from openscore.samples import SAMPLE_NAMES

    specs = list(sources) or [f"sample:{name}" for name in SAMPLE_NAMES]
    if output is not None and fmt != "text" and len(specs) > 1:
        raise UsageError(f"-o with --format {fmt} takes one SRC, got {len(specs)}")
    if overrides_dir is None and Path("overrides").is_dir():
        overrides_dir = Path("overrides")
    rendered, unsafe = [], []
    for spec in specs:
        click.echo(f"auditing {spec}", err=True)
        report = audit(spec, endpoint=endpoint, token=token, weights=not no_weights, sample=sample,
                       rubrics=rubrics or None, overrides_dir=overrides_dir,
                       progress=lambda msg: click.echo(f"  {msg}", err=True), byte_progress=ByteMeter("  fingerprint"))
        path = write_report(report, reports_dir)
        click.echo(f"  report: {path}", err=True)
        if fmt == "text":
            rendered.append(summary_text(report, path, paint=paint if output is None else unpainted))
        elif fmt == "json":
            rendered.append(report.to_json())
        else:
            from openscore.bom import cyclonedx_json

            rendered.append(cyclonedx_json(report))
        unsafe += [f.message for f in report.findings if f.id == "unsafe-pickle" and f.severity == "error"]
    text = "\n".join(rendered)
    if output is not None:
        from openscore.atomic import write_text

        write_text(output, text if text.endswith("\n") else text + "\n")
    else:
        echo(text, nl=not text.endswith("\n"))
    if unsafe:
        raise UnsafePickle(unsafe[0])
