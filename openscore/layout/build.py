"""Layout fingerprint: every tensor as (canonical role, layer, expert, shape, dtype), the normalised
config, and name-free signatures of the geometry.

Deciding the naming scheme: every scheme of roles.yaml is tried on every name (looked up once per
name shape: roles.NameGroups); the one matching most tensors wins, then the one missing fewest
required roles, then the one the config's family uses. A checkpoint whose names all belong to a
known scheme is that scheme (Qwen-1's `ln_1` is Qwen-1, not a renamed LLaMA). Tensors the winning
scheme does not know are then placed by structure: a name kind present in every block whose shape
fits a role the scheme requires but did not find (the Yi `ln1`/`ln2` case) takes that role, marked
`role_source: inferred`.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import re
from collections import defaultdict
from dataclasses import dataclass

from pydantic import TypeAdapter

from openscore.formats.records import CheckpointHeaders, TensorRecord
from openscore.gcpause import gc_paused
from openscore.layout.config import NormalisedConfig, normalise_config
from openscore.layout.models import ArtefactTensor, Layout, LayoutTensor
from openscore.layout.roles import MAX_INDEX_DIGITS, NameGroups, RoleMap, Scheme, load_role_map

#: a scheme must name at least this share of the parameters before unknown names are placed by structure
INFERENCE_MIN_COVERAGE = 0.5
_INT = re.compile(r"(?<=\.)\d{1,%d}(?=\.)|^\d{1,%d}(?=\.)" % (MAX_INDEX_DIGITS, MAX_INDEX_DIGITS))


@dataclass(slots=True)
class _Placed:
    record: TensorRecord
    role: str
    layer: int | None
    expert: int | None
    stacked: bool
    packed: bool = False
    inferred: str | None = None  # None (by name), "inferred" or "inferred-by-order"


def name_kind(name: str) -> str:
    """A tensor name with its block and expert indices as placeholders: the 'tensor kind'."""
    count = 0

    def repl(_: re.Match) -> str:
        nonlocal count
        count += 1
        return "{L}" if count == 1 else "{E}"

    return _INT.sub(repl, name)


@gc_paused()
def build_layout(headers: CheckpointHeaders, role_map: RoleMap | None = None) -> Layout:
    """The layout fingerprint of a checkpoint's headers (no weight is read)."""
    rm = role_map or load_role_map()
    config = headers.config or None
    gguf = headers.gguf_metadata or {}
    warnings: list[str] = []

    params: list[TensorRecord] = []
    artefacts: list[ArtefactTensor] = []
    names = NameGroups([record.name for record in headers.tensors], rm)
    artefact_names = names.artefacts()
    for record in headers.tensors:
        if record.name in artefact_names:
            artefacts.append(ArtefactTensor(name=record.name, file=record.file, dtype=record.dtype,
                                            shape=list(record.shape) if record.shape is not None else None))
        else:
            params.append(record)

    config_family = rm.family_for_config(config) if config else None
    gguf_arch = gguf.get("general.architecture")
    gguf_family = rm.family_for_gguf(gguf_arch) if isinstance(gguf_arch, str) else None
    declared = config_family or gguf_family
    if config and config_family is None:
        warnings.append(f"config.json model_type {config.get('model_type')!r} is not a known family")

    declared_layers = normalise_config(config, rm, rm.families.get(declared or ""), gguf).num_layers
    scheme, placed = _choose_scheme(rm, params, names.without(artefact_names), declared, declared_layers)

    family, family_source = _decide_family(rm, scheme, config_family, gguf_family, warnings)
    family_spec = rm.families.get(family)
    cfg = normalise_config(config, rm, family_spec, gguf)
    from_tensors = _complete_from_shapes(cfg, placed, scheme, warnings)

    if not params:
        warnings.append("no tensor names (no index, weights absent): the signature covers the config only")
    if headers.adapter:
        warnings.append("an adapter checkpoint: its tensors are adapter factors, not the model's geometry")
    symbols = cfg.symbols()
    if scheme is not None:
        _infer_renamed(rm, scheme, params, placed, cfg, symbols)
    _refine_by_shape(rm, placed, symbols)
    unmapped = sorted(r.name for r in params if r.name not in placed)

    role_shapes = {role: expected_shape(rm, role, symbols) for role in {p.role for p in placed.values()}}
    tensors = _TENSORS.validate_python([_layout_tensor(scheme, p, role_shapes[p.role], symbols)
                                        for p in sorted(placed.values(), key=_order)])
    counts, total = _count_params(tensors, [r for r in params if r.name not in placed])
    geometry = _geometry(scheme, tensors, cfg, stacked={p.record.name for p in placed.values() if p.stacked})
    # the geometry is the bulk of every signature: encoded once (_Encoded), not once per signature
    structural, plain = cfg.structural(), _Encoded(geometry["plain"])
    return Layout(
        family=family,
        family_source=family_source,
        scheme=scheme.name if scheme else None,
        config=cfg,
        config_from_tensors=from_tensors,
        tensors=tensors,
        artefacts=sorted(artefacts, key=lambda a: a.name),
        unmapped=unmapped,
        params=counts,
        params_total=total,
        signature=_digest({"config": structural, "tensors": plain}),
        dtype_signature=_digest({"config": structural, "tensors": geometry["typed"]}),
        config_signature=_digest({
            "config": structural,
            "extra": {k: getattr(cfg, k) for k in ("max_positions", "rope_theta", "rope_scaling", "norm_type",
                                                    "activation", "experts_per_token")},
            "tensors": plain,
        }),
        warnings=warnings,
    )


def _order(p: _Placed) -> tuple:
    return (p.layer if p.layer is not None else -1, p.expert if p.expert is not None else -1, p.record.name)


def _max_first_index(records: list[TensorRecord]) -> int | None:
    found = [int(m.group()) for r in records if (m := _INT.search(r.name))]
    return max(found) if found else None


def _choose_scheme(
    rm: RoleMap, params: list[TensorRecord], names: NameGroups, declared: str | None, declared_layers: int | None
) -> tuple[Scheme | None, dict[str, _Placed]]:
    """`names`: the names of `params`, grouped."""
    preferred = set(rm.families[declared].schemes) if declared in rm.families else set()
    highest = None if declared_layers else _max_first_index(params)
    best_key, best = None, None
    for order, scheme in enumerate(rm.schemes.values()):
        end = declared_layers + scheme.layer_offset if declared_layers else highest
        count, roles = names.summary(scheme, end)
        if not count:
            continue
        missing = sum(1 for r in scheme.required if r not in roles)
        key = (count, -missing, scheme.name in preferred, -order)
        if best_key is None or key > best_key:
            best_key, best = key, (scheme, end)
    if best is None:
        return None, {}
    scheme, end = best
    matches = names.match(scheme, end)
    placed: dict[str, _Placed] = {}
    for record in params:
        m = matches.get(record.name)
        if m is not None:
            placed[record.name] = _Placed(record, m.role, m.layer, m.expert, m.stacked, m.packed)
    return scheme, placed


def _decide_family(
    rm: RoleMap, scheme: Scheme | None, config_family: str | None, gguf_family: str | None, warnings: list[str]
) -> tuple[str, str]:
    if config_family and (scheme is None or scheme.name in rm.families[config_family].schemes or scheme.family is None):
        return config_family, "config"
    if config_family and scheme is not None:
        warnings.append(
            f"config.json declares family {config_family!r} but the tensor names follow the {scheme.name!r} scheme"
        )
        return scheme.family or config_family, "names"
    if gguf_family:
        return gguf_family, "gguf"
    if scheme is not None and scheme.family:
        return scheme.family, "names"
    return "unknown", "none"


def canonical_shape(shape: list[int] | tuple[int, ...], role: str, scheme: Scheme | None) -> list[int]:
    """[out, in] orientation: GPT-2's Conv1D weights are stored transposed."""
    if scheme is not None and role in scheme.transposed and len(shape) == 2:
        return [shape[1], shape[0]]
    return list(shape)


def _complete_from_shapes(cfg: NormalisedConfig, placed: dict[str, _Placed], scheme: Scheme | None,
                          warnings: list[str]) -> list[str]:
    """Fill what the config leaves out from the shapes, and flag where config and shapes disagree."""
    by_role: dict[str, list[int]] = {}
    layers: set[int] = set()
    experts: set[int] = set()
    for p in placed.values():
        if p.layer is not None:
            layers.add(p.layer)
        if p.expert is not None:
            experts.add(p.expert)
        if p.record.shape is not None and not p.packed and p.role not in by_role:
            shape = canonical_shape(p.record.shape, p.role, scheme)
            by_role[p.role] = shape[1:] if p.stacked else shape
    observed: dict[str, int | bool] = {}
    if "embed" in by_role and len(by_role["embed"]) == 2:
        observed["vocab_size"], observed["hidden_size"] = by_role["embed"]
    elif "final_norm" in by_role:
        observed["hidden_size"] = by_role["final_norm"][0]
    dense = _ffn_width(by_role, ("mlp_up", "mlp_gate", "mlp_down", "mlp_gate_up"))
    experts_ffn = _ffn_width(by_role, ("expert_up", "expert_gate", "expert_down"))
    if dense is not None:
        observed["intermediate_size"] = dense
    if experts_ffn is not None:
        # Mixtral states the expert width as intermediate_size; Qwen-MoE/DeepSeek-MoE as a field of its own
        narrower = cfg.expert_intermediate_size is not None or dense is not None
        observed["expert_intermediate_size" if narrower else "intermediate_size"] = experts_ffn
    if layers:
        observed["num_layers"] = max(layers) + 1
    if "moe_router" in by_role and len(by_role["moe_router"]) == 2:
        observed["num_experts"] = by_role["moe_router"][0]
    elif experts:
        observed["num_experts"] = max(experts) + 1
    if placed:
        observed["tied_embeddings"] = not any(p.role == "lm_head" for p in placed.values())

    filled = []
    for field, value in observed.items():
        current = getattr(cfg, field)
        if current is None:
            setattr(cfg, field, value)
            filled.append(field)
        elif current != value and field != "tied_embeddings":
            warnings.append(f"config says {field}={current} but the tensors say {value}")
    if "hidden_size" in filled and cfg.num_heads and cfg.head_dim is None and cfg.hidden_size % cfg.num_heads == 0:
        cfg.head_dim = cfg.hidden_size // cfg.num_heads
    return sorted(filled)


def _refine_by_shape(rm: RoleMap, placed: dict[str, _Placed], symbols: dict[str, int]) -> None:
    """A name shared by two roles of different shapes (`shape_alternatives`) takes the one its shape fits."""
    for p in placed.values():
        alternative = rm.spec.shape_alternatives.get(p.role)
        if alternative is None or p.record.shape is None:
            continue
        shape = list(p.record.shape)
        if shape != expected_shape(rm, p.role, symbols) and shape == expected_shape(rm, alternative, symbols):
            p.role = alternative


def _ffn_width(by_role: dict[str, list[int]], roles: tuple[str, ...]) -> int | None:
    """One MLP branch's width from the first of `roles` with a 2-D shape ([ffn, hidden] / [hidden, ffn])."""
    for role in roles:
        shape = by_role.get(role)
        if shape is not None and len(shape) == 2:
            if role.endswith("_down"):
                return shape[1]
            return shape[0] // 2 if role.endswith("gate_up") else shape[0]
    return None


def expected_shape(rm: RoleMap, role: str, symbols: dict[str, int]) -> list[int] | None:
    """A role's [out, in] shape from the normalised config, None when the config lacks a dimension
    (or cannot know it: a LoRA factor's rank)."""
    base, _, modifier = role.partition(".")
    spec = rm.roles.get(base)
    if spec is None or modifier not in ("", "bias"):
        return None
    if any(isinstance(s, str) and s not in symbols for s in spec.shape):
        return None
    shape = [s if isinstance(s, int) else symbols[s] for s in spec.shape]
    return shape[:1] if modifier == "bias" else shape


def _infer_renamed(rm: RoleMap, scheme: Scheme, params: list[TensorRecord], placed: dict[str, _Placed],
                   cfg: NormalisedConfig, symbols: dict[str, int]) -> None:
    unknown = [r for r in params if r.name not in placed]
    if not unknown or len(placed) < INFERENCE_MIN_COVERAGE * len(params):
        return
    present = {p.role for p in placed.values()}
    missing = [r for r in scheme.required if r not in present]
    # optional matrices (a renamed lm_head...) only on an exact shape match from the headers; optional
    # vectors (q/k norms) are too easily confused with any other vector of the same width
    optional = [r for r in scheme.role_order if r not in scheme.required and r not in present
                and len(rm.roles[r].shape) == 2]
    if not missing and not optional:
        return
    kinds: dict[str, list[TensorRecord]] = defaultdict(list)
    for record in unknown:
        kinds[name_kind(record.name)].append(record)

    all_layers = set(range(cfg.num_layers)) if cfg.num_layers else None
    candidates: dict[str, list[str]] = {}
    for kind, records in kinds.items():
        if not kind.endswith((".weight", ".gamma")):
            continue
        fits = [role for role in missing if _kind_fits(rm, scheme, kind, records, role, all_layers, symbols)]
        fits += [role for role in optional
                 if _kind_fits(rm, scheme, kind, records, role, all_layers, symbols, exact=True)]
        if fits:
            candidates[kind] = fits

    assigned: dict[str, tuple[str, bool]] = {}
    # Unique fits first; then pair what is left in name order with roles in the scheme's block order.
    progress = True
    while progress:
        progress = False
        for kind, fits in candidates.items():
            free = [r for r in fits if r not in {a for a, _ in assigned.values()}]
            if kind not in assigned and len(free) == 1 and not any(
                free[0] in f for k, f in candidates.items() if k != kind and k not in assigned
            ):
                assigned[kind] = (free[0], False)
                progress = True
    for kind in sorted((k for k in candidates if k not in assigned), key=_natural):
        taken = {a for a, _ in assigned.values()}
        free = sorted((r for r in candidates[kind] if r not in taken), key=lambda r: scheme.role_order.get(r, 0))
        if free:
            assigned[kind] = (free[0], True)

    for kind, (role, by_order) in assigned.items():
        stem = kind.rsplit(".", 1)[0]
        for suffix, role_suffix in ((kind.rsplit(".", 1)[1], ""), ("bias", ".bias"), ("beta", ".bias")):
            for record in kinds.get(f"{stem}.{suffix}", ()):
                layer, expert = _indices(record.name, scheme.layer_offset)
                placed[record.name] = _Placed(record, role + role_suffix, layer, expert, False,
                                              inferred="inferred-by-order" if by_order else "inferred")


def _natural(text: str) -> list:
    return [int(t) if t.isdecimal() else t for t in re.split(r"(\d{1,%d})" % MAX_INDEX_DIGITS, text)]


def _indices(name: str, offset: int) -> tuple[int | None, int | None]:
    numbers = [int(m.group()) for m in _INT.finditer(name)]
    layer = numbers[0] - offset if numbers else None
    expert = numbers[1] if len(numbers) > 1 else None
    return layer, expert


def _kind_fits(rm: RoleMap, scheme: Scheme, kind: str, records: list[TensorRecord], role: str,
               all_layers: set[int] | None, symbols: dict[str, int], exact: bool = False) -> bool:
    """Does the unknown `kind` fit `role`: same block structure and, where known, the role's shape?

    `exact`: only with every shape known and equal to the config's (no guess from block structure)."""
    spec = rm.roles[role]
    slots = kind.count("{L}") + kind.count("{E}")
    if slots != (2 if spec.per_expert else 1 if spec.per_layer else 0):
        return False
    if spec.per_layer and all_layers is not None:
        layers = {_indices(r.name, scheme.layer_offset)[0] for r in records}
        if layers != all_layers:
            return False
    expected = expected_shape(rm, role, symbols)
    if exact and (expected is None or any(r.shape is None for r in records)):
        return False
    for record in records:
        if record.shape is None:
            continue
        shape = canonical_shape(record.shape, role, scheme)
        if len(shape) != len(spec.shape) or (expected is not None and shape != expected):
            return False
    return True


#: validates a layout's tensors in one call (a third cheaper than one LayoutTensor(...) each)
_TENSORS = TypeAdapter(list[LayoutTensor])


def _layout_tensor(scheme: Scheme | None, p: _Placed, inferred: list[int] | None,
                   symbols: dict[str, int]) -> dict:
    """The fields of a LayoutTensor. `inferred`: the role's shape from the config, used when the file gives
    none (or a packed one)."""
    record = p.record
    if record.shape is not None and not p.packed:
        shape, source = list(record.shape), "header"
    else:
        if inferred is not None and p.stacked and "experts" in symbols:
            inferred = [symbols["experts"], *inferred]
        if inferred is not None:
            # the inferred shape is [out, in]; transposing it again gives Conv1D storage order
            shape, source = canonical_shape(inferred, p.role, scheme), "config"
        else:
            shape, source = None, "unknown"
    return {
        "name": record.name, "role": p.role, "layer": p.layer, "expert": p.expert, "shape": shape,
        "dtype": record.dtype, "file": record.file, "shape_source": source, "role_source": p.inferred or "name",
        "packed_shape": list(record.shape) if p.packed and record.shape is not None else None,
    }


def _count_params(tensors: list[LayoutTensor], unmapped: list[TensorRecord]) -> tuple[dict[str, int], int | None]:
    """Parameters per dtype; the total only when every shape is known."""
    counts: dict[str, int] = defaultdict(int)
    complete = all(r.shape is not None for r in unmapped)
    for t in tensors:
        if t.shape is None:
            complete = False
            continue
        counts[t.dtype or "unknown"] += math.prod(t.shape)
    for r in unmapped:
        if r.shape is not None:
            counts[r.dtype or "unknown"] += math.prod(r.shape)
    return dict(sorted(counts.items())), (sum(counts.values()) if complete else None)


def _geometry(scheme: Scheme | None, tensors: list[LayoutTensor], cfg: NormalisedConfig,
              stacked: set[str]) -> dict[str, list]:
    """Name-free geometry entries; stacked experts are split so they compare with per-expert files."""
    plain, typed = [], []
    for t in tensors:
        if t.role == "lm_head" and cfg.tied_embeddings:
            continue
        shape = canonical_shape(t.shape, t.role, scheme) if t.shape is not None else None
        layer = -1 if t.layer is None else t.layer
        experts: list[tuple[int, list[int] | None]]
        if shape is not None and t.name in stacked:
            experts = [(e, shape[1:]) for e in range(shape[0])]
        else:
            experts = [(-1 if t.expert is None else t.expert, shape)]
        for expert, s in experts:
            plain.append([t.role, layer, expert, s])
            typed.append([t.role, layer, expert, s, t.dtype])
    key = operator.itemgetter(0, 1, 2)
    return {"plain": sorted(plain, key=key), "typed": sorted(typed, key=key)}


class _Encoded:
    """A value _digest encodes once however many documents hold it."""

    def __init__(self, value: object):
        self.text = _json(value)


def _json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(doc: dict) -> str:
    """sha256 of compact, key-sorted JSON: stable across runs and machines (an _Encoded value as its text)."""
    text = "{" + ",".join(f"{_json(key)}:{value.text if isinstance(value, _Encoded) else _json(value)}"
                          for key, value in sorted(doc.items())) + "}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
