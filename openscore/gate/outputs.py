"""`--format NAME[:PATH]`: which renderings of a gate result to produce and where to put them.

Files are written atomically (a CI step never uploads half a SARIF file); at most one format may go
to stdout, since two would interleave into something neither consumer can parse. With the `github`
format, the Markdown summary is also added to `$GITHUB_STEP_SUMMARY` when the runner sets it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openscore.atomic import write_text
from openscore.errors import UsageError
from openscore.gate.formats.github import render_github
from openscore.gate.formats.json_doc import render_json
from openscore.gate.formats.junit import render_junit
from openscore.gate.formats.markdown import render_markdown
from openscore.gate.formats.sarif import render_sarif
from openscore.gate.formats.text import render_text
from openscore.gate.result import GateResult
from openscore.safeio import read_bounded

#: GitHub shows at most 1 MiB of a step's summary; a larger file there is not one
MAX_SUMMARY_BYTES = 1 << 20

RENDERERS: dict[str, Callable[[GateResult], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "github": render_github,
    "markdown": render_markdown,
}


@dataclass(frozen=True)
class OutputSpec:
    format: str
    path: Path | None  # None = stdout


def parse_output_specs(values: list[str] | tuple[str, ...]) -> list[OutputSpec]:
    """Parse `NAME` / `NAME:PATH` values; usage errors for unknown names or two stdout formats."""
    specs = []
    for value in values:
        name, sep, path = value.partition(":")
        name = name.strip().lower()
        if name not in RENDERERS:
            raise UsageError(f"unknown format {name!r} in --format {value!r}; choose from {', '.join(RENDERERS)}")
        if sep and not path:
            raise UsageError(f"--format {value!r}: give a path after ':' or leave the ':' out for stdout")
        specs.append(OutputSpec(name, Path(path) if path else None))
    to_stdout = [s.format for s in specs if s.path is None]
    if len(to_stdout) > 1:
        raise UsageError(f"only one format can go to stdout (got {', '.join(to_stdout)}); give the others a path: NAME:PATH")
    return specs


def write_outputs(result: GateResult, specs: list[OutputSpec], echo: Callable[[str], None],
                  environ: dict[str, str] | None = None) -> None:
    """Render every requested format; files atomically, stdout through `echo`."""
    environ = os.environ if environ is None else environ
    for spec in specs:
        text = RENDERERS[spec.format](result)
        if spec.path is None:
            echo(text)
        else:
            write_text(spec.path, text)
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary and any(s.format == "github" for s in specs):
        append_step_summary(Path(summary), render_markdown(result))


def append_step_summary(path: Path, markdown: str) -> None:
    """Add to the job summary (other steps may have written to it), replacing the file atomically.

    The path comes from the environment: what is there is read as any other file (safeio: a regular
    file of at most MAX_SUMMARY_BYTES), so a FIFO, a device or a huge file is refused, never replaced."""
    existing = ""
    if path.exists():
        raw = read_bounded(path, MAX_SUMMARY_BYTES, what="step summary ($GITHUB_STEP_SUMMARY)")
        existing = raw.decode("utf-8", errors="replace")
    separator = "\n" if existing and not existing.endswith("\n") else ""
    write_text(path, existing + separator + markdown)
