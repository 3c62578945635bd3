"""Load a YAML configuration file into a pydantic model, with every error as `file:line: message`.

`yaml.safe_load` forgets where things were written; `yaml.compose` keeps a mark on every node. We
compose once, keep a map from each key path to its line, and translate pydantic's error locations
through it, so a typo in a 200-line policy points at its line (with a "did you mean" for unknown keys).
Any config file of the project can be loaded this way (`load_yaml_model`).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from openscore.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
KeyPath = tuple[str | int, ...]

#: policies are small; a larger file is a mistake (or hostile), not a configuration
MAX_CONFIG_BYTES = 4_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader where a value that looks like a date but is none (`2027-13-45`) is a YAML error at its
    line, not a bare ValueError from datetime."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


@dataclass(frozen=True)
class LoadedYaml:
    """The plain data of a YAML file and the 1-based line of every key path in it."""

    file: str
    data: Any
    lines: dict[KeyPath, int]

    def line_of(self, path: KeyPath) -> int:
        """Line of `path`, or of its nearest ancestor that exists in the file (1 for the root)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def read_yaml(path: str | Path, *, display_name: str | None = None) -> LoadedYaml:
    """Parse a YAML file safely, with line numbers; YAML errors become ConfigError."""
    file = display_name or str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{file}: {len(raw)} bytes, over the {MAX_CONFIG_BYTES}-byte limit for a config file")
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply to be a configuration") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}:{line}: invalid YAML: {problem}") from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        try:
            _index(node, (), lines, file)
        except RecursionError:
            raise ConfigError(f"{file}: nested too deeply to be a configuration") from None
    return LoadedYaml(file=file, data=data, lines=lines)


def _index(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index(value_node, path + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), lines, file)


def load_yaml_model(model: type[M], path: str | Path, *, display_name: str | None = None,
                    context: dict[str, Any] | None = None) -> tuple[M, LoadedYaml]:
    """Validate a YAML file as `model`; the first few errors are reported as `file:line: message`."""
    loaded = read_yaml(path, display_name=display_name)
    data = {} if loaded.data is None else loaded.data
    try:
        return model.model_validate(data, context=context), loaded
    except ValidationError as exc:
        messages = [_describe(err, model, loaded) for err in exc.errors(include_url=False)]
        shown = "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
        raise ConfigError(shown) from None


def _describe(err: dict[str, Any], model: type[BaseModel], loaded: LoadedYaml) -> str:
    loc: KeyPath = tuple(err["loc"])
    line = loaded.line_of(loc)
    where = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden" and loc:
        key = str(loc[-1])
        allowed = _field_names(_model_at(model, loc[:-1]))
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else (f" (allowed: {', '.join(sorted(allowed))})" if allowed else "")
        return f"{loaded.file}:{line}: unknown key {key!r}{hint}"
    if err["type"] == "missing":
        return f"{loaded.file}:{line}: missing key {where!r}"
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{loaded.file}:{line}: {where or '(top level)'}: {message}"


def _model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping found at `loc` (for "did you mean" hints)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field_by_name(current, str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin in (list, tuple, set, frozenset) and args:
                current = args[0]
            elif origin is dict and len(args) == 2:
                current = args[1]
            else:
                return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None -> X; Annotated[X, ...] -> X."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _field_by_name(model: type[BaseModel], name: str):
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return field
    return None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]
