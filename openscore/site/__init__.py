"""The static leaderboard site: saved audit reports in, a deterministic static site out.

    from openscore.site import build_site
    build_site(Path("reports"), Path("_site"))

Pages (leaderboard, one per model, lineage, compare, one per rubric), a static JSON/CSV API with a
published JSON schema, and an SVG badge per model; see docs/site.md.
"""

from openscore.site.build import BuiltSite, build_site, render_site, write_site
from openscore.site.store import AuditedModel, load_reports

__all__ = [
    "AuditedModel",
    "BuiltSite",
    "build_site",
    "load_reports",
    "render_site",
    "write_site",
]
