"""What every command prints through: one style per meaning, colour only where a person reads it.

Colour and live lines go to a terminal only: rich turns them off when the stream is not a TTY, and
`NO_COLOR` (https://no-color.org) or `TERM=dumb` turn colour off everywhere. In CI or a pipe a live
progress line becomes plain lines, a few per task, so logs stay short and greppable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.theme import Theme

#: One style per word that carries meaning: grades, provenance verdicts, finding severities.
STYLES = {
    "grade.open": "green",
    "grade.partial": "yellow",
    "grade.closed": "red",
    "grade.unknown": "magenta",
    "grade.n/a": "dim",
    "verdict.identical": "bold red",
    "verdict.renamed-copy": "bold red",
    "verdict.recast-copy": "bold red",
    "verdict.derived": "yellow",
    "verdict.partially-derived": "yellow",
    "verdict.architecture-clone": "cyan",
    "verdict.independent": "green",
    "verdict.inconclusive": "magenta",
    "severity.error": "bold red",
    "severity.warning": "yellow",
    "severity.info": "cyan",
    "gate.pass": "bold green",
    "gate.fail": "bold red",
    "gate.error": "bold magenta",
}
_THEME = Theme(STYLES)


@cache
def _console(stderr: bool) -> Console:
    # rich reads NO_COLOR and TERM itself and resolves sys.stdout/sys.stderr at write time (so test
    # runners that swap the streams see the output); highlight=False keeps numbers and paths uncoloured.
    return Console(stderr=stderr, theme=_THEME, highlight=False, soft_wrap=True)


def err_console() -> Console:
    """Progress, notes and errors: stderr, so stdout stays the command's machine-readable output."""
    return _console(True)


def out_console() -> Console:
    return _console(False)


def styled(kind: str, word: str | None) -> str:
    """`word` in rich markup for its meaning (`styled("verdict", "derived")`); plain when unknown."""
    if not word:
        return ""
    style = f"{kind}.{word}"
    escaped = word.replace("[", r"\[")
    return f"[{style}]{escaped}[/{style}]" if style in STYLES else escaped


class _PlainLines:
    """The non-terminal stand-in for a live bar: a line at each quarter of the work, and the last."""

    def __init__(self, console: Console, label: str, total: float, unit: str):
        self.console, self.label, self.total, self.unit = console, label, total, unit
        self.started = time.monotonic()
        self.quarter = -1

    def update(self, done: float, note: str | None = None) -> None:
        quarter = int(4 * done // self.total) if self.total else 4
        if quarter == self.quarter:
            return
        self.quarter = quarter
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if self.unit == "bytes":
            text = f"{done / 2**20:,.1f} of {self.total / 2**20:,.1f} MiB, {done / elapsed / 2**20:,.1f} MiB/s"
        else:
            text = f"{done:,.0f} of {self.total:,.0f} {self.unit}, {done / elapsed * 60:,.1f}/min"
        self.console.print(f"  {self.label}: {text}" + (f", {note}" if note else ""), markup=False)


class _LiveBar:
    def __init__(self, progress: Progress, task, label: str):
        self.progress, self.task, self.label = progress, task, label

    def update(self, done: float, note: str | None = None) -> None:
        """`note` (rich markup) follows the label, e.g. failures and a rate."""
        if note is None:
            self.progress.update(self.task, completed=done)
        else:
            self.progress.update(self.task, completed=done, description=f"{self.label} {note}")


@contextmanager
def progress_bar(label: str, total: float, *, unit: str = "bytes") -> Iterator[_LiveBar | _PlainLines]:
    """A live line with rate and ETA on a terminal (bytes in binary units, MiB throughout), plain
    quarter lines elsewhere. Yields an object whose `update(done)` reports the work done so far."""
    console = err_console()
    if not console.is_terminal:
        yield _PlainLines(console, label, total, unit)
        return
    if unit == "bytes":
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                   TransferSpeedColumn(), TimeRemainingColumn())
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield _LiveBar(progress, progress.add_task(label, total=total), label)
