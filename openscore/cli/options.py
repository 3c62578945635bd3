"""Options several commands share, declared once so their names, help and deprecations stay in step."""

from __future__ import annotations

import click

SPARSE_HELP = "Fingerprint a sparse sample of each tensor's rows, read by Range (faster; no content hashes)."


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
