"""The zoo's case list (cases.yaml), validated: recipes, lineage and expected verdicts."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openscore.errors import UsageError
from openscore.yamlconfig import load_yaml_model
from openscore.zoo.families import Geometry

Recipe = Literal[
    "pretrain", "train", "copy", "rename", "cast", "gguf", "lora", "extend_vocab", "select_layers", "merge", "stack",
    "permute_mlp", "permute_heads", "permute_residual", "fold_norms", "rescale_residual", "add_noise",
    "rotate_residual", "prune_width", "quant_dequant", "transpose", "gguf_dequant", "fuse_qkv",
]
#: Recipes written for the LLaMA layout only (GGUF llama names, RMSNorm algebra).
LLAMA_ONLY = frozenset({"gguf", "permute_residual", "fold_norms", "rescale_residual", "rotate_residual",
                        "prune_width", "transpose", "gguf_dequant", "fuse_qkv"})
#: compare() verdicts, plus "adapter": an adapter-only repo whose declared base must be reported.
Relation = Literal[
    "identical", "renamed-copy", "recast-copy", "derived", "partially-derived", "architecture-clone",
    "independent", "inconclusive", "adapter",
]
Declared = Literal["finetune", "adapter", "merge", "quantized"]


class CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    recipe: Recipe
    family: str | None = None  # bases only; derivatives inherit it
    from_: str | None = Field(default=None, alias="from")
    parents: list[str] = []
    args: dict[str, Any] = {}
    relation: Relation | None = None
    accepted: list[Relation] = []
    declares: Declared | None = None
    transforms: list[str] = []
    layer_map: list[int] | None = None
    quick: bool = False
    notes: str

    @model_validator(mode="after")
    def _lineage(self) -> "CaseSpec":
        if self.recipe == "pretrain":
            if self.family is None or self.from_ is not None or self.relation is not None:
                raise ValueError("a pretrain case needs `family` and has no `from` or `relation`")
        elif self.from_ is None or self.relation is None:
            raise ValueError(f"a {self.recipe} case needs `from` and `relation`")
        if self.recipe in ("merge", "stack") and len(self.parents) != 2:
            raise ValueError(f"a {self.recipe} case names exactly two `parents`")
        if self.recipe == "select_layers" and not self.layer_map:
            raise ValueError("select_layers needs `layer_map`")
        return self


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    training: dict[str, int]
    families: dict[str, Geometry]
    cases: list[CaseSpec]

    @model_validator(mode="after")
    def _references(self) -> "Catalogue":
        seen: dict[str, CaseSpec] = {}
        for case in self.cases:
            if case.name in seen:
                raise ValueError(f"case {case.name!r} is listed twice")
            for ref in [case.from_, *case.parents]:
                if ref is not None and ref not in seen:
                    raise ValueError(f"case {case.name!r} builds on {ref!r}, which is not listed before it")
            if case.family is None:
                case.family = seen[case.from_].family
            elif case.family not in self.families:
                raise ValueError(f"case {case.name!r}: unknown family {case.family!r}")
            if case.recipe in LLAMA_ONLY and case.family != "llama":
                raise ValueError(f"case {case.name!r}: recipe {case.recipe} exists for the llama family only")
            if case.quick and any(not seen[r].quick for r in [case.from_, *case.parents] if r):
                raise ValueError(f"quick case {case.name!r} builds on a case outside the quick zoo")
            seen[case.name] = case
        return self

    def get(self, name: str) -> CaseSpec:
        for case in self.cases:
            if case.name == name:
                return case
        raise UsageError(f"no zoo case named {name!r} (openscore/zoo/cases.yaml lists {len(self.cases)})")


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    path = Path(str(resources.files("openscore.zoo").joinpath("cases.yaml")))
    return load_yaml_model(Catalogue, path, display_name="openscore/zoo/cases.yaml")[0]
