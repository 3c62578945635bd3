"""A fleet of Hub repositories on the fake Hub, for batch tests and bench/batch.py.

Healthy repos share one small safetensors model (each gets its own commit sha from its id); a few are
hostile (a safetensors header that lies about its length: exit 20), gated (files need a token; the
audit goes on with what the API shows) or listed but missing (exit 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests import checkpoint_builders as build
from tests.fakehub import FakeHub

CARD = "---\nlicense: apache-2.0\nbase_model: fleet/base\n---\n# A fleet model\n\nFine-tuned from fleet/base.\n"


@dataclass(frozen=True)
class Fleet:
    healthy: list[str]
    hostile: list[str]
    gated: list[str]
    missing: list[str]

    @property
    def all(self) -> list[str]:
        return sorted(self.healthy + self.hostile + self.gated + self.missing)


def model_folder(folder: Path, *, seed: int = 0, card: str = CARD) -> Path:
    build.single_safetensors(folder, build.llama_tensors(seed=seed))
    (folder / "README.md").write_text(card)
    return folder


def serve_fleet(hub: FakeHub, root: Path, n: int, *, hostile: int = 0, gated: int = 0, missing: int = 0,
                org: str = "fleet") -> Fleet:
    """`n` repos in all named `org/model-NNN`: the first ones healthy, then hostile, gated and missing ones."""
    good = model_folder(root / "good")
    bad = root / "hostile"
    build.raw_safetensors(bad / "model.safetensors", b'{"w": {"dtype": "F32", "shape": [4], ', header_len=10**12)
    (bad / "README.md").write_text(CARD)
    names = [f"{org}/model-{i:03d}" for i in range(n)]
    cut = n - hostile - gated - missing
    fleet = Fleet(names[:cut], names[cut:cut + hostile], names[cut + hostile:cut + hostile + gated],
                  names[cut + hostile + gated:])
    for name in fleet.healthy:
        hub.add_repo(name, good)
    for name in fleet.hostile:
        hub.add_repo(name, bad)
    for name in fleet.gated:
        hub.add_repo(name, good, gated="manual")
    return fleet


def write_list(path: Path, names: list[str]) -> Path:
    path.write_text("# models to audit\n" + "".join(f"{name}\n" for name in names))
    return path
