"""`openscore inspect`: inventory, formats, layout fingerprint and renames of one repository."""

from __future__ import annotations

import click

from openscore.cli.limits import limit_options


@click.command("inspect")
@click.argument("spec")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="A readable summary, or the JSON document described by `openscore schema inspect`.")
@click.option("--endpoint", metavar="URL", default=None, help="Hub endpoint (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the stored login).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to FILE instead of stdout.")
@limit_options
def inspect_cmd(spec: str, fmt: str, endpoint: str | None, token: str | None, output: str | None) -> None:
    """Inspect SPEC: a Hub repo `org/name[@revision]`, a local folder, or `sample:NAME`."""
    from openscore.atomic import write_text
    from openscore.inspect import inspect, render_text

    result = inspect(spec, endpoint=endpoint, token=token)
    text = result.to_json() if fmt == "json" else render_text(result)
    if output:
        write_text(output, text)
    else:
        click.echo(text, nl=False)
