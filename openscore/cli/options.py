"""Options several commands share, declared once so their names, help and deprecations stay in step."""

from __future__ import annotations

import click

SPARSE_HELP = "Fingerprint a sparse sample of each tensor's rows, read by Range (faster; no content hashes)."
BUDGET_HELP = ("With --sparse: read at most this share of the checkpoint's bytes, headers included (2%: at least "
               "1 MiB), or this size (64MiB); past it a stratified subset of the layers is sampled. none: no budget.")


def read_budget_option():
    """`--read-budget` (default 2%), parsed into an openscore.read_budget.ReadBudget (None: no budget)."""

    def parse(_ctx, _param, value: str):
        from openscore.read_budget import parse_budget

        return parse_budget(value)

    return click.option("--read-budget", "read_budget", default="2%", show_default=True, metavar="N%|SIZE|none",
                        callback=parse, help=BUDGET_HELP)


def check_budget_needs_sparse(sparse: bool) -> None:
    """A --read-budget given without --sparse would bound nothing (whole files are read): say so, exit 2."""
    from click.core import ParameterSource

    if not sparse and click.get_current_context().get_parameter_source("read_budget") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--read-budget bounds sampled reads only: add --sparse")


def sparse_option(name: str = "sparse"):
    """`--sparse`, and `--sample` as its hidden deprecated alias (it read like the `sample:NAME` sources).

    The value lands in the keyword `name`; the alias warns on stderr and sets the same value."""

    def keep_alias(ctx: click.Context, _param, value: bool) -> bool:
        return value or ctx.params.get(name, False)  # --sample, when given, was processed first

    def alias(ctx: click.Context, _param, value: bool) -> None:
        if value:
            click.echo("openscore: warning: --sample is deprecated, use --sparse (same meaning)", err=True)
            ctx.params[name] = True

    def decorate(f):
        f = click.option("--sparse", name, is_flag=True, callback=keep_alias, help=SPARSE_HELP)(f)
        return click.option("--sample", "_sample_alias", is_flag=True, hidden=True, expose_value=False,
                            callback=alias)(f)

    return decorate
