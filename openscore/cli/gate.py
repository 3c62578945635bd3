"""`openscore gate`: audit models (or read saved reports) and check them against a policy."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from openscore.cli.limits import limit_options
from openscore.errors import UsageError

#: the example policy in a checkout (and on GitHub); a starting point for a team's own
EXAMPLE_POLICY = "examples/openscore.yaml"


def _parse_date(_ctx, _param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command("gate")
@click.argument("sources", nargs=-1)
@click.option("--policy", "policy_path", default="openscore.yaml", show_default=True,
              type=click.Path(dir_okay=False), help=f"Policy file (YAML); start from {EXAMPLE_POLICY}.")
@click.option("--format", "formats", multiple=True, metavar="FORMAT[:PATH]",
              help="text, json, sarif, junit, github, markdown; repeatable. Without :PATH it goes to stdout. "
                   "Human text always goes to stderr.")
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False),
              help="Lock file: models it pins must be audited at the locked commit with the locked files.")
@click.option("--allow-incomplete", is_flag=True,
              help="A model that cannot be evaluated (network, gated, rate limit) is a warning, not exit 3.")
@click.option("--today", callback=_parse_date, metavar="YYYY-MM-DD",
              help="Judge waiver expiry against this date instead of today (for reproducible runs).")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub endpoint (default: huggingface.co).")
@click.option("--token", envvar="HF_TOKEN", help="Hub token for gated repositories.")
@click.option("--weights/--no-weights", default=True, show_default=True,
              help="Fingerprint weights for provenance (--no-weights: card, files and headers only).")
@click.option("--linked", is_flag=True, help="Also read what the card links: GitHub repositories, arXiv, DOI papers, "
              "the venue of its paper (Semantic Scholar), Hub dataset cards (cached; GITHUB_TOKEN, S2_API_KEY "
              "honoured), as `openscore audit --linked` does.")
@click.option("--offline", is_flag=True, help="Keep each audit to the repository alone (as HF_HUB_OFFLINE does for "
              "linked sources); overrides --linked.")
@click.option("-v", "--verbose", is_flag=True, help="List passing checks in the text on stderr too.")
@click.pass_context
@limit_options
def gate_cmd(ctx: click.Context, sources, policy_path, formats, lock_path, allow_incomplete, today, endpoint, token,
             weights, linked, offline, verbose) -> None:
    """Gate SOURCES (Hub repo[@rev], folder, sample:NAME or a saved report .json) against a policy.

    With no SOURCES, the models listed under `models:` in the policy are gated.
    Exit: 0 pass, 1 policy violation, 2 usage/config error, 3 could not evaluate.
    """
    from openscore.cli.console import echo, paint_err
    from openscore.gate import load_policy, parse_output_specs, run_gate, write_outputs
    from openscore.gate.formats.text import render_text

    specs = parse_output_specs(formats)  # before any audit: a typo in --format costs nothing
    if not Path(policy_path).exists():
        missing = (f"no --policy given and no {policy_path} in this folder"
                   if ctx.get_parameter_source("policy_path") is click.core.ParameterSource.DEFAULT
                   else f"{policy_path}: no such policy file")
        raise UsageError(f"{missing}: pass --policy FILE (start from {EXAMPLE_POLICY} in the openscore repository)")
    policy = load_policy(policy_path)
    progress = (lambda msg: click.echo(f"openscore: {msg}", err=True)) if verbose else None
    result = run_gate(policy, list(sources), today=today, allow_incomplete=allow_incomplete, lock_path=lock_path,
                      endpoint=endpoint, token=token, weights=weights, linked=linked and not offline,
                      progress=progress)
    echo(render_text(result, verbose=verbose, paint=paint_err), err=True, nl=False)
    write_outputs(result, specs, echo=lambda text: click.echo(text, nl=False))
    sys.stdout.flush()
    ctx.exit(result.exit_code)
