"""The tensor-name maps of openscore/data/roles.yaml, validated and compiled for fast matching.

Names are matched by *template*: the name's components with every integer replaced by `#`
(`model.layers.3.mlp.up_proj` -> `model.layers.#.mlp.up_proj`), so matching one tensor against
every scheme is a few dictionary look-ups, not a regex scan; the integers are then checked
against the pattern's slots (`{L}` block, `{E}` expert, `{END}` one past the last block, or a
literal index).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

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
        # whole components: NameGroups relies on a prefix never splitting a name component
        for prefix in self.wrapper_prefixes + [s.optional_prefix for s in self.schemes.values() if s.optional_prefix]:
            if not prefix.endswith(".") or prefix.startswith("."):
                raise ValueError(f"prefix {prefix!r} must be whole name components ending with '.'")
        for suffix in self.artefact_suffixes:
            if any(is_index(part) for part in suffix.split(".")):
                raise ValueError(f"artefact suffix {suffix!r}: an all-digit component would be a block index")
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


class Match(NamedTuple):  # a tuple: one is made per tensor name
    role: str  # including ".bias" for biases
    layer: int | None
    expert: int | None
    pattern: Pattern
    stacked: bool
    packed: bool


#: a name component is a block or expert index when it is this many decimal digits at most (a hostile name's
#: "²" or 5,000-digit component is text: int() refuses both)
MAX_INDEX_DIGITS = 18


def is_index(part: str) -> bool:
    return part.isdecimal() and len(part) <= MAX_INDEX_DIGITS


def split_template(parts: list[str]) -> tuple[tuple[str, ...], list[int]]:
    """(template with integers as '#', the integers in order)."""
    template, numbers = [], []
    for part in parts:
        if is_index(part):
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
        elif is_index(part):
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

    def binds_any(self, pattern: Pattern) -> bool:
        """Whether every name of the pattern's template binds to it, whatever its integers."""
        return not pattern.constrained and (self.layer_offset == 0 or all(s.kind != "L" for s in pattern.slots))

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


#: a whole name component of decimal digits (what split_template turns into `#`: is_index)
_WHOLE_INT = re.compile(r"(?<![^.])\d{1,%d}(?![^.])" % MAX_INDEX_DIGITS)


@dataclass(frozen=True)
class _Candidate:
    pattern: Pattern
    positions: tuple[int, ...]  # which components of the name hold the pattern's slot values
    tail: str  # what the name adds to the pattern's role: modifier and ".bias"
    packed: bool


class NameGroups:
    """Distinct tensor names grouped by their *shape*: the name with every all-digit component as `#`.

    Names of one shape have the same parameter suffix, modifier, stems and templates and differ only in
    their integers, so the schemes' patterns are looked up once per shape, not once per name and scheme, and
    a shape whose first candidate pattern binds any integers (no `{END}`, literal or layer offset to check)
    is placed whole. 300k names of a few shapes cost a regex substitution each; 300k hostile names of as
    many shapes a parse each (few shapes can match a pattern: the others cost no scheme anything). Places
    every name as Scheme.match does name by name."""

    def __init__(self, names: list[str], rm: "RoleMap"):
        self.names = list(dict.fromkeys(names))
        self._rm = rm
        # whether a name starts with a wrapper holding digits ("0.auto_model.") is not in its shape
        digit_wrappers = tuple(w for w in rm.wrapper_prefixes if any(c.isdigit() for c in w))
        groups: dict[tuple, list[int]] = {}
        shape = _WHOLE_INT.sub
        for i, name in enumerate(self.names):
            key = (shape("#", name), *map(name.startswith, digit_wrappers))
            groups.setdefault(key, []).append(i)
        self._groups = list(groups.values())
        # scheme name -> {group: its candidate patterns, in Scheme.match's order}
        self._candidates: dict[str, dict[int, list[_Candidate]]] = {name: {} for name in rm.schemes}
        for g, members in enumerate(self._groups):
            self._index_group(g, self.names[members[0]])

    def _index_group(self, g: int, name: str) -> None:
        """Record, for every scheme with a pattern for the shape of `name`, the group's candidates."""
        parsed = ParsedName.of(name, self._rm.wrapper_prefixes)
        if parsed.suffix is None:
            return
        tail = parsed.modifier + PARAM_SUFFIXES[parsed.suffix]
        stems = [(stem.split("."), parsed.stems[0].count(".") - stem.count(".")) for stem in parsed.stems]
        variants = [(parts, first, None) for parts, first in stems]
        for prefix in self._rm.optional_prefixes:  # Scheme.match tries its prefix stripped after every stem
            skip = prefix.count(".")
            variants += [(parts[skip:], first + skip, prefix) for parts, first in stems
                         if ".".join(parts).startswith(prefix)]
        for parts, first, prefix in variants:
            template = tuple("#" if is_index(part) else part for part in parts)
            positions = tuple(first + j for j, part in enumerate(parts) if is_index(part))
            for scheme, patterns in self._rm.patterns_by_template.get(template, ()):
                if prefix is None or prefix == scheme.optional_prefix:
                    self._candidates[scheme.name].setdefault(g, []).extend(
                        _Candidate(p, positions, tail, parsed.suffix in PACKED_SUFFIXES) for p in patterns)

    def artefacts(self) -> set[str]:
        """The names RoleMap.is_artefact accepts, decided once per shape when no artefact pattern checks a
        literal index (a name's shape decides its suffix and template, its integers only the literal slots)."""
        rm = self._rm
        literal = any(s.kind == "literal" for ps in rm._artefacts.values() for p in ps for s in p.slots)
        found = set()
        for members in self._groups:
            if literal:
                found.update(self.names[i] for i in members if rm.is_artefact(self.names[i]))
            elif rm.is_artefact(self.names[members[0]]):
                found.update(self.names[i] for i in members)
        return found

    def without(self, names: set[str]) -> "NameGroups":
        """The same groups less `names`."""
        out = NameGroups([], self._rm)
        out.names, out._groups = self.names, [[i for i in members if self.names[i] not in names]
                                              for members in self._groups]
        out._candidates = self._candidates
        return out

    def summary(self, scheme: "Scheme", end_index: int | None) -> tuple[int, set[str]]:
        """(how many names `scheme` places, the roles it gives them): a shape whose first candidate binds any
        integers counts all its names without looking at them."""
        count, roles = 0, set()
        for g, candidates in self._candidates[scheme.name].items():
            members = self._groups[g]
            if not members:
                continue
            if scheme.binds_any(candidates[0].pattern):
                count += len(members)
                roles.add(candidates[0].pattern.role + candidates[0].tail)
                continue
            for _, match in self._bound(scheme, end_index, members, candidates):
                count += 1
                roles.add(match.role)
        return count, roles

    def match(self, scheme: "Scheme", end_index: int | None) -> dict[str, Match]:
        """name -> Match of every name `scheme` places, in the names' first-seen order."""
        found: list[Match | None] = [None] * len(self.names)
        for g, candidates in self._candidates[scheme.name].items():
            for i, match in self._bound(scheme, end_index, self._groups[g], candidates):
                found[i] = match
        return {name: m for name, m in zip(self.names, found) if m is not None}

    def _bound(self, scheme: "Scheme", end_index: int | None, members: list[int], candidates: list[_Candidate]):
        """(index, Match) of each member name the first binding candidate places."""
        numbered = any(c.positions for c in candidates)
        for i in members:
            parts = self.names[i].split(".") if numbered else ()
            for c in candidates:
                bound = scheme._bind(c.pattern, [int(parts[p]) for p in c.positions], end_index)
                if bound is not None:
                    yield i, Match(c.pattern.role + c.tail, *bound, c.pattern, c.pattern.stacked, c.packed)
                    break


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
        self.optional_prefixes = tuple(dict.fromkeys(s.optional_prefix for s in self.schemes.values()
                                                     if s.optional_prefix))
        #: template -> [(scheme, its patterns of that template)], schemes in roles.yaml order (NameGroups)
        self.patterns_by_template: dict[tuple[str, ...], list[tuple[Scheme, list[Pattern]]]] = {}
        for scheme in self.schemes.values():
            for template, patterns in scheme._by_template.items():
                self.patterns_by_template.setdefault(template, []).append((scheme, patterns))
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
