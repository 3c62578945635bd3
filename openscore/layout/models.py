"""The layout fingerprint and rename report documents (pydantic: saved as JSON, reloaded, diffed)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from openscore.layout.config import NormalisedConfig

LAYOUT_VERSION = "1.0"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayoutTensor(_Doc):
    name: str
    role: str  # canonical role, ".bias" appended for biases ("attn_q.bias")
    layer: int | None = None
    expert: int | None = None
    shape: list[int] | None = None  # as stored (GPT-2 Conv1D keeps its [in, out] order here)
    packed_shape: list[int] | None = None  # GPTQ/AWQ `qweight`: the packed shape in the file; `shape` is unpacked
    dtype: str | None = None
    file: str
    shape_source: Literal["header", "config", "unknown"]
    # "inferred": an unknown name placed by structure and shape; "inferred-by-order": several roles fitted
    # equally and the names were paired with the scheme's roles in order (ln1 -> first norm of the block)
    role_source: Literal["name", "inferred", "inferred-by-order"]


class ArtefactTensor(_Doc):
    """A buffer or quantisation state saved beside the parameters (not part of the geometry)."""

    name: str
    file: str
    dtype: str | None = None
    shape: list[int] | None = None


class Layout(_Doc):
    layout_version: str = LAYOUT_VERSION
    family: str  # "llama", "qwen", ..., or "unknown"
    family_source: Literal["config", "gguf", "names", "none"]
    scheme: str | None  # the naming scheme the tensor names follow (roles.yaml), None when none fits
    config: NormalisedConfig
    config_from_tensors: list[str] = Field(default_factory=list)  # fields read from shapes, not the config
    tensors: list[LayoutTensor]
    artefacts: list[ArtefactTensor] = Field(default_factory=list)
    unmapped: list[str] = Field(default_factory=list)
    params: dict[str, int] = Field(default_factory=dict)  # parameter count per dtype
    params_total: int | None = None  # None when some shapes are unknown
    signature: str  # geometry: roles x layers x canonical shapes + structural config; names and dtypes ignored
    dtype_signature: str  # the same with each tensor's dtype
    config_signature: str  # signature + rope, positions, norm and activation
    warnings: list[str] = Field(default_factory=list)


class RenamedKind(_Doc):
    kind: str  # the candidate's name pattern, e.g. "model.layers.{L}.ln1.weight"
    expected: str | None  # the reference's (or the scheme's) pattern for the same role
    role: str
    tensors: int
    ambiguous: bool = False  # the role was one of several with the same shape: placed by name order


class RenameReport(_Doc):
    family: str
    scheme: str | None
    reference: str  # "scheme:<name>" or the reference layout's family/scheme label
    renamed: list[RenamedKind] = Field(default_factory=list)
    kinds_renamed: int = 0
    tensors_renamed: int = 0
    tensors_matched: int = 0  # tensors whose role and geometry correspond (renamed or not)
    candidate_only: list[str] = Field(default_factory=list)  # kinds with no counterpart in the reference
    reference_only: list[str] = Field(default_factory=list)
    same_geometry: bool | None = None  # signatures equal (None without a reference layout)
    summary: str
