"""The tensor-name maps of openscore/data/roles.yaml, validated and compiled for fast matching.

Names are matched by *template*: the name's components with every integer replaced by `#`
(`model.layers.3.mlp.up_proj` -> `model.layers.#.mlp.up_proj`), so matching one tensor against
every scheme is a few dictionary look-ups, not a regex scan; the integers are then checked
against the pattern's slots (`{L}` block, `{E}` expert, `{END}` one past the last block, or a
literal index).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from openscore.errors import ConfigError
from openscore.resources import package_data

#: last name component -> suffix added to the role ("" = the role itself)
PARAM_SUFFIXES = {"weight": "", "bias": ".bias", "gamma": "", "beta": ".bias", "qweight": ""}
#: components between a module and its suffix that make a role of their own (PEFT LoRA factors)
ROLE_MODIFIERS = frozenset({"lora_A", "lora_B"})
#: components naming a weight stored packed (GPTQ/AWQ int32 nibbles): its stored shape is not its geometry
PACKED_SUFFIXES = frozenset({"qweight"})
SLOT_NAMES = {"{L}": "L", "{E}": "E", "{END}": "END"}

Symbol = Literal["hidden", "head_dim", "q_dim", "kv_dim", "qkv_dim", "ffn", "ffn2", "expert_ffn", "shared_ffn", "vocab",
                 "positions", "experts", "type_vocab"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleSpec(_Spec):
    shape: list[Symbol | int]
    per_layer: bool = False
    per_expert: bool = False


class SchemeSpec(_Spec):
    family: str | None
    extends: str | None = None
    drop: list[str] = Field(default_factory=list)
    tensors: dict[str, str] = Field(default_factory=dict)
    optional: list[str] = Field(default_factory=list)
    required: list[str] = Field(default_factory=list)  # roles an `extends` parent marks optional
    optional_prefix: str | None = None
    transposed: list[str] = Field(default_factory=list)
    artefacts: list[str] = Field(default_factory=list)
    stacked: list[str] = Field(default_factory=list)
    layer_offset: int = 0
    # row order of fused roles (openscore.weights.fused); a fused role not listed is contiguous
    fused: dict[str, Literal["contiguous", "grouped"]] = Field(default_factory=dict)


class FamilySpec(_Spec):
    model_types: list[str] = Field(default_factory=list)
    architectures: list[str] = Field(default_factory=list)
    gguf: list[str] = Field(default_factory=list)
    schemes: list[str]
    norm: Literal["rmsnorm", "layernorm"]
    activation: str
    ffn_ratio: float | None = None  # intermediate size = ratio * hidden when the config omits it
    ffn_scale: float | None = None  # the config's intermediate size counts both SwiGLU branches (Qwen-1)
    defaults: dict[str, float | bool | int] = Field(default_factory=dict)


class RoleMapSpec(_Spec):
    version: int
    artefact_suffixes: list[str]
    wrapper_prefixes: list[str] = Field(default_factory=list)
    shape_alternatives: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, RoleSpec]
    schemes: dict[str, SchemeSpec]
    families: dict[str, FamilySpec]
    config_keys: dict[str, list[str]]
    gguf_keys: dict[str, list[str]]

    @model_validator(mode="after")
    def _references_resolve(self) -> "RoleMapSpec":
        for name, scheme in self.schemes.items():
            if scheme.extends is not None and scheme.extends not in self.schemes:
                raise ValueError(f"scheme {name}: extends unknown scheme {scheme.extends!r}")
            if scheme.family is not None and scheme.family not in self.families:
                raise ValueError(f"scheme {name}: unknown family {scheme.family!r}")
            for pattern, role in scheme.tensors.items():
                if role not in self.roles:
                    raise ValueError(f"scheme {name}: pattern {pattern!r} maps to unknown role {role!r}")
            for role in scheme.optional + scheme.required + scheme.transposed + list(scheme.fused):
                if role not in self.roles:
                    raise ValueError(f"scheme {name}: unknown role {role!r}")
        for role, alternative in self.shape_alternatives.items():
            if role not in self.roles or alternative not in self.roles:
                raise ValueError(f"shape_alternatives: unknown role in {role!r}: {alternative!r}")
        for name, family in self.families.items():
            for scheme in family.schemes:
                if scheme not in self.schemes:
                    raise ValueError(f"family {name}: unknown scheme {scheme!r}")
        return self


@dataclass(frozen=True)
class Slot:
    kind: str  # "L", "E", "END" or "literal"
    literal: int | None = None


@dataclass(frozen=True)
class Pattern:
    text: str  # as written in the YAML, e.g. "model.layers.{L}.mlp.up_proj"
    role: str
    slots: tuple[Slot, ...]
    stacked: bool = False

    @property
    def constrained(self) -> bool:
        return any(s.kind in ("END", "literal") for s in self.slots)


@dataclass(frozen=True)
class Match:
    role: str  # including ".bias" for biases
    layer: int | None
    expert: int | None
    pattern: Pattern
    stacked: bool
    packed: bool


def split_template(parts: list[str]) -> tuple[tuple[str, ...], list[int]]:
    """(template with integers as '#', the integers in order)."""
    template, numbers = [], []
    for part in parts:
        if part.isdigit():
            template.append("#")
            numbers.append(int(part))
        else:
            template.append(part)
    return tuple(template), numbers


@dataclass
class ParsedName:
    """A tensor name split once, then matched against every scheme."""

    name: str
    suffix: str | None  # "weight", "bias", ... or None when the last component is no parameter suffix
    modifier: str  # "" or ".lora_A" / ".lora_B"
    stems: list[str]  # the name without its suffix, and without each wrapper prefix it starts with
    templates: list[tuple[tuple[str, ...], list[int]]]  # template and integers of each stem

    @classmethod
    def of(cls, name: str, wrappers: tuple[str, ...] = ()) -> "ParsedName":
        head, _, last = name.rpartition(".")
        if not head or last not in PARAM_SUFFIXES:
            return cls(name, None, "", [], [])
        module, _, component = head.rpartition(".")
        modifier = ""
        if module and component in ROLE_MODIFIERS:
            head, modifier = module, "." + component
        stems = [head] + [head[len(w):] for w in wrappers if head.startswith(w)]
        return cls(name, last, modifier, stems, [split_template(stem.split(".")) for stem in stems])


def _compile(text: str, role: str, stacked: bool) -> tuple[tuple[str, ...], Pattern]:
    template, slots = [], []
    for part in text.split("."):
        if part in SLOT_NAMES:
            template.append("#")
            slots.append(Slot(SLOT_NAMES[part]))
        elif part.isdigit():
            template.append("#")
            slots.append(Slot("literal", int(part)))
        else:
            template.append(part)
    return tuple(template), Pattern(text, role, tuple(slots), stacked)


class Scheme:
    """One naming convention, compiled: name -> (role, layer, expert)."""

    def __init__(self, name: str, spec: SchemeSpec, patterns: dict[str, str], optional: set[str]):
        self.name = name
        self.family = spec.family
        self.optional_prefix = spec.optional_prefix
        self.transposed = frozenset(spec.transposed)
        self.fused = dict(spec.fused)
        self.layer_offset = spec.layer_offset
        self.patterns = patterns  # pattern text -> role, in YAML order
        self.required = tuple(dict.fromkeys(r for r in patterns.values() if r not in optional))
        self.role_order = {role: i for i, role in enumerate(dict.fromkeys(patterns.values()))}
        self._by_template: dict[tuple[str, ...], list[Pattern]] = {}
        stacked = set(spec.stacked)
        for text, role in patterns.items():
            template, pattern = _compile(text, role, text in stacked)
            self._by_template.setdefault(template, []).append(pattern)
        for candidates in self._by_template.values():
            candidates.sort(key=lambda p: not p.constrained)  # END/literal before the general {L}

    def pattern_for(self, role: str) -> str | None:
        """The scheme's spelling of `role` (bias roles included), e.g. 'model.norm.weight'."""
        base, _, bias = role.partition(".")
        for text, pattern_role in self.patterns.items():
            if pattern_role == base:
                return f"{text}.{'bias' if bias else 'weight'}"
        return None

    def match(self, name: "str | ParsedName", end_index: int | None) -> Match | None:
        parsed = name if isinstance(name, ParsedName) else ParsedName.of(name)
        if parsed.suffix is None:
            return None
        candidates = list(parsed.templates)
        if self.optional_prefix:
            prefix = self.optional_prefix
            candidates += [split_template(stem[len(prefix):].split("."))
                           for stem in parsed.stems if stem.startswith(prefix)]
        for template, numbers in candidates:
            for pattern in self._by_template.get(template, ()):
                found = self._bind(pattern, numbers, end_index)
                if found is not None:
                    layer, expert = found
                    role = pattern.role + parsed.modifier + PARAM_SUFFIXES[parsed.suffix]
                    return Match(role, layer, expert, pattern, pattern.stacked, parsed.suffix in PACKED_SUFFIXES)
        return None

    def _bind(self, pattern: Pattern, numbers: list[int],
              end_index: int | None) -> tuple[int | None, int | None] | None:
        """(layer, expert) when the name's integers satisfy the pattern's slots, else None."""
        layer = expert = None
        for slot, value in zip(pattern.slots, numbers):
            if slot.kind == "literal" and value != slot.literal:
                return None
            if slot.kind == "END" and value != end_index:
                return None
            if slot.kind == "L":
                layer = value - self.layer_offset
                if layer < 0:
                    return None
            if slot.kind == "E":
                expert = value
        return layer, expert


class RoleMap:
    """roles.yaml, loaded: the role vocabulary, the schemes and the families."""

    def __init__(self, spec: RoleMapSpec):
        self.spec = spec
        self.roles = spec.roles
        self.families = spec.families
        self.schemes: dict[str, Scheme] = {
            name: Scheme(name, s, self._resolve(name), self._optional(name)) for name, s in spec.schemes.items()
        }
        self.artefact_suffixes = tuple(tuple(s.split(".")) for s in spec.artefact_suffixes)
        self.wrapper_prefixes = tuple(spec.wrapper_prefixes)
        self._artefacts: dict[tuple[str, ...], list[Pattern]] = {}
        for scheme_spec in spec.schemes.values():
            for text in scheme_spec.artefacts:
                for variant in {text, *( [scheme_spec.optional_prefix + text] if scheme_spec.optional_prefix else [])}:
                    template, pattern = _compile(variant, "artefact", False)
                    self._artefacts.setdefault(template, []).append(pattern)

    def _resolve(self, name: str) -> dict[str, str]:
        spec = self.spec.schemes[name]
        patterns = dict(self._resolve(spec.extends)) if spec.extends else {}
        for text in spec.drop:
            patterns.pop(text, None)
        patterns.update(spec.tensors)
        return patterns

    def parse(self, name: str) -> ParsedName:
        return ParsedName.of(name, self.wrapper_prefixes)

    def _optional(self, name: str) -> set[str]:
        spec = self.spec.schemes[name]
        inherited = self._optional(spec.extends) if spec.extends else set()
        return (inherited | set(spec.optional)) - set(spec.required)

    def is_artefact(self, name: str) -> bool:
        parts = name.split(".")
        for suffix in self.artefact_suffixes:
            if tuple(parts[-len(suffix):]) == suffix:
                return True
        template, numbers = split_template(parts)
        for pattern in self._artefacts.get(template, ()):
            if all(s.kind != "literal" or s.literal == n for s, n in zip(pattern.slots, numbers)):
                return True
        return False

    def family_for_config(self, config: dict) -> str | None:
        model_type = config.get("model_type")
        model_type = model_type if isinstance(model_type, str) else None  # a config is untrusted: 5, [..]
        architectures = config.get("architectures")
        architectures = [architectures] if isinstance(architectures, str) else architectures
        architectures = [a for a in architectures if isinstance(a, str)] if isinstance(architectures, list) else []
        for name, family in self.families.items():
            if model_type in family.model_types:
                return name
        for name, family in self.families.items():
            if any(a in family.architectures for a in architectures):
                return name
        return None

    def family_for_gguf(self, arch: str | None) -> str | None:
        for name, family in self.families.items():
            if arch in family.gguf:
                return name
        return None


@functools.lru_cache(maxsize=4)
def load_role_map(path: str | None = None) -> RoleMap:
    """Load and validate roles.yaml (the shipped one unless `path` is given); cached."""
    file = path or str(package_data("roles.yaml"))
    try:
        with open(file, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
        return RoleMap(RoleMapSpec.model_validate(raw))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: cannot read the role map: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{file}: {where}: {first['msg']}") from exc
