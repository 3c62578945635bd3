"""Where the project's data folders live: `rubrics/` and `site/` at the top level of the project.

They sit outside the package so people can read and review them as plain files; this module is the
one place that knows how to find them (a source checkout or an editable install, or an override by
environment variable for packagers and tests).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _folder(name: str, env: str) -> Path:
    override = os.environ.get(env)
    path = Path(override) if override else PROJECT_ROOT / name
    if not path.is_dir():
        from openscore.errors import ConfigError

        raise ConfigError(f"{path}: the {name}/ folder is missing (set {env} to its location)")
    return path


def rubrics_dir() -> Path:
    """The folder of rubric YAML files (`rubrics/`)."""
    return _folder("rubrics", "OPENSCORE_RUBRICS_DIR")


def site_dir() -> Path:
    """The folder of site templates and vendored assets (`site/`)."""
    return _folder("site", "OPENSCORE_SITE_DIR")


def package_data(*parts: str) -> Path:
    """A file or folder under openscore/data/ (YAML facts: licences, role maps, registry...)."""
    return Path(__file__).resolve().parent / "data" / Path(*parts)
