"""Geometry of the site's charts: openness distribution, openness over time, grades per dimension, a model's profile.

Python computes every coordinate and rounds it, the templates (site/templates/charts.html) only
draw, so each picture is static SVG inside the page, byte-identical from build to build, with its
text through Jinja's escaping. Colours come from CSS classes (`f-open`, ...), the same as the table
cells, so a grade looks the same everywhere. Every chart also carries its numbers as text: a
`<title>`/`<desc>` for screen readers and a data table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: The order grades are stacked and listed in, best first; `unknown` and `n/a` are kept apart from closed.
GRADES = ("open", "partial", "closed", "unknown", "n/a")
BINS = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str  # the fill class
    label: str  # the value as words, for the bar's <title>


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    x_ticks: list[tuple[str, float]] = field(default_factory=list)
    y_ticks: list[tuple[str, float]] = field(default_factory=list)
    labels: list[tuple[str, float, float]] = field(default_factory=list)  # (text, x, y) row labels
    table: list[list[str]] = field(default_factory=list)  # the same numbers as text, first row is the header
    summary: str = ""  # one sentence: what the picture shows
    left: float = 0
    right: float = 0
    top: float = 0
    bottom: float = 0


def _pct(value: float) -> str:
    return f"{value:.0%}"


def distribution(scores: list[float | None], title: str) -> Chart:
    """How many models fall into each tenth of the ranking score (histogram), unscored ones said in words."""
    width, height, left, right, top, bottom = 560, 220, 40, 22, 12, 34
    counts = [0] * BINS
    for score in scores:
        if score is not None:
            counts[min(BINS - 1, max(0, int(score * BINS)))] += 1
    peak = max(counts) or 1
    inner_w, inner_h = width - left - right, height - top - bottom
    step = inner_w / BINS
    chart = Chart(width, height, left=left, right=width - right, top=top, bottom=height - bottom)
    for index, count in enumerate(counts):
        bar_h = round(count / peak * inner_h, 1)
        low, high = index * 100 // BINS, (index + 1) * 100 // BINS
        chart.bars.append(
            Bar(round(left + index * step + 2, 1), round(top + inner_h - bar_h, 1), round(step - 4, 1), bar_h, "f-score",
                f"{low}-{high}%: {count} model{'' if count == 1 else 's'}")
        )
        chart.x_ticks.append((f"{low}%", round(left + index * step, 1)))
    chart.x_ticks.append(("100%", float(width - right)))
    chart.y_ticks = [(str(v), round(top + inner_h - v / peak * inner_h, 1)) for v in sorted({0, peak // 2, peak})]
    unscored = sum(1 for s in scores if s is None)
    chart.table = [["score", "models"], *[[b.label.split(":")[0], str(c)] for b, c in zip(chart.bars, counts, strict=True)]]
    if unscored:
        chart.table.append(["no score", str(unscored)])
    chart.summary = (
        f"Histogram of the {title} total of {len(scores) - unscored} models in tenths; "
        f"the most common band is {chart.table[1 + counts.index(max(counts))][0]}."
        + (f" {unscored} models have no score." if unscored else "")
    )
    return chart


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def over_time(rows: list[dict], rubric: str, title: str) -> Chart:
    """The ranking score against the date of the audited commit, one dot per model; undated ones listed apart."""
    width, height, left, right, top, bottom = 560, 220, 40, 16, 12, 34
    dated = []
    for row in rows:
        day, score = _day(row["committed_at"]), row["rubrics"].get(rubric, {}).get("score")
        if day is not None and score is not None:
            dated.append((day, score, row))
    chart = Chart(width, height, left=left, right=width - right, top=top, bottom=height - bottom)
    inner_w, inner_h = width - left - right, height - top - bottom
    chart.y_ticks = [(_pct(v), round(top + (1 - v) * inner_h, 1)) for v in (0.0, 0.5, 1.0)]
    chart.table = [["model", "commit date", "score"]]
    if dated:
        first, last = min(d for d, _, _ in dated), max(d for d, _, _ in dated)
        span = max(1, (last - first).days)

        def x_of(day: date) -> float:
            return round(left + (inner_w / 2 if first == last else (day - first).days / span * inner_w), 1)

        for day, score, row in sorted(dated, key=lambda item: (item[0], item[2]["repo_id"])):
            chart.points.append(
                {"x": x_of(day), "y": round(top + (1 - score) * inner_h, 1), "label": f"{row['repo_id']}: {_pct(score)}, {day}",
                 "page": row["links"]["page"]}
            )
            chart.table.append([row["repo_id"], day.isoformat(), _pct(score)])
        years = range(first.year + (first > date(first.year, 1, 1)), last.year + 1)
        chart.x_ticks = [(str(y), x_of(date(y, 1, 1))) for y in years] or [(first.isoformat(), x_of(first))]
    undated = len(rows) - len(dated)
    chart.summary = (
        f"{title} total against the date of the audited commit for {len(dated)} models"
        + (f"; {undated} models without a commit date or score are not drawn." if undated else ".")
    )
    return chart


def dimension_bars(tally: dict[str, dict[str, int]], dimensions: list[tuple[str, str]]) -> Chart:
    """One 100% bar per dimension, stacked open / partial / closed / unknown / n/a."""
    label_w, bar_w, row_h, top = 190, 360, 22, 8
    width, height = label_w + bar_w + 10, top * 2 + row_h * len(dimensions) + 24
    chart = Chart(width, height, left=label_w, right=label_w + bar_w, top=top, bottom=height - 24)
    chart.table = [["dimension", *GRADES]]
    for index, (dim, dim_title) in enumerate(dimensions):
        counts = tally.get(dim, {})
        total = sum(counts.get(g, 0) for g in GRADES) or 1
        x, y = float(label_w), top + index * row_h
        chart.labels.append((dim_title, label_w - 6, y + row_h / 2 + 4))
        for grade in GRADES:
            share = counts.get(grade, 0) / total
            if share:
                chart.bars.append(Bar(round(x, 1), y + 3, round(share * bar_w, 1), row_h - 6, f"f-{_css(grade)}",
                                      f"{dim_title}: {counts.get(grade, 0)} {grade}"))
                x += share * bar_w
        chart.table.append([dim_title, *(str(counts.get(g, 0)) for g in GRADES)])
    chart.x_ticks = [(_pct(v), round(label_w + v * bar_w, 1)) for v in (0.0, 0.5, 1.0)]
    chart.summary = f"Share of models graded open, partial, closed, unknown or n/a on each of {len(dimensions)} dimensions."
    return chart


def _css(grade: str) -> str:
    return "na" if grade == "n/a" else grade if grade in GRADES else "unknown"


#: Bar length in a model's profile: the grade's points, with a visible stub for closed; unknown is drawn hatched at full length.
_PROFILE_LENGTH = {"open": 1.0, "partial": 0.5, "closed": 0.06, "unknown": 1.0, "n/a": 0.06}


def profile(grades: list[tuple[str, str, str]]) -> Chart:
    """A model's grade per dimension as horizontal bars: (title, grade, anchor) in rubric order."""
    label_w, bar_w, row_h, top = 190, 220, 20, 4
    width, height = label_w + bar_w + 80, top * 2 + row_h * len(grades)
    chart = Chart(width, height, left=label_w, right=label_w + bar_w, top=top, bottom=height - top)
    for index, (dim_title, grade, target) in enumerate(grades):
        y = top + index * row_h
        chart.labels.append((dim_title, label_w - 6, y + row_h / 2 + 4))
        chart.bars.append(Bar(float(label_w), y + 3, round(_PROFILE_LENGTH.get(grade, 1.0) * bar_w, 1), row_h - 6,
                              f"f-{_css(grade)}", f"{dim_title}: {grade}"))
        chart.points.append({"x": label_w + bar_w + 6, "y": y + row_h / 2 + 4, "label": grade, "page": target})
    counts = {g: sum(1 for _, grade, _ in grades if grade == g) for g in GRADES}
    chart.summary = "Grades per dimension: " + ", ".join(f"{n} {g}" for g, n in counts.items() if n) + "."
    return chart


def layer_map(mapping: list[int | None]) -> Chart | None:
    """Which base layer each of this model's layers matched: a diagonal is a straight copy, steps show dropped,
    duplicated or reordered layers, and unmatched layers sit on the bottom edge in the warning colour."""
    if not mapping:
        return None
    size, margin = 200, 34
    width, height = size + margin + 10, size + margin + 8
    top, left = 8, margin
    base_max = max([m for m in mapping if m is not None] + [len(mapping) - 1, 1])
    step_x, step_y = size / max(1, len(mapping) - 1), size / base_max
    chart = Chart(width, height, left=left, right=left + size, top=top, bottom=top + size)
    chart.table = [["layer", "base layer"]]
    for layer, base in enumerate(mapping):
        x = round(left + layer * step_x, 1)
        matched = base is not None
        chart.points.append({"x": x, "y": round(top + (base if matched else base_max) * step_y, 1),
                             "label": f"layer {layer} → base layer {base}" if matched else f"layer {layer}: no matching base layer",
                             "page": "matched" if matched else "unmatched"})
        chart.table.append([str(layer), str(base) if matched else "none"])
    every = max(1, len(mapping) // 6)
    chart.x_ticks = [(str(i), round(left + i * step_x, 1)) for i in range(0, len(mapping), every)]
    chart.y_ticks = [(str(j), round(top + j * step_y, 1)) for j in range(0, base_max + 1, max(1, base_max // 6))]
    unmatched = sum(1 for m in mapping if m is None)
    straight = sum(1 for i, m in enumerate(mapping) if m == i)
    chart.summary = f"{len(mapping)} layers: {straight} match the base layer of the same index, {unmatched} match none."
    return chart
