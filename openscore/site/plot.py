"""Geometry of the per-layer similarity plot on a model page (drawn by site/templates/similarity.svg).

Python computes coordinates; the template only draws them, so every piece of text in the picture
goes through Jinja's escaping. A layer without a similarity (not compared: a new or removed layer)
breaks the line instead of being drawn as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 30


@dataclass(frozen=True)
class PlotPoint:
    layer: int
    value: float
    x: float
    y: float


@dataclass(frozen=True)
class SimilarityPlot:
    width: int
    height: int
    lines: list[str]  # polyline "x,y x,y" runs between gaps
    points: list[PlotPoint]
    gaps: list[tuple[int, float]]  # (layer, x) of layers with no value
    y_ticks: list[tuple[str, float]]  # (label, y)
    x_ticks: list[tuple[str, float]]
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float


def similarity_plot(values: list[float | None]) -> SimilarityPlot | None:
    """The plot for `values` (one per layer), or None when there is nothing to draw."""
    values = [v if v is not None and math.isfinite(v) else None for v in values]
    if not any(v is not None for v in values):
        return None
    low = min(0.0, *(max(-1.0, v) for v in values if v is not None))
    span = 1.0 - low
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(1, len(values) - 1)

    def x_of(layer: int) -> float:
        return round(LEFT + (inner_w / 2 if len(values) == 1 else layer * step), 2)

    def y_of(value: float) -> float:
        return round(TOP + (1.0 - (min(1.0, max(-1.0, value)) - low) / span) * inner_h, 2)

    points, gaps, lines, run = [], [], [], []
    for layer, value in enumerate(values):
        if value is None:
            gaps.append((layer, x_of(layer)))
            if run:
                lines.append(" ".join(run))
            run = []
            continue
        point = PlotPoint(layer, value, x_of(layer), y_of(value))
        points.append(point)
        run.append(f"{point.x},{point.y}")
    if run:
        lines.append(" ".join(run))
    ticks = sorted({low, low + span / 2, 1.0})
    every = max(1, len(values) // 8)
    return SimilarityPlot(
        width=WIDTH,
        height=HEIGHT,
        lines=lines,
        points=points,
        gaps=gaps,
        y_ticks=[(f"{t:.2f}", y_of(t)) for t in ticks],
        x_ticks=[(str(layer), x_of(layer)) for layer in range(0, len(values), every)],
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
    )
