"""`openscore schema NAME`: the JSON schemas of openscore's documents, shipped in openscore/schemas/.

SCHEMAS maps a name to the pydantic model the schema is generated from; add an entry (and run
`openscore schema NAME --write` in a checkout) to ship a new one. A test keeps each shipped file
equal to what its model generates.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from openscore.errors import UsageError

#: schema name -> "module:Model"
SCHEMAS = {
    "inspect": "openscore.inspect:Inspection",
    "layout": "openscore.layout:Layout",
    "report": "openscore.report:AuditReport",
    "rubric": "openscore.rubrics.model:Rubric",
}
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_ID = "https://openscore.dev/schemas/{name}.schema.json"


def shipped_path(name: str) -> Path:
    if name not in SCHEMAS:
        raise UsageError(f"unknown schema {name!r}; choose one of: {', '.join(sorted(SCHEMAS))}")
    return SCHEMA_DIR / f"{name}.schema.json"


def generate(name: str) -> dict:
    """The JSON schema (draft 2020-12) of the model registered as `name`."""
    shipped_path(name)  # validates the name
    module, attr = SCHEMAS[name].split(":")
    model = getattr(importlib.import_module(module), attr)
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": _ID.format(name=name), **schema}


def shipped(name: str) -> dict:
    return json.loads(shipped_path(name).read_text(encoding="utf-8"))


@click.command("schema")
@click.argument("name", required=False)
@click.option("--list", "list_names", is_flag=True, help="List the schema names.")
@click.option("--write", is_flag=True, help="Regenerate the shipped file from its model (for developers).")
def schema_cmd(name: str | None, list_names: bool, write: bool) -> None:
    """Print the shipped JSON schema NAME (e.g. `inspect`)."""
    from openscore.atomic import canonical_json, write_text

    if list_names or name is None:
        click.echo("\n".join(sorted(SCHEMAS)))
        return
    if write:
        write_text(shipped_path(name), canonical_json(generate(name)))
        return
    click.echo(shipped_path(name).read_text(encoding="utf-8"), nl=False)
