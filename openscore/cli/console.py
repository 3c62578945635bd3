"""What every command prints through: one style per meaning, colour only where a person reads it.

Colour and live lines go to a terminal only: rich turns them off when the stream is not a TTY, and
`NO_COLOR` (https://no-color.org) or `TERM=dumb` turn colour off everywhere. In CI or a pipe a live
progress line becomes plain lines, a few per task, so logs stay short and greppable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import cache

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text
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


def styled(kind: str, word: str | None) -> str:
    """`word` in rich markup for its meaning (`styled("verdict", "derived")`); plain when unknown."""
    if not word:
        return ""
    style = f"{kind}.{word}"
    escaped = word.replace("[", r"\[")
    return f"[{style}]{escaped}[/{style}]" if style in STYLES else escaped


def colour_on(err: bool = False) -> bool:
    """Whether stdout (or stderr) gets colour: a terminal, and neither NO_COLOR nor TERM=dumb."""
    console = _console(err)
    return console.is_terminal and console.color_system is not None and not console.no_color


def paint(kind: str, word: str | None, meaning: str | None = None, *, err: bool = False) -> str:
    """`word` with the ANSI colour of its meaning (`kind.meaning`, by default `kind.word`) when stdout (or
    stderr) gets colour, else `word` unchanged.

    For text that library functions build (they take a `paint`-like callable and default to plain), so
    the same text can be written to a file without escapes."""
    if not word:
        return ""
    style = f"{kind}.{meaning or word}"
    if style not in STYLES or not colour_on(err):
        return word
    console = _console(err)
    return console.get_style(style).render(word, color_system=console.color_system)


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """click.echo that keeps `paint`'s colours exactly when `colour_on` (click alone would strip them)."""
    click.echo(text, err=err, nl=nl, color=colour_on(err))


def paint_err(kind: str, word: str | None, meaning: str | None = None) -> str:
    """`paint` for text going to stderr (progress, the gate's summary)."""
    return paint(kind, word, meaning, err=True)


class _PlainLines:
    """The non-terminal stand-in for a live bar: the size of the work, then a line at each quarter of it."""

    def __init__(self, console: Console, label: str, total: float, unit: str):
        self.console, self.label, self.total, self.unit = console, label, total, unit
        self.started = time.monotonic()
        self.quarter = -1

    def update(self, done: float) -> None:
        if self.quarter < 0:  # the size of the work first; a rate only once there is one
            self.quarter = 0
            size = f"{mib(self.total)} MiB to read" if self.unit == "bytes" else f"{self.total:,.0f} {self.unit} to do"
            self.console.print(f"  {self.label}: {size}", markup=False)
        quarter = int(4 * done // self.total) if self.total else 4
        if quarter <= self.quarter:
            return
        self.quarter = quarter
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if self.unit == "bytes":
            text = f"{mib(done)} of {mib(self.total)} MiB, {mib(done / elapsed)} MiB/s"
        else:
            text = f"{done:,.0f} of {self.total:,.0f} {self.unit}, {done / elapsed * 60:,.1f}/min"
        self.console.print(f"  {self.label}: {text}", markup=False)


def mib(n: float) -> str:
    """Bytes in MiB, the one unit every byte count and rate is shown in (no MB/MiB/GB mix)."""
    return f"{n / 2**20:,.1f}"


class _MiBColumn(ProgressColumn):
    """`done/total MiB` (rich's DownloadColumn switches units with size)."""

    def __init__(self):
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task) -> Text:
        return Text(f"{mib(task.completed)}/{mib(task.total or 0)} MiB")


class _MiBRateColumn(ProgressColumn):
    """`rate MiB/s` (rich's TransferSpeedColumn is in decimal MB/s)."""

    def __init__(self):
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- MiB/s" if speed is None else f"{mib(speed)} MiB/s")


class _LiveBar:
    def __init__(self, progress: Progress, task, label: str):
        self.progress, self.task, self.label = progress, task, label

    def update(self, done: float, note: str | None = None) -> None:
        """`note` (rich markup) follows the label, e.g. failures and a rate."""
        if note is None:
            self.progress.update(self.task, completed=done)
        else:
            self.progress.update(self.task, completed=done, description=f"{self.label} {note}")


def _label() -> TextColumn:
    """The task's label, cut with an ellipsis (a long path must not push the rate and ETA off the line)."""
    return TextColumn("{task.description}",
                      table_column=Column(ratio=1, min_width=12, max_width=40, no_wrap=True, overflow="ellipsis"))


def _eta() -> TimeRemainingColumn:
    return TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7))


@contextmanager
def progress_bar(label: str, total: float, *, unit: str = "bytes") -> Iterator[_LiveBar | _PlainLines]:
    """A live line with rate and ETA on a terminal (bytes in binary units, MiB throughout), plain
    quarter lines elsewhere. Yields an object whose `update(done)` reports the work done so far."""
    console = err_console()
    if not console.is_terminal or console.is_dumb_terminal:  # TERM=dumb cannot redraw a line
        yield _PlainLines(console, label, total, unit)
        return
    if unit == "bytes":
        columns = (_label(), BarColumn(bar_width=16), _MiBColumn(), _MiBRateColumn(), _eta())
    else:
        columns = (_label(), BarColumn(bar_width=16), MofNCompleteColumn(), TaskProgressColumn(), _eta())
    with Progress(*columns, console=console, transient=True) as progress:
        yield _LiveBar(progress, progress.add_task(label, total=total), label)


class ByteMeter:
    """A `(done, total)` callback (what fingerprinting reports) shown through `progress_bar`: the bar opens
    at the first call and closes when `done` reaches `total`, at `close()` (also on leaving a `with`), or
    when any other meter opens or the command fails (`close_meters`): a run cut short leaves no live line."""

    _open: list[ByteMeter] = []

    def __init__(self, label: str):
        self.label = label
        self._stack: ExitStack | None = None
        self._bar: _LiveBar | _PlainLines | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            close_meters()  # rich draws one live display at a time
            self._stack = ExitStack()
            self._bar = self._stack.enter_context(progress_bar(self.label, total))
            ByteMeter._open.append(self)
        self._bar.update(done)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self in ByteMeter._open:
            ByteMeter._open.remove(self)
        if self._stack is not None:
            self._stack.close()
        self._stack = self._bar = None

    def __enter__(self) -> ByteMeter:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def close_meters() -> None:
    """Close every open ByteMeter (before an error line is printed, or a new meter opens)."""
    for meter in list(ByteMeter._open):
        meter.close()
