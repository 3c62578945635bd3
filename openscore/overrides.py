"""Reviewed human overrides: `overrides/<org>/<name>.yaml`, validated, shown beside automatic grades.

An override is data a person stands behind (reviewer, reason, evidence links); openscore never
lets it silently replace the automatic grade. Unknown rubrics or dimensions are configuration
errors (`file:line: message`), so a typo cannot quietly do nothing.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openscore.errors import ConfigError
from openscore.yamlconfig import load_yaml_model
from openscore.report import GradeValue, Override


class OverrideEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rubric: str
    dimension: str
    grade: GradeValue
    reason: str = Field(min_length=10)
    reviewer: str = Field(min_length=2)
    evidence: list[str] = Field(min_length=1)  # URLs or repo paths the reviewer relied on

    @field_validator("reason", "reviewer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # "org/name"; when given it must match the file's place
    overrides: list[OverrideEntry] = Field(min_length=1)


def override_path(overrides_dir: Path, repo_id: str) -> Path:
    return Path(overrides_dir) / f"{repo_id}.yaml"


def load_overrides(
    overrides_dir: Path | None, repo_id: str, dimensions: dict[str, list[str]] | None = None
) -> dict[str, dict[str, Override]]:
    """rubric -> dimension -> Override for `repo_id` ({} when there is no file).

    `dimensions` (rubric -> its dimension ids) lets references be checked; a rubric not audited
    in this run is still validated when it is a known rubric."""
    if overrides_dir is None:
        return {}
    path = override_path(overrides_dir, repo_id)
    if not path.is_file():
        return {}
    parsed, loaded = load_yaml_model(OverrideFile, path)
    if parsed.model is not None and parsed.model != repo_id:
        raise ConfigError(f"{path}:{loaded.line_of(('model',))}: model {parsed.model!r} does not match the file "
                          f"location (expected {repo_id!r})")
    out: dict[str, dict[str, Override]] = {}
    for i, entry in enumerate(parsed.overrides):
        line = loaded.line_of(("overrides", i))
        known = _dimensions_of(entry.rubric, dimensions, path, line)
        if entry.dimension not in known:
            raise ConfigError(f"{path}:{line}: rubric {entry.rubric} has no dimension {entry.dimension!r}")
        if entry.dimension in out.get(entry.rubric, {}):
            raise ConfigError(f"{path}:{line}: second override for {entry.rubric}/{entry.dimension}")
        out.setdefault(entry.rubric, {})[entry.dimension] = Override(
            grade=entry.grade, reason=entry.reason, reviewer=entry.reviewer, evidence=list(entry.evidence),
            file=f"{Path(overrides_dir).name}/{repo_id}.yaml",  # portable: not the absolute path
        )
    return out


def _dimensions_of(rubric_id: str, dimensions: dict[str, list[str]] | None, path: Path, line: int) -> list[str]:
    if dimensions and rubric_id in dimensions:
        return dimensions[rubric_id]
    from openscore.errors import UsageError
    from openscore.rubrics import load_rubric

    try:
        return load_rubric(rubric_id).dimension_ids
    except UsageError:
        raise ConfigError(f"{path}:{line}: unknown rubric {rubric_id!r}") from None
