"""Layout fingerprint and rename detection: what a checkpoint's tensors are, whatever they are called.

    build_layout(headers) -> Layout          roles, normalised config, name-free signatures
    find_renames(candidate, reference=None)  tensor kinds whose role and shape match under another name
"""

from openscore.layout.build import build_layout, name_kind
from openscore.layout.config import NormalisedConfig
from openscore.layout.models import ArtefactTensor, Layout, LayoutTensor, RenamedKind, RenameReport
from openscore.layout.renames import find_renames

__all__ = [
    "ArtefactTensor",
    "Layout",
    "LayoutTensor",
    "NormalisedConfig",
    "RenameReport",
    "RenamedKind",
    "build_layout",
    "find_renames",
    "name_kind",
]
