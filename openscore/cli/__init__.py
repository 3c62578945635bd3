"""The `openscore` command: a thin Click layer over the library.

Commands are imported lazily (torch and pandas are slow to import), and every OpenscoreError
becomes one line on stderr and its exit code: no tracebacks for bad input.
"""

from __future__ import annotations

import difflib
import errno
import importlib
import sys

import click

from openscore import __version__
from openscore.errors import OpenscoreError

#: command name -> "module:attribute"; each module owns one command (or group).
COMMANDS = {
    "inspect": "openscore.cli.inspect:inspect_cmd",
    "fingerprint": "openscore.cli.fingerprint:fingerprint_cmd",
    "compare": "openscore.cli.fingerprint:compare_cmd",
    "registry": "openscore.cli.registry:registry_group",
    "audit": "openscore.cli.audit:audit_cmd",
    "gate": "openscore.cli.gate:gate_cmd",
    "lock": "openscore.cli.lock:lock_cmd",
    "verify": "openscore.cli.lock:verify_cmd",
    "site": "openscore.cli.site:site_group",
    "schema": "openscore.cli.schema:schema_cmd",
    "export": "openscore.cli.export:export_group",
    "licence": "openscore.cli.licence:licence_group",
}

#: other spellings accepted for a command, not listed in --help (documented in the README)
ALIASES = {"license": "licence"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(ALIASES.get(cmd_name, cmd_name))
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, [*COMMANDS, *ALIASES], n=1)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OpenscoreError as exc:
            from openscore.cli.console import close_meters

            close_meters()
            click.echo(f"openscore: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            from openscore.cli.console import close_meters

            close_meters()
            # any path the user gave (an output folder, a file): a usage error, whichever command met it
            click.echo(f"openscore: error: {str(exc.filename)[:80]}...: a file name in this path is longer than "
                       "the file system allows (255 bytes)", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="openscore")
def cli() -> None:
    """Audit released AI models for openness and provenance, from their files."""


def main() -> None:
    cli.main(prog_name="openscore")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
