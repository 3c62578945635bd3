"""Model Openness Tool (MOT) model files: read them, classify them with openscore's MOF rubric, write them.

A MOT file (lfai/model_openness_tool models/*.yml, schema/mof_schema.json) lists only the components a
release includes; each component's licence is its own `license`, else the release's licence for its
content type (`release.license.code|data|document`), else the distribution licence, else none.
The value `unlicensed` means "included, without a licence".
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
from openscore.rubrics import ComponentStatus, MofClassification, Rubric, classify_mof, load_rubric, statuses_from_grades
from openscore.safeio import read_bounded
from openscore.yamlconfig import MAX_CONFIG_BYTES, compose_and_load

UNLICENSED = "unlicensed"  # MOT's value for "included, without a licence"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FRAMEWORK = {"name": "Model Openness Framework", "version": "1.0", "date": "2024-12-15"}


class _Lenient(BaseModel):
    """MOT files carry fields this module does not use; keep them so a file round-trips."""

    model_config = ConfigDict(extra="allow")


class MotLicence(_Lenient):
    name: str | None = None
    path: str | None = None


class MotComponent(_Lenient):
    name: str
    description: str | None = None
    license: str | None = None
    license_path: str | None = None
    component_path: str | None = None


class MotRelease(_Lenient):
    name: str
    license: dict[str, MotLicence] = Field(default_factory=dict)  # distribution | code | data | document
    components: list[MotComponent] = Field(default_factory=list)


class MotModel(_Lenient):
    framework: dict[str, Any] = Field(default_factory=dict)
    release: MotRelease


def load(path: str | Path) -> MotModel:
    """Parse one MOT model file; a malformed one is a ConfigError naming the file."""
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES, error=ConfigError, what="MOT file").decode("utf-8")
        data = compose_and_load(text, str(path), _Loader)[1]
        return MotModel.model_validate(data)
    except RecursionError:
        raise ConfigError(f"{path}:1: nested too deeply") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}:1: not a readable MOT file: {exc}") from None
    except ValueError as exc:  # pydantic ValidationError
        raise ConfigError(f"{path}:1: not a MOT model file: {' '.join(str(exc).split())[:300]}") from None


def components(model: MotModel, rubric: Rubric | None = None) -> dict[str, ComponentStatus]:
    """The release's components as {rubric component id: ComponentStatus}, licences resolved MOT's way."""
    rubric = rubric or load_rubric("mof")
    by_name = {(d.upstream_name or d.title).lower(): d for d in rubric.dimensions}
    out: dict[str, ComponentStatus] = {}
    for component in model.release.components:
        dim = by_name.get(component.name.strip().lower())
        if dim is None:
            raise ConfigError(f"{model.release.name}: unknown MOF component {component.name!r}")
        out[dim.id] = ComponentStatus(included=True, licence=_component_licence(model, component, dim.content_type))
    return out


def _component_licence(model: MotModel, component: MotComponent, content_type: str | None) -> str | None:
    if component.license is not None:  # MOT: an explicit (even empty) component licence wins
        value = component.license.strip()
        return None if value.lower() in ("", UNLICENSED) else value
    for scope in (content_type, "distribution"):
        licence = model.release.license.get(scope or "")
        if licence is not None and licence.name:
            return licence.name
    return None


def classify(model: MotModel, rubric: Rubric | None = None) -> MofClassification:
    rubric = rubric or load_rubric("mof")
    return classify_mof(rubric, components(model, rubric))


def dump(release: Mapping[str, Any], statuses: Mapping[str, ComponentStatus], rubric: Rubric | None = None) -> str:
    """A MOT model file for an audit: `release` gives name, producer, etc.; each included component
    is listed with its own licence (MOT's `unlicensed` when it has none), in MOT's component order."""
    rubric = rubric or load_rubric("mof")
    listed = []
    for dim in rubric.dimensions:
        status = statuses.get(dim.id)
        if status is None or not status.included:
            continue
        listed.append({"name": dim.upstream_name or dim.title, "description": dim.description,
                       "license": status.licence or UNLICENSED})
    body = {"framework": dict(FRAMEWORK), "release": {**dict(release), "components": listed}}
    body["release"].setdefault("license", {})
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def from_report(report: AuditReport) -> str:
    """An audit report's MOF grades as a MOT model file (included = graded open or partial, under the
    release's resolved licence; an unknown licence is written as MOT's `unlicensed`)."""
    graded = reviewed_grades(report, "mof")
    release: dict[str, Any] = {"name": report.source.repo_id.split("/")[-1], "producer": report.source.repo_id.split("/")[0]}
    if hub_url(report):
        release["huggingface"] = hub_url(report)
    licence = report.licence.resolved
    if licence.id != "unknown":
        release["license"] = {"distribution": {"name": licence.id, "path": ""}}
    return dump(release, statuses_from_grades({d: g.grade for d, g in graded.items()}, licence.id))
