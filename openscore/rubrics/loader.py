"""Find and load rubric YAML files from `rubrics/` (see openscore.resources.rubrics_dir)."""

from __future__ import annotations

import functools
from pathlib import Path

from openscore.atomic import canonical_json
from openscore.errors import ConfigError, UsageError
from openscore.yamlconfig import load_yaml_model
from openscore.resources import rubrics_dir
from openscore.rubrics.model import Rubric

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "rubric.schema.json"


def list_rubrics() -> list[str]:
    """Ids of the rubrics shipped (or placed in OPENSCORE_RUBRICS_DIR), sorted."""
    return sorted(p.stem for p in rubrics_dir().glob("*.yaml"))


def load_rubric(rubric_id: str) -> Rubric:
    """The validated rubric `rubric_id`; a broken file is a ConfigError `file:line: message`."""
    path = rubrics_dir() / f"{rubric_id}.yaml"
    if not path.is_file():
        known = ", ".join(list_rubrics()) or "none"
        raise UsageError(f"unknown rubric {rubric_id!r} (known: {known})")
    return load_rubric_file(path)


def load_rubric_file(path: str | Path) -> Rubric:
    """Validate one rubric file; its `id` must equal its file name so references stay unambiguous."""
    path = Path(path).resolve()
    rubric = _load_cached(str(path), path.stat().st_mtime_ns)
    if rubric.id != path.stem:
        raise ConfigError(f"{path}:1: rubric id {rubric.id!r} differs from the file name {path.stem!r}")
    return rubric


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int) -> Rubric:
    rubric, _ = load_yaml_model(Rubric, path)
    return rubric


def rubric_json_schema() -> str:
    """The JSON schema of a rubric file, as shipped in openscore/schemas/rubric.schema.json; laid out like
    the schemas of `openscore schema` (draft 2020-12, `$id` under openscore.dev/schemas/)."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://openscore.dev/schemas/rubric.schema.json",
        **Rubric.model_json_schema(mode="serialization"),
    }
    return canonical_json(schema)
