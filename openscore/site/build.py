"""`openscore site build`: reports in, a complete static site out, swapped in whole.

The site is rendered in memory, written into a fresh folder beside the target, and only then
renamed into place, so a failed build leaves the previous site untouched and a reader never sees a
half-written one. The target is replaced only if it is empty or an earlier openscore site (it holds
MARKER): pointing `--out` at a folder of other files is refused, not wiped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from openscore import __version__
from openscore.atomic import canonical_json
from openscore.errors import UsageError
from openscore.resources import site_dir
from openscore.safeio import contained
from openscore.site.catalog import RubricCatalog
from openscore.site.render import SiteRenderer
from openscore.site.store import AuditedModel, load_reports

MARKER = "openscore-site.json"
DEFAULT_RUBRIC = "osai-v3"


@dataclass(frozen=True)
class BuiltSite:
    out: Path
    models: int
    pages: int
    files: int


def render_site(
    models: list[AuditedModel], *, rubric: str = DEFAULT_RUBRIC, catalog: RubricCatalog | None = None
) -> dict[str, bytes]:
    """Every file of the site, `site-relative path -> bytes`, in path order."""
    files = SiteRenderer(models, catalog or RubricCatalog.shipped(), rubric, site_dir()).render()
    files[MARKER] = canonical_json({"generator": f"openscore@{__version__}", "models": len(models)}).encode()
    return dict(sorted(files.items()))


def write_site(files: dict[str, bytes], out: Path) -> None:
    """Write `files` to a sibling temp folder, then swap it in for `out`."""
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise UsageError(f"{out}: not empty and not an openscore site; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        for relative, data in files.items():
            target = contained(staging, relative)  # a site path from a report never leaves the site
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a published site is world-readable
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / "site")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_site(
    reports: Path, out: Path, *, rubric: str = DEFAULT_RUBRIC, catalog: RubricCatalog | None = None
) -> BuiltSite:
    """Build the site for every report under `reports` into `out` (replaced whole)."""
    models = load_reports(Path(reports))
    files = render_site(models, rubric=rubric, catalog=catalog)
    write_site(files, Path(out))
    return BuiltSite(
        out=Path(out),
        models=len(models),
        pages=sum(1 for path in files if path.endswith(".html")),
        files=len(files),
    )
