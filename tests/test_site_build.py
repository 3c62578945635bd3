"""The built site as a whole: deterministic, CSP-clean, relative links only, valid API, inert hostile card."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from markupsafe import escape

from openscore.errors import InvalidReport, UsageError
from openscore.report import AuditReport
from openscore.rubrics.loader import list_rubrics, load_rubric
from openscore.site import build_site
from openscore.site.build import MARKER
from openscore.site.render import SCHEMA_FILE
from test_site_reports import HOSTILE, OSAI_V3, write_fixture_reports

CSP = "default-src 'self'"


class Page(HTMLParser):
    """Every tag with its attributes, plus the ids a fragment can point at."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.scripts_with_body: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_script = False

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts_with_body.append(data)

    def links(self) -> list[str]:
        return [value for _, attrs in self.tags for key, value in attrs.items() if key in ("href", "src", "action") and value]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return write_fixture_reports(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def site(reports, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "out"
    build_site(reports, out)
    return out


@pytest.fixture(scope="module")
def pages(site) -> dict[str, Page]:
    return {p.relative_to(site).as_posix(): Page(p.read_text("utf-8")) for p in sorted(site.rglob("*.html"))}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_builds_are_byte_identical_and_a_rebuild_in_place_too(reports, site, tmp_path):
    build_site(reports, tmp_path / "again")
    first, second = _tree(site), _tree(tmp_path / "again")
    assert sorted(first) == sorted(second)
    assert [path for path in first if first[path] != second[path]] == []
    build_site(reports, tmp_path / "again")  # replaces the earlier site through the staging swap
    assert _tree(tmp_path / "again") == first
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no staging or retired folders left


def test_a_build_in_another_process_with_another_hash_seed_is_byte_identical(reports, site, tmp_path):
    """Set and dict orders differ between processes; nothing in the output may depend on them."""
    script = "import sys; from pathlib import Path; from openscore.site import build_site; build_site(Path(sys.argv[1]), Path(sys.argv[2]))"
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    subprocess.run([sys.executable, "-c", script, str(reports), str(tmp_path / "other")], check=True, env=env)
    assert _tree(tmp_path / "other") == _tree(site)


def test_the_site_has_every_page_api_file_and_badge(site):
    files = set(_tree(site))
    for repo in ["allenai/OLMo-7B", "evil/hostile-card", "01-ai/Yi-6B", "sample/tiny-llama-shell"]:
        assert {f"models/{repo}.html", f"api/models/{repo}.json", f"badges/{repo}.svg", f"badges/{repo}.json"} <= files
    assert {"index.html", "lineage.html", "compare.html", "api/models.json", "api/models.csv", MARKER} <= files
    assert "schema/site-api.schema.json" in files and "static/leaderboard.js" in files
    assert {f"rubrics/{rid}.html" for rid in list_rubrics()} <= files


def test_every_page_carries_the_csp_and_nothing_it_would_block(pages):
    assert len(pages) >= 10
    for path, page in pages.items():
        csp = [a.get("content") for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert csp == [CSP], path
        assert page.scripts_with_body == [], f"{path}: inline script"
        for tag, attrs in page.tags:
            assert "style" not in attrs, f"{path}: style attribute on <{tag}>"
            assert tag != "style", f"{path}: <style> element"
            assert not [k for k in attrs if k.startswith("on")], f"{path}: event handler on <{tag}>"
            if tag == "script":
                assert re.fullmatch(r"(\.\./)*static/[a-z]+\.js", attrs.get("src") or ""), path


def test_links_are_relative_and_resolve_inside_the_site(site, pages):
    checked = 0
    for path, page in pages.items():
        for link in page.links():
            parts = urlsplit(link)
            if parts.scheme:
                assert parts.scheme in ("http", "https") and parts.netloc, f"{path}: {link}"
                continue
            assert not link.startswith("/"), f"{path}: absolute link {link}"
            if not parts.path:  # same-page fragment
                assert parts.fragment in page.ids, f"{path}: #{parts.fragment} missing"
                continue
            target = (site / path).parent / parts.path
            assert target.resolve().is_relative_to(site.resolve()), f"{path}: {link} leaves the site"
            assert target.is_file(), f"{path}: {link} is broken"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in pages[target.resolve().relative_to(site.resolve()).as_posix()].ids, link
            checked += 1
    assert checked > 200


def test_leaderboard_is_ranked_by_total_and_each_cell_links_to_its_evidence(site, pages):
    index = (site / "index.html").read_text("utf-8")
    order = re.findall(r'<th scope="row" class="model"><a href="models/([^"]+)\.html"', index)
    assert order[:2] == ["evil/hostile-card", "allenai/OLMo-7B"]
    assert order[-1] == "lmsys/vicuna-7b-v1.5"
    assert index.count('<a href="models/meta-llama/Llama-2-7b-hf.html">') == 3  # its row, and the base of two others
    cells = re.findall(r'href="models/allenai/OLMo-7B\.html#(osai-v3--[a-z_]+)"', index)
    assert cells == [f"osai-v3--{dim}" for dim in OSAI_V3]
    olmo = pages["models/allenai/OLMo-7B.html"]
    assert set(cells) <= olmo.ids


def test_model_page_shows_override_history_and_similarity_plot(site):
    yi = (site / "models/01-ai/Yi-6B.html").read_text("utf-8")
    assert "override: partial" in yi and "automatic grade <em>closed</em>, reviewed grade <em>partial</em>" in yi
    olmo = (site / "models/allenai/OLMo-7B.html").read_text("utf-8")
    assert "<code>osai-v3 hardware_architecture</code>: closed → open" in olmo
    assert "<code>mof classification</code>: Class II → Class I" in olmo
    assert olmo.index("2024-07-16T08:30:00Z") < olmo.index("2024-02-01T10:00:00Z")  # newest first
    hfl = (site / "models/hfl/chinese-llama-2-7b.html").read_text("utf-8")
    assert hfl.count("<polyline") == 2  # layer 2 was not compared: the line breaks there
    assert "layer 2: not compared" in hfl
    llama = (site / "models/meta-llama/Llama-2-7b-hf.html").read_text("utf-8")
    assert "What was searched" in llama and "Gated on the Hub: manual." in llama


def test_rubric_pages_are_generated_from_the_rubric_data(site):
    for rubric_id in list_rubrics():
        rubric = load_rubric(rubric_id)
        page = html.unescape((site / f"rubrics/{rubric_id}.html").read_text("utf-8"))
        for dim in rubric.dimensions:
            assert dim.title in page and " ".join(dim.criteria.open.split()) in " ".join(page.split())


def test_json_api_validates_against_the_published_schema(site):
    schema = json.loads(SCHEMA_FILE.read_text())
    assert json.loads((site / "schema/site-api.schema.json").read_text()) == schema
    validator = jsonschema.Draft202012Validator(schema)
    index = json.loads((site / "api/models.json").read_text())
    validator.validate(index)
    assert [m["rank"] for m in index["models"]] == list(range(1, 8))
    for entry in index["models"]:
        document = json.loads((site / entry["links"]["api"]).read_text())
        validator.validate(document)
        AuditReport.model_validate(document["report"])
        assert document["model"] == {k: v for k, v in entry.items() if k != "rank"}
    broken = dict(index, models=[dict(index["models"][0], rank="first")])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_csv_has_the_osai_columns_first_and_defuses_formulas(site):
    rows = list(csv.DictReader(io.StringIO((site / "api/models.csv").read_text())))
    assert list(rows[0])[:3] == ["Model Name", "URL", "Total Score"]
    assert [r["Model Name"] for r in rows][:2] == ["evil/hostile-card", "allenai/OLMo-7B"]
    assert rows[1]["datasheet"] == "0.5" and rows[1]["paper"] == "1" and rows[1]["MOF class"] == "Class I"
    assert rows[0]["licence"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it as text, never runs it


def test_hostile_card_is_inert_in_every_file(site, pages):
    for path, data in _tree(site).items():
        text = data.decode("utf-8")
        if path.endswith((".html", ".svg")):
            assert "<script>window" not in text and "<img src=x" not in text, path
            assert not re.search(r"(?i)(href|src|action)\s*=\s*[\"']?\s*javascript:", text), path
    hostile = (site / "models/evil/hostile-card.html").read_text("utf-8")
    assert str(escape(HOSTILE)) in hostile  # shown as text
    assert hostile.count('title="link not shown: not an http(s) URL"') >= 12  # each javascript: URL left unlinked
    scripts = [a.get("src") for p in pages.values() for tag, a in p.tags if tag == "script"]
    assert set(scripts) <= {"static/leaderboard.js", "static/compare.js", "../static/compare.js"}


def test_refuses_to_replace_a_folder_that_is_not_a_site(reports, tmp_path):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(UsageError, match="not an openscore site"):
        build_site(reports, precious)
    assert [p.name for p in precious.iterdir()] == ["thesis.tex"]


def test_a_failed_build_leaves_the_previous_site_untouched(reports, site, tmp_path):
    out = tmp_path / "out"
    build_site(reports, out)
    before = _tree(out)
    bad = tmp_path / "bad"
    write_fixture_reports(bad)
    (bad / "allenai/OLMo-7B/broken.json").write_text('{"schema_version": "1.0", "tool": 3}')
    with pytest.raises(InvalidReport, match=r"broken\.json: invalid report at ") as caught:
        build_site(bad, out)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "out"]


def test_an_empty_reports_folder_builds_a_site_that_says_so(tmp_path):
    (tmp_path / "reports").mkdir()
    built = build_site(tmp_path / "reports", tmp_path / "out")
    assert built.models == 0
    assert "No audit reports yet" in (tmp_path / "out/index.html").read_text()
    assert json.loads((tmp_path / "out/api/models.json").read_text())["models"] == []
