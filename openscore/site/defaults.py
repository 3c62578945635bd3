"""Content for a site built with no reports: audit the embedded samples (and real cards on request).

`openscore site build` on a fresh machine must still produce a meaningful site, so with no reports
folder (or an empty one) the samples are audited into a temporary reports folder first: the honest
`tiny-llama` and its renamed, relicensed `tiny-llama-shell`, which is exactly the case the lineage
page exists to show. `realcards` adds every model folder found there, audited from metadata only
(weights=False: the real cards ship LFS pointers, not weights).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from openscore.site.build import DEFAULT_RUBRIC, BuiltSite, build_site


def holds_no_reports(reports: Path) -> bool:
    """An existing folder without any report; a missing folder is a mistake, not "no reports"."""
    return reports.is_dir() and not any(reports.rglob("*.json"))


def realcard_folders(realcards: Path) -> list[Path]:
    """Model folders under `realcards` (those holding a README.md or config.json), sorted."""
    return sorted(p for p in realcards.iterdir() if p.is_dir() and ((p / "README.md").is_file() or (p / "config.json").is_file()))


def audit_defaults(reports: Path, *, realcards: Path | None = None) -> list[Path]:
    """Audit the samples (weights read) and the real cards (metadata only) into `reports`."""
    from openscore.audit import audit, write_report
    from openscore.samples import SAMPLE_NAMES

    written = [write_report(audit(f"sample:{name}"), reports) for name in SAMPLE_NAMES]
    for folder in realcard_folders(realcards) if realcards else []:
        written.append(write_report(audit(str(folder), weights=False), reports))
    return written


def build_site_with_defaults(
    reports: Path | None, out: Path, *, rubric: str = DEFAULT_RUBRIC, realcards: Path | None = None
) -> BuiltSite:
    """`build_site`, falling back to freshly audited samples when there is nothing to show."""
    if reports is not None and not holds_no_reports(reports):
        return build_site(reports, out, rubric=rubric)
    with tempfile.TemporaryDirectory(prefix="openscore-site-reports-") as scratch:
        audit_defaults(Path(scratch), realcards=realcards)
        return build_site(Path(scratch), out, rubric=rubric)
