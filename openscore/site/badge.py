"""Badge geometry and colours (drawn by site/templates/badge.svg), plus the shields.io endpoint JSON.

Text widths use a small per-character table for 11 px Verdana, the font shields-style badges
name; a badge is a picture, so a pixel of error is harmless, but a label must never overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Advance widths (px) in 11 px Verdana for the characters badges use; others count as WIDE.
_NARROW = dict.fromkeys("il.,:;!|'` ", 3.9) | dict.fromkeys("fjrt()[]/-", 5.0)
_WIDE = 9.5
_UPPER = 7.6
_LOWER = 6.6
_DIGIT = 7.0
#: Score thresholds for the right-hand colour, best first (shields' named colours as hex).
COLOURS = ((0.75, "#4c1"), (0.5, "#a4a61d"), (0.25, "#fe7d37"), (0.0, "#e05d44"))
UNKNOWN_COLOUR = "#9f9f9f"
PAD = 6


def text_width(text: str) -> float:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += _NARROW[char]
        elif char.isdigit():
            width += _DIGIT
        elif char in "mwMW%@":
            width += _WIDE
        elif char.isupper():
            width += _UPPER
        elif char.isascii():
            width += _LOWER
        else:
            width += _WIDE
    return round(width, 1)


def colour(score: float | None) -> str:
    if score is None:
        return UNKNOWN_COLOUR
    return next(hex_colour for threshold, hex_colour in COLOURS if score >= threshold)


@dataclass(frozen=True)
class Badge:
    label: str
    message: str
    colour: str
    title: str

    @property
    def label_width(self) -> float:
        return round(text_width(self.label) + 2 * PAD, 1)

    @property
    def message_width(self) -> float:
        return round(text_width(self.message) + 2 * PAD, 1)

    @property
    def width(self) -> float:
        return round(self.label_width + self.message_width, 1)

    def endpoint(self) -> dict:
        """The shields.io endpoint document (https://shields.io/badges/endpoint-badge)."""
        return {"schemaVersion": 1, "label": self.label, "message": self.message, "color": self.colour.lstrip("#")}


def model_badge(repo_id: str, rubric_title: str, score: float | None, mof_class: str | None) -> Badge:
    message = "unknown" if score is None else f"{score:.0%}"
    level = (mof_class or "").removeprefix("Class ").split(" ")[0]
    if level in ("I", "II", "III"):
        message += f" \u00b7 MOF {level}"
    return Badge(
        label="openness",
        message=message,
        colour=colour(score),
        title=f"{repo_id}: {rubric_title} {message}",
    )
