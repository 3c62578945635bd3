"""The JSON schemas shipped in openscore/schemas/ stay equal to what their pydantic models generate."""

from __future__ import annotations

import json

import jsonschema
import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.cli.schema import SCHEMAS, generate, shipped, shipped_path
from openscore.inspect import inspect


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_shipped_schema_equals_generated(name):
    assert shipped_path(name).is_file(), f"run `openscore schema {name} --write`"
    assert shipped(name) == generate(name), f"{name}: model changed; run `openscore schema {name} --write`"
    jsonschema.Draft202012Validator.check_schema(shipped(name))


def test_schema_command_prints_the_shipped_file():
    runner = CliRunner()
    result = runner.invoke(cli, ["schema", "inspect"])
    assert result.exit_code == 0 and json.loads(result.stdout) == shipped("inspect")
    listed = runner.invoke(cli, ["schema", "--list"])
    assert listed.stdout.split() == sorted(SCHEMAS)


def test_unknown_schema_is_a_usage_error():
    result = CliRunner().invoke(cli, ["schema", "nope"])
    assert result.exit_code == 2 and "unknown schema 'nope'" in result.stderr


def test_schema_rejects_what_the_model_rejects():
    validator = jsonschema.Draft202012Validator(shipped("inspect"))
    doc = inspect("sample:tiny-llama").model_dump(mode="json")
    validator.validate(doc)
    assert not validator.is_valid({**doc, "schema_version": "2.0"})
    assert not validator.is_valid({k: v for k, v in doc.items() if k != "layout"})
    assert not validator.is_valid({**doc, "surprise": 1})
    layout_validator = jsonschema.Draft202012Validator(shipped("layout"))
    layout_validator.validate(doc["layout"])
    assert not layout_validator.is_valid({**doc["layout"], "family_source": "guess"})
