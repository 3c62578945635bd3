"""Ranking and tallying the rows with pandas: the leaderboard order, per-dimension counts, the CSV.

The default order is the ranking rubric's primary score, highest first, models without a score
last, ties broken by repo id, so the server-rendered table (what a reader without JavaScript sees)
is stable. Ties share a rank ("1, 2, 2, 4").
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

#: Per-dimension values in the CSV, as the OSAI site's `downloadCSV` writes them.
GRADE_POINTS = {"open": 1.0, "partial": 0.5, "closed": 0.0}
GRADE_ORDER = ("open", "partial", "closed", "n/a", "unknown")


def _inert_cell(value: Any) -> Any:
    """Card text starting like a formula (`=HYPERLINK(...)`) is quoted so spreadsheets show it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _score(row: dict[str, Any], rubric_id: str) -> float | None:
    result = row["rubrics"].get(rubric_id)
    return result["score"] if result else None


def ranked(rows: list[dict[str, Any]], rubric_id: str) -> list[tuple[int | None, dict[str, Any]]]:
    """(rank, row) in leaderboard order; rank is None for a model with no score in `rubric_id`."""
    if not rows:
        return []
    frame = pd.DataFrame(
        {"repo_id": [r["repo_id"] for r in rows], "score": [_score(r, rubric_id) for r in rows]},
        dtype=object,
    )
    frame["score"] = pd.to_numeric(frame["score"])
    frame["rank"] = frame["score"].rank(method="min", ascending=False)
    frame = frame.sort_values(["score", "repo_id"], ascending=[False, True], na_position="last", kind="mergesort")
    return [(None if pd.isna(frame.at[i, "rank"]) else int(frame.at[i, "rank"]), rows[i]) for i in frame.index]


def tally(rows: list[dict[str, Any]], rubric_id: str, dimensions: list[str]) -> dict[str, dict[str, int]]:
    """dimension -> grade -> number of models with that (effective) grade; absent grades are 0."""
    records = [
        {"dimension": dim, "grade": grade}
        for row in rows
        if rubric_id in row["rubrics"]
        for dim, grade in row["rubrics"][rubric_id]["grades"].items()
    ]
    counts = pd.DataFrame(records, columns=["dimension", "grade"]).value_counts()
    return {dim: {grade: int(counts.get((dim, grade), 0)) for grade in GRADE_ORDER} for dim in dimensions}


def models_csv(rows: list[dict[str, Any]], rubric_id: str, dimensions: list[str], rubric_ids: list[str]) -> str:
    """`api/models.csv`: OSAI's download columns (name, URL, total, per-dimension values) and ours."""
    records = []
    for rank, row in ranked(rows, rubric_id):
        record: dict[str, Any] = {
            "Model Name": row["repo_id"],
            "URL": row["links"]["page"],
            "Total Score": _score(row, rubric_id),
        }
        grades = row["rubrics"].get(rubric_id, {}).get("grades", {})
        record.update({dim: GRADE_POINTS.get(grades.get(dim, "")) for dim in dimensions})
        record["rank"] = rank
        record["sha"] = row["sha"]
        for other in rubric_ids:
            record[f"{other} score"] = _score(row, other)
        record["MOF class"] = row["rubrics"].get("mof", {}).get("classification")
        record["OSAID"] = row["rubrics"].get("osaid", {}).get("classification")
        record["licence"] = row["licence"]["id"]
        provenance = row["provenance"] or {}
        record["provenance"] = provenance.get("verdict")
        record["detected base"] = provenance.get("base_repo")
        record["declared base"] = provenance.get("declared_base")
        records.append(record)
    buffer = io.StringIO()
    pd.DataFrame([{key: _inert_cell(value) for key, value in record.items()} for record in records]).to_csv(buffer, index=False, lineterminator="\n", float_format="%.6g")
    return buffer.getvalue()
