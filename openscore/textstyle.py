"""How library text marks the words that carry meaning (grades, verdicts, severities, gate statuses).

Text renderers take a `paint(kind, word, meaning=None)` callable and default to `unpainted`; the CLI
passes `openscore.cli.console.paint`, which colours `word` in the style `kind.meaning` (by default
`kind.word`) on a terminal only. Files and JSON never see an escape.
"""

from __future__ import annotations

from typing import Protocol


class Paint(Protocol):
    def __call__(self, kind: str, word: str, meaning: str | None = None) -> str: ...


def unpainted(_kind: str, word: str, _meaning: str | None = None) -> str:
    return word


def pad(paint: Paint, kind: str, word: str, width: int, meaning: str | None = None) -> str:
    """`word` painted and left-aligned to `width` visible characters (escapes take no columns)."""
    return paint(kind, word, meaning) + " " * max(width - len(word), 0)
