"""`--timeout`, `--file-deadline`, `--deadline`, `--min-rate`: the bounds of every read, on any command that reads models."""

from __future__ import annotations

import functools

import click

from openscore.sources.limits import Limits

_D = Limits()


def limit_options(command):
    """Add the four options to a click command; its body runs with them as the sources' Limits."""

    @click.option("--timeout", type=click.FloatRange(min=0.01), default=_D.timeout, show_default=True,
                  metavar="SECONDS", help="Connect timeout, and longest wait for the next byte, of every Hub request.")
    @click.option("--file-deadline", type=click.FloatRange(min=0.01), default=_D.file_deadline, show_default=True,
                  metavar="SECONDS", help="Longest time for one file (a download, a ranged read, an API answer, "
                                          "hashing one local file).")
    @click.option("--deadline", type=click.FloatRange(min=0.01), default=_D.deadline, show_default=True,
                  metavar="SECONDS", help="Longest time for everything one model's audit reads (exit 18 past it).")
    @click.option("--min-rate", type=click.FloatRange(min=0), default=_D.min_rate, show_default=True,
                  metavar="BYTES/S", help=f"Slowest transfer accepted, averaged after {_D.rate_window:g} s.")
    @functools.wraps(command)
    def wrapper(*args, timeout, file_deadline, deadline, min_rate, **kwargs):
        from openscore.cli.console import progress_bar
        from openscore.sources.limits import use_limits

        limits = Limits(timeout=timeout, file_deadline=file_deadline, deadline=deadline, min_rate=min_rate,
                        progress=progress_bar)
        with use_limits(limits):
            return command(*args, **kwargs)

    return wrapper
