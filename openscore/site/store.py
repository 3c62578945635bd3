"""Reading a reports folder into models, each with its history of audited commits.

Layout written by `openscore audit`: `reports/<org>/<name>/<sha>.json`. Every `*.json` below the
folder (hidden files and folders skipped) must be a valid AuditReport. Reports are grouped by the
repo id *inside* the report, not by folder name, so a moved file cannot graft itself onto another
model. A model's history is ordered by the commit date the audit recorded (`source.committed_at`),
then by file name; commits without a date come first. The last entry is the model's current state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from openscore.errors import InvalidReport
from openscore.report import AuditReport, load_report
from openscore.site.safety import path_segment


@dataclass(frozen=True)
class AuditedModel:
    """One model on the site: its id, where its pages live, and its audits oldest first."""

    repo_id: str
    org: str  # path-safe folder names for pages, API files and badges
    name: str
    history: tuple[AuditReport, ...]

    @property
    def latest(self) -> AuditReport:
        return self.history[-1]

    @property
    def path(self) -> str:
        """`org/name`, the site-relative stem of this model's page, API file and badge."""
        return f"{self.org}/{self.name}"


def _site_path(repo_id: str, kind: str) -> tuple[str, str]:
    org, _, name = repo_id.partition("/")
    if not name:  # a local folder audited without an org: group it under its source kind
        org, name = kind, repo_id
    return path_segment(org), path_segment(name)


def load_reports(reports_dir: Path) -> list[AuditedModel]:
    """Every model under `reports_dir`, sorted by repo id; an empty list for an empty folder."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise InvalidReport(f"{reports_dir}: no such reports folder")
    by_repo: dict[str, list[tuple[str, str, AuditReport]]] = {}
    for path in sorted(reports_dir.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(reports_dir).parts):
            continue
        report = load_report(path)
        order = (report.source.committed_at or "", path.name)
        by_repo.setdefault(report.source.repo_id, []).append((*order, report))

    models: list[AuditedModel] = []
    owners: dict[str, str] = {}
    for repo_id in sorted(by_repo):
        entries = sorted(by_repo[repo_id], key=lambda entry: entry[:2])
        shas = [report.source.sha for *_, report in entries]
        duplicated = sorted(sha for sha, n in Counter(shas).items() if n > 1)
        if duplicated:
            raise InvalidReport(f"{reports_dir}: {repo_id}@{duplicated[0]} is reported twice")
        org, name = _site_path(repo_id, entries[-1][2].source.kind)
        key = f"{org}/{name}".lower()  # case-insensitive file systems would merge these pages
        if key in owners:
            raise InvalidReport(f"{reports_dir}: {repo_id!r} and {owners[key]!r} would share the page {org}/{name}")
        owners[key] = repo_id
        models.append(AuditedModel(repo_id, org, name, tuple(report for *_, report in entries)))
    return models
