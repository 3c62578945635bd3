"""European Open Source AI Index (osai-index.eu) database entries: read, total, write, and build from an audit.

An entry (one YAML file of Language-Technology-Assessment/main-database) holds a `system:` block, an
`org:` block and one `{class, link, notes}` cell per parameter; `class` is open / partial / closed, or
empty for N/A. `link` is a URL, a list of URLs, or empty. The data is CC-BY-4.0: attribution is a link
to https://osai-index.eu and a citation of Liesenfeld & Dingemanse (2024), FAccT '24 (Zenodo DOI
10.5281/zenodo.15386042); `dump` keeps an entry's header comment, which carries that attribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from openscore.anchors import hub_url, reviewed_grades
from openscore.errors import ConfigError
from openscore.report import AuditReport
from openscore.rubrics import Rubric, load_rubric, score
from openscore.safeio import read_bounded
from openscore.yamlconfig import MAX_CONFIG_BYTES, compose_and_load

RUBRIC_ID = "osai-v3"
#: libyaml when PyYAML has it: the database is ~200 files
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
OSAI_CLASSES = ("open", "partial", "closed")
#: files of the database that are not model entries
NOT_ENTRIES = ("a_submission_template.yaml",)

ATTRIBUTION_HEADER = """\
# You're free to build on this work and reuse the data. It is licensed under CC-BY 4.0, with the
# stipulation that attribution should come in the form of a link to https://osai-index.eu/
# and a citation to the peer-reviewed paper in which the dataset & criteria were published:

# Liesenfeld, A. and Dingemanse, M., 2024. Rethinking open source generative AI: open-washing and the EU AI Act. In Proceedings of the 2024 ACM Conference on Fairness, Accountability, and Transparency (pp. 1774-1787).
"""


class OsaiCell(BaseModel):
    """One parameter of an entry; unknown keys are kept so nothing is lost on export."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    grade_class: str | None = Field(default=None, alias="class")
    link: str | list[str] | None = None
    notes: str | None = None


class OsaiEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: str = ""  # the comment block at the top of the file, verbatim
    system: dict[str, Any] = Field(default_factory=dict)
    org: dict[str, Any] = Field(default_factory=dict)
    cells: dict[str, OsaiCell] = Field(default_factory=dict)  # parameter key -> cell, in file order
    extra: dict[str, Any] = Field(default_factory=dict)  # any other top-level key, kept as read

    @property
    def name(self) -> str | None:
        return self.system.get("name")


def parse(text: str, *, source: str = "<osai entry>") -> OsaiEntry:
    try:
        data = compose_and_load(text, source, _Loader)[1]
    except RecursionError:
        raise ConfigError(f"{source}:1: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{source}:{mark.line + 1 if mark else 1}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: an OSAI entry is a mapping, not {type(data).__name__}")
    header_lines = []
    for line in text.splitlines():
        if line.strip() in ("", "---") and not header_lines:
            continue
        if line.startswith("#") or (header_lines and not line.strip()):
            header_lines.append(line)
            continue
        break
    cells: dict[str, OsaiCell] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("system", "org"):
            continue
        if isinstance(value, dict) and ("class" in value or "link" in value or "notes" in value):
            cells[str(key)] = OsaiCell.model_validate(value)
        else:
            extra[str(key)] = value
    return OsaiEntry(header="\n".join(header_lines).strip("\n"), system=data.get("system") or {},
                     org=data.get("org") or {}, cells=cells, extra=extra)


def load(path: str | Path) -> OsaiEntry:
    path = Path(path)
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES, error=ConfigError, what="OSAI entry").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}:1: cannot read: {exc}") from None
    return parse(text, source=str(path))


def entry_files(folder: str | Path) -> list[Path]:
    """The model entries of a database checkout: every *.yaml but the template and _parameters files."""
    return sorted(p for p in Path(folder).glob("*.yaml") if p.name not in NOT_ENTRIES and not p.name.startswith("_"))


def grades(entry: OsaiEntry, rubric: Rubric | None = None) -> dict[str, str]:
    """{parameter: grade}: the class as written, "n/a" for an empty or absent cell, "unknown" for
    a class value OSAI does not define (the site scores those 0, as it does N/A)."""
    rubric = rubric or load_rubric(RUBRIC_ID)
    out: dict[str, str] = {}
    for dim in rubric.dimension_ids:
        cell = entry.cells.get(dim)
        value = cell.grade_class if cell is not None else None
        if value is None or (isinstance(value, str) and not value.strip()):
            out[dim] = "n/a"
        else:
            out[dim] = value if value in OSAI_CLASSES else "unknown"
    return out


def total(entry: OsaiEntry, rubric: Rubric | None = None) -> float:
    """The osai-index.eu total: unweighted mean of the 12 parameters, open 1, partial 0.5, anything
    else (closed, empty, N/A) 0. The site applies every current parameter to every model type."""
    rubric = rubric or load_rubric(RUBRIC_ID)
    result = score(rubric, grades(entry, rubric), "osai-compatible")
    assert result is not None  # the OSAI-compatible profile never excludes a dimension
    return result


def dump(entry: OsaiEntry, rubric: Rubric | None = None) -> str:
    """The entry as an OSAI YAML file: header comment, system, org, then the parameters by group."""
    rubric = rubric or load_rubric(RUBRIC_ID)
    parts = ["---"]
    if entry.header:
        parts.append(entry.header + "\n")
    parts.append(_block({"system": entry.system}))
    parts.append(_block({"org": entry.org}))
    written: set[str] = set()
    group = None
    for dim in rubric.dimensions:
        if dim.id not in entry.cells:
            continue
        if dim.group != group:
            group = dim.group
            parts.append(f"# {group}:")
        parts.append(_block({dim.id: _cell_data(entry.cells[dim.id])}))
        written.add(dim.id)
    for key, cell in entry.cells.items():
        if key not in written:
            parts.append(_block({key: _cell_data(cell)}))
    for key, value in entry.extra.items():
        parts.append(_block({key: value}))
    return "\n".join(parts).rstrip("\n") + "\n"


def _cell_data(cell: OsaiCell) -> dict[str, Any]:
    data = cell.model_dump(by_alias=True)
    ordered = {"class": data.pop("class"), "link": data.pop("link"), "notes": data.pop("notes")}
    ordered.update(data)
    return ordered


def _block(mapping: Mapping[str, Any]) -> str:
    return yaml.dump(dict(mapping), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, indent=4)


def from_grades(system: Mapping[str, Any], grades: Mapping[str, str], *, notes: Mapping[str, str] | None = None,
                links: Mapping[str, str | list[str]] | None = None, org: Mapping[str, Any] | None = None,
                rubric: Rubric | None = None) -> OsaiEntry:
    """An OSAI entry from an audit's osai-v3 grades. OSAI has no "unknown": unknown and N/A are written
    as an empty class (the index's N/A), and the notes say which it was."""
    rubric = rubric or load_rubric(RUBRIC_ID)
    stray = sorted(set(grades) - set(rubric.dimension_ids))
    if stray:
        raise ConfigError(f"not OSAI parameters: {', '.join(stray)}")
    notes, links = notes or {}, links or {}
    cells = {}
    for dim in rubric.dimension_ids:
        grade = grades.get(dim, "unknown")
        note = notes.get(dim)
        if grade == "unknown":
            note = f"Unknown: {note}" if note else "Unknown: openscore could not establish this parameter."
        link = links.get(dim)
        cells[dim] = OsaiCell(grade_class=grade if grade in OSAI_CLASSES else None,
                              link=list(link) if isinstance(link, (list, tuple)) else link, notes=note)
    return OsaiEntry(header=ATTRIBUTION_HEADER.strip("\n"), system=dict(system), org=dict(org or {}), cells=cells)


def from_report(report: AuditReport) -> OsaiEntry:
    """An audit report's osai-v3 grades as an OSAI entry: reasons become notes, evidence URLs links."""
    graded = reviewed_grades(report, RUBRIC_ID)
    system: dict[str, Any] = {"name": report.source.repo_id.split("/")[-1], "link": hub_url(report), "type": "text"}
    base = (report.provenance.base or report.provenance.declared_base) if report.provenance else None
    if base:
        system["basemodelname"] = base.split("@")[0]
    system["endmodelname"] = report.source.repo_id
    system["endmodellicense"] = report.licence.resolved.name
    system["notes"] = f"Exported from the openscore audit of {report.source.repo_id}@{report.source.sha}."
    links: dict[str, str | list[str]] = {}
    for dim, grade in graded.items():
        urls = sorted({ev.url for ev in grade.evidence if ev.url})
        if urls:
            links[dim] = urls[0] if len(urls) == 1 else urls
    org = {"name": report.source.repo_id.split("/")[0]} if "/" in report.source.repo_id else {}
    return from_grades(system, {d: g.grade for d, g in graded.items()}, notes={d: g.reason for d, g in graded.items()},
                       links=links, org=org)
