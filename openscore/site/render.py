"""Rendering the whole site in memory: every page, API file and badge as `path -> bytes`.

Pure: the same models give the same bytes (sorted keys, fixed orders, no clock), which is what
makes two builds byte-identical. Templates live in `site/templates/` (openscore.resources.site_dir);
Jinja runs with autoescape on and StrictUndefined, so a missing field fails the build instead of
rendering blank, and card text can only ever appear as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from openscore import __version__
from openscore.atomic import canonical_json
from openscore.errors import UsageError
from openscore.site import charts, explain, leaderboard
from openscore.site.badge import model_badge
from openscore.site.catalog import RubricCatalog
from openscore.site.history import history
from openscore.site.lineage import families
from openscore.site.plot import similarity_plot
from openscore.site.rows import effective_grade, model_row
from openscore.site.safety import anchor, css_string, safe_href
from openscore.site.store import AuditedModel

#: Version of the static API documents (api/*.json), published in schema/site-api.schema.json.
SITE_API_VERSION = "1.0"
SCHEMA_NAME = "site-api.schema.json"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME
STATIC_FILES = ("site.css", "leaderboard.js", "compare.js", "favicon.svg")
MAX_COMPARED = 4
#: A cell's tooltip carries the grade's reason up to this many characters: 500 models must stay a light page.
TOOLTIP_CHARS = 80


def environment(templates: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["href"] = safe_href
    env.filters["anchor"] = anchor
    env.filters["pct"] = lambda value: "\u2013" if value is None else f"{value:.0%}"
    env.filters["short"] = lambda sha, length=10: (sha or "")[:length]
    env.filters["short_source"] = _short_source
    return env


def _short_source(source: str) -> str:
    """`org/name@<40 hex>` -> `org/name@<10 hex>`: evidence lines stay readable; the title keeps it all."""
    repo, at, revision = source.rpartition("@")
    return f"{repo}@{revision[:10]}" if at and len(revision) > 12 else source


def _tooltip(text: str) -> str:
    """The reason's first sentence, cut at TOOLTIP_CHARS: the one line a cell's tooltip has room for."""
    text = " ".join(text.split())
    first, stop, rest = text.partition(". ")
    text = first + "." if stop and rest else text
    return text if len(text) <= TOOLTIP_CHARS else text[: TOOLTIP_CHARS - 1] + "\u2026"


def _root(page: str) -> str:
    """The relative prefix from `page` back to the site root ("" or "../../")."""
    return "../" * page.count("/")


class SiteRenderer:
    """Renders one site: rows, histories and the rubric order are computed once, then every page reads them."""

    def __init__(self, models: list[AuditedModel], catalog: RubricCatalog, rubric: str, site_folder: Path):
        self.models = models
        self.catalog = catalog
        self.rubric = rubric
        self.site_folder = site_folder
        self.env = environment(site_folder / "templates")
        self.rows = {m.repo_id: model_row(m, catalog) for m in models}
        graded = {rid for m in models for rid in m.latest.rubrics}
        if models and rubric not in graded:
            raise UsageError(f"no report grades rubric {rubric!r} (graded: {', '.join(sorted(graded))})")
        self.rubric_ids = [rubric, *sorted((graded | set(catalog.rubrics)) - {rubric})]
        self.graded_ids = [rid for rid in self.rubric_ids if rid in graded]
        # rubrics ranked by a number; MOF and OSAID show their class and verdict instead
        self.score_rubrics = [
            (rid, catalog.title(rid))
            for rid in self.graded_ids
            if (catalog.rubrics[rid].kind == "graded" if rid in catalog.rubrics else True)
            and any(self.rows[m.repo_id]["rubrics"].get(rid, {}).get("score") is not None for m in models)
        ]
        self.on_site = {m.repo_id: self.rows[m.repo_id]["links"]["page"] for m in models}
        self.histories = {m.repo_id: history(m.history, catalog) for m in models}
        self.dimensions = catalog.dimensions(rubric, [m.latest.rubrics[rubric] for m in models if rubric in m.latest.rubrics])
        self.families = families(models)
        family_of = {node.id: family.name for family in self.families for node in family.nodes}
        self.view = {m.repo_id: self._view(m, family_of.get(m.repo_id, "")) for m in models}
        self.files: dict[str, bytes] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def _view(self, model: AuditedModel, family: str) -> dict[str, Any]:
        """What the leaderboard shows beside a row but the API does not carry: family, licence class, reasons."""
        result = model.latest.rubrics.get(self.rubric)
        reasons = {}
        for grade in result.grades if result else []:
            reasons[grade.dimension] = _tooltip(grade.override.reason if grade.override else grade.reason)
        facts = model.latest.licence.resolved
        return {
            "family": family,
            "licence_class": facts.tier or ("open" if facts.open else "unknown"),
            "reasons": reasons,
        }

    def _method(self) -> str:
        """The ranking profile's own description (rubric YAML): how the total is computed."""
        rubric = self.catalog.rubrics.get(self.rubric)
        profile = next((p for p in rubric.profiles if p.id == rubric.default_profile), None) if rubric else None
        return f"Ranked by the {profile.title} total: {profile.description}" if profile else ""

    def _page(self, path: str, template: str, **context: Any) -> None:
        html = self.env.get_template(template).render(
            root=_root(path),
            version=__version__,
            nav_rubrics=[(rid, self.catalog.title(rid)) for rid in self.rubric_ids if rid in self.catalog.rubrics],
            rubric=self.rubric,
            rubric_title=self.catalog.title(self.rubric),
            **context,
        )
        self.files[path] = html.encode("utf-8")

    def _json(self, path: str, data: Any) -> None:
        self.files[path] = canonical_json(data).encode("utf-8")

    # -- the site --------------------------------------------------------------------------------
    def render(self) -> dict[str, bytes]:
        ranked = leaderboard.ranked(list(self.rows.values()), self.rubric)
        self._leaderboard(ranked)
        self._dimension_labels()
        for model in self.models:
            self._model(model)
        self._lineage()
        self._charts(ranked)
        self._compare()
        for rubric_id in self.rubric_ids:
            if rubric_id in self.catalog.rubrics:
                self._rubric(rubric_id)
        self._api(ranked)
        static = self.site_folder / "static"
        for name in STATIC_FILES:
            self.files[f"static/{name}"] = (static / name).read_bytes()
        self.files[f"schema/{SCHEMA_NAME}"] = SCHEMA_FILE.read_bytes()
        return dict(sorted(self.files.items()))

    def _leaderboard(self, ranked: list[tuple[int | None, dict]]) -> None:
        dim_ids = [dim for dim, _ in self.dimensions]
        rows = [row for _, row in ranked]
        self._page(
            "index.html",
            "index.html",
            title="Leaderboard",
            ranked=ranked,
            dimensions=self.dimensions,
            tally=leaderboard.tally(rows, self.rubric, dim_ids),
            score_rubrics=self.score_rubrics,
            on_site=self.on_site,
            verdicts=sorted({r["provenance"]["verdict"] for r in rows if r["provenance"]}),
            mof_classes=sorted({r["rubrics"]["mof"]["classification"] or "" for r in rows if "mof" in r["rubrics"]} - {""}),
            view=self.view,
            family_names=sorted({v["family"] for v in self.view.values()} - {""}),
            licence_classes=sorted({v["licence_class"] for v in self.view.values()}),
            method=self._method(),
        )

    def _dimension_labels(self) -> None:
        """static/dimensions.css: the column names the card view shows beside each value (columns 3 onwards).

        Written as CSS rather than repeated in every cell, so 500 rows do not carry 6,000 labels.
        """
        grades = [title for _, title in self.dimensions]
        rules = "".join(
            f"  #leaderboard td:nth-child({index}) > :first-child::before {{ content: {css_string(title)}; }}\n"
            for index, title in enumerate(grades, start=3)
        )
        others = [rid for rid, _ in self.score_rubrics] + ["MOF", "OSAID", "Licence", "Provenance"]
        rules += "".join(
            f"  #leaderboard td:nth-child({index})::before {{ content: {css_string(title + ': ')}; color: #595959; }}\n"
            for index, title in enumerate(others, start=3 + len(grades))
        )
        self.files["static/dimensions.css"] = f"/* generated by openscore: the card view's labels */\n@media (max-width: 699px) {{\n{rules}}}\n".encode()

    def _charts(self, ranked: list[tuple[int | None, dict]]) -> None:
        rows = [row for _, row in ranked]
        title = self.catalog.title(self.rubric)
        self._page(
            "charts.html",
            "charts.html",
            title="Charts",
            distribution=charts.distribution([r["rubrics"].get(self.rubric, {}).get("score") for r in rows], title),
            over_time=charts.over_time(rows, self.rubric, title),
            dimension_bars=charts.dimension_bars(
                leaderboard.tally(rows, self.rubric, [dim for dim, _ in self.dimensions]), self.dimensions
            ),
            models=len(rows),
        )

    def _model(self, model: AuditedModel) -> None:
        report = model.latest
        path = self.rows[model.repo_id]["links"]["page"]
        rubric_sections = []
        for rubric_id in self.rubric_ids:
            result = report.rubrics.get(rubric_id)
            if result is None:
                continue
            by_dim = {g.dimension: g for g in result.grades}
            order = [(dim, title) for dim, title in self.catalog.dimensions(rubric_id, [result]) if dim in by_dim]
            rubric_sections.append(
                {
                    "id": rubric_id,
                    "title": self.catalog.title(rubric_id),
                    "has_page": rubric_id in self.catalog.rubrics,
                    "result": result,
                    "grades": [(title, by_dim[dim], anchor(rubric_id, dim)) for dim, title in order],
                    "profile": self.catalog.primary_profile(result),
                }
            )
        provenance = report.provenance
        ranking = next((sec for sec in rubric_sections if sec["id"] == self.rubric), None)
        rubric = self.catalog.rubrics.get(self.rubric)
        criteria = {d.id: d.criteria.open for d in rubric.dimensions} if rubric else {}
        details = provenance.details if provenance else {}
        self._page(
            path,
            "model.html",
            title=model.repo_id,
            model=model,
            row=self.rows[model.repo_id],
            report=report,
            rubric_sections=rubric_sections,
            plot=similarity_plot(provenance.layer_similarity) if provenance else None,
            history=self.histories[model.repo_id],
            on_site=self.on_site,
            files=[f for f in report.inventory.get("files", []) if isinstance(f, dict)],
            gated=report.inventory.get("gated") if isinstance(report.inventory.get("gated"), str) else None,
            licence=explain.licence_words(report.licence.resolved),
            details=explain.provenance_details(details),
            layer_map=charts.layer_map(explain.layer_map(details)),
            base_check=explain.base_check(report),
            profile=charts.profile([(t, effective_grade(g), gid) for t, g, gid in ranking["grades"]]) if ranking else None,
            to_raise=explain.to_raise(ranking["grades"], criteria) if ranking else [],
        )
        badge = model_badge(
            model.repo_id,
            self.catalog.title(self.rubric),
            self.rows[model.repo_id]["rubrics"].get(self.rubric, {}).get("score"),
            self.rows[model.repo_id]["rubrics"].get("mof", {}).get("classification"),
        )
        svg = self.env.get_template("badge.svg").render(badge=badge)
        self.files[f"badges/{model.path}.svg"] = svg.encode("utf-8")
        self._json(f"badges/{model.path}.json", badge.endpoint())

    def _lineage(self) -> None:
        drawn = self.families
        in_family = {node.id for family in drawn for node in family.nodes}
        self._page(
            "lineage.html",
            "lineage.html",
            title="Lineage",
            families=drawn,
            alone=[m for m in self.models if m.repo_id not in in_family],
            rows=self.rows,
        )

    def _compare(self) -> None:
        self._page(
            "compare.html",
            "compare.html",
            title="Compare",
            rows=[self.rows[m.repo_id] for m in self.models],
            dimensions=self.dimensions,
            score_rubrics=[(rid, self.catalog.title(rid)) for rid in self.graded_ids],
            max_compared=MAX_COMPARED,
        )

    def _rubric(self, rubric_id: str) -> None:
        rubric = self.catalog.rubrics[rubric_id]
        rows = [r for r in self.rows.values() if rubric_id in r["rubrics"]]
        self._page(
            f"rubrics/{rubric_id}.html",
            "rubric.html",
            title=rubric.title,
            r=rubric,
            tally=leaderboard.tally(rows, rubric_id, rubric.dimension_ids),
            graded=len(rows),
        )

    def _api(self, ranked: list[tuple[int | None, dict]]) -> None:
        dim_ids = [dim for dim, _ in self.dimensions]
        self._json(
            "api/models.json",
            {
                "api_version": SITE_API_VERSION,
                "tool": f"openscore@{__version__}",
                "rubric": self.rubric,
                "dimensions": [{"id": dim, "title": title} for dim, title in self.dimensions],
                "models": [{"rank": rank, **row} for rank, row in ranked],
            },
        )
        self.files["api/models.csv"] = leaderboard.models_csv(
            [row for _, row in ranked], self.rubric, dim_ids, self.graded_ids
        ).encode("utf-8")
        for model in self.models:
            row = self.rows[model.repo_id]
            self._json(
                row["links"]["api"],
                {
                    "api_version": SITE_API_VERSION,
                    "model": row,
                    "history": self.histories[model.repo_id],
                    "report": model.latest.model_dump(mode="json"),
                },
            )

