"""The site's parts one by one: URL and path safety, the report store, ranking, plot, lineage, badges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openscore.errors import InvalidReport
from openscore.report import RubricResult
from openscore.rubrics.loader import load_rubric
from openscore.site.badge import colour, model_badge, text_width
from openscore.site.catalog import RubricCatalog
from openscore.site.leaderboard import models_csv, ranked, tally
from openscore.site.lineage import families
from openscore.site.plot import similarity_plot
from openscore.site.rows import declared_bases
from openscore.site.safety import anchor, path_segment, safe_href
from openscore.site.store import AuditedModel, load_reports
from test_site_reports import fixture_reports, make_report, write_fixture_reports


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "/etc/passwd",
        "relative/page.html",
        "http:evil.example",
        "https://evil.example\\@good.example/",
        "file:///etc/passwd",
        "",
        None,
    ],
)
def test_only_absolute_http_urls_become_links(url):
    assert safe_href(url) is None


@pytest.mark.parametrize("url", ["https://huggingface.co/org/m/blob/abc/README.md#L3", "http://arxiv.org/abs/2402.00838"])
def test_http_urls_stay_links(url):
    assert safe_href(url) == url


def test_path_segments_and_anchors_cannot_escape():
    assert path_segment("..") == "_" and path_segment("../../etc") == "etc" and path_segment("") == "_"
    assert path_segment("a b<c>") == "a-b-c" and len(path_segment("x" * 500)) <= 96
    assert anchor("osai-v3", 'x"><script>') == "osai-v3--x-script"


def _write(root: Path, name: str, data) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"schema_version": "2.0"}', "report schema 2.0 is not readable"),
        ('{"schema_version": "1.0", "tool": "x"}', "invalid report at source: Field required"),
    ],
)
def test_a_bad_report_is_one_clear_line(tmp_path, content, message):
    _write(tmp_path, "org/m/abc.json", content)
    with pytest.raises(InvalidReport, match=message) as caught:
        load_reports(tmp_path)
    assert str(caught.value).startswith(str(tmp_path / "org/m/abc.json")) and "\n" not in str(caught.value)


def test_the_same_commit_twice_and_colliding_page_names_are_refused(tmp_path):
    report = fixture_reports()[0]
    _write(tmp_path / "a", "allenai/OLMo-7B/one.json", report.to_json())
    _write(tmp_path / "a", "elsewhere/copy.json", report.to_json())
    with pytest.raises(InvalidReport, match="reported twice"):
        load_reports(tmp_path / "a")
    upper = report.model_copy(deep=True)
    upper.source.repo_id = "ALLENAI/olmo-7b"
    _write(tmp_path / "b", "x/one.json", report.to_json())
    _write(tmp_path / "b", "y/two.json", upper.to_json())
    with pytest.raises(InvalidReport, match="would share the page"):
        load_reports(tmp_path / "b")


def test_history_is_ordered_by_commit_date_then_file_name_and_hidden_files_are_skipped(tmp_path):
    write_fixture_reports(tmp_path)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache/junk.json").write_text("not a report")
    models = {m.repo_id: m for m in load_reports(tmp_path)}
    vicuna = models["lmsys/vicuna-7b-v1.5"]  # no dates: file name order
    assert [r.source.sha for r in vicuna.history] == sorted(r.source.sha for r in vicuna.history)
    olmo = models["allenai/OLMo-7B"]
    assert olmo.latest.source.committed_at == "2024-07-16T08:30:00Z"
    assert olmo.path == "allenai/OLMo-7B"


def test_a_missing_reports_folder_is_an_error(tmp_path):
    with pytest.raises(InvalidReport, match="no such reports folder"):
        load_reports(tmp_path / "absent")


def _rows(tmp_path):
    from openscore.site.rows import model_row

    catalog = RubricCatalog.shipped()
    return [model_row(m, catalog) for m in load_reports(write_fixture_reports(tmp_path))]


def test_ranking_puts_unscored_models_last_and_ties_share_a_rank(tmp_path):
    rows = _rows(tmp_path)
    rows[0]["rubrics"]["osai-v3"]["score"] = None
    rows[1]["rubrics"]["osai-v3"]["score"] = rows[2]["rubrics"]["osai-v3"]["score"] = 0.5
    order = ranked(rows, "osai-v3")
    assert order[-1] == (None, rows[0])
    tied = [rank for rank, row in order if row["rubrics"]["osai-v3"]["score"] == 0.5]
    assert len(tied) == 2 and tied[0] == tied[1]
    assert [row["repo_id"] for rank, row in order if rank == tied[0]] == sorted([rows[1]["repo_id"], rows[2]["repo_id"]])


def test_tally_counts_effective_grades(tmp_path):
    rows = _rows(tmp_path)
    counts = tally(rows, "osai-v3", ["licenses"])["licenses"]
    # Yi's closed licence grade was overridden to partial by a reviewer
    assert counts == {"open": 4, "partial": 1, "closed": 2, "n/a": 0, "unknown": 0}
    assert models_csv([], "osai-v3", ["licenses"], ["osai-v3"]) == "\n"


def test_primary_score_follows_the_rubric_default_profile_then_falls_back():
    catalog = RubricCatalog({"osai-v3": load_rubric("osai-v3")})
    result = RubricResult(rubric="osai-v3", version="3", grades=[], scores={"strict": 0.9, "osai-compatible": 0.4})
    assert catalog.primary_score(result) == 0.4
    unknown = RubricResult(rubric="homegrown", version="1", grades=[], scores={"zeta": 0.2, "alpha": 0.7})
    assert catalog.primary_profile(unknown) == "alpha" and catalog.title("homegrown") == "homegrown"
    assert catalog.primary_score(RubricResult(rubric="x", version="1", grades=[], scores={})) is None


def test_similarity_plot_breaks_the_line_at_missing_layers_and_ignores_nan():
    plot = similarity_plot([0.99, 0.98, None, float("nan"), 0.5, -0.2])
    assert len(plot.lines) == 2 and [layer for layer, _ in plot.gaps] == [2, 3]
    ys = {p.layer: p.y for p in plot.points}
    assert ys[0] < ys[4] < ys[5]  # higher similarity is drawn higher
    assert plot.plot_top <= min(ys.values()) and max(ys.values()) <= plot.plot_bottom
    assert similarity_plot([]) is None and similarity_plot([None, None]) is None


def _model(repo: str, **provenance) -> AuditedModel:
    defaults = dict(osai_v3="c" * 12, osai_v1="c" * 14, mof="c" * 17, mof_class="Unclassified", osaid="ccc",
                    licence="apache-2.0", declared="apache-2.0", verdict="derived")
    report = make_report(repo, "0" * 40, **{**defaults, **provenance})
    org, name = repo.split("/")
    return AuditedModel(repo, org, name, (report,))


def test_lineage_draws_families_marks_unsupported_claims_and_survives_cycles():
    models = [
        _model("a/base", verdict="independent"),
        _model("b/tune", base="a/base@1", declared_base="a/base"),
        _model("c/claims", verdict="independent", declared_base="a/base"),
        _model("x/loop1", base="x/loop2@1"),
        _model("x/loop2", base="x/loop1@1"),
        _model("solo/one", verdict="independent"),
    ]
    drawn = families(models)
    assert [[n.id for n in f.nodes] for f in drawn][0] == ["a/base", "b/tune", "c/claims"]
    edges = {(e.child, e.parent): e for f in drawn for e in f.edges}
    assert edges[("b/tune", "a/base")].kind == "both" and not edges[("b/tune", "a/base")].unsupported
    assert edges[("c/claims", "a/base")].kind == "declared" and edges[("c/claims", "a/base")].unsupported
    loop = next(f for f in drawn if f.nodes[0].id.startswith("x/"))
    assert len(loop.edges) == 2 and len({n.layer for n in loop.nodes}) == 2
    assert all(n.id != "solo/one" for f in drawn for n in f.nodes)
    family = drawn[0]
    for node in family.nodes:
        assert 0 <= node.x and node.x + node.width <= family.width and node.y + 34 <= family.height


def test_badge_colour_width_and_message():
    assert colour(None) == "#9f9f9f" and colour(0.9) == "#4c1" and colour(0.1) == "#e05d44"
    assert text_width("WWW") > text_width("iii")
    badge = model_badge("org/m", "OSAI", 0.5833, "Class II - Open Tooling Model")
    assert badge.message == "58% \u00b7 MOF II" and badge.width == pytest.approx(badge.label_width + badge.message_width)
    assert model_badge("org/m", "OSAI", None, "Class <script>").message == "unknown"
    assert badge.endpoint() == {"schemaVersion": 1, "label": "openness", "message": "58% \u00b7 MOF II", "color": "a4a61d"}


def test_without_weights_the_cards_base_model_is_the_declared_lineage():
    card_only = _model("d/chat")
    card_only.latest.provenance = None
    card_only.latest.card = {"front_matter": {"base_model": ["a/base", 42, {"x": 1}, "  ", "e/other"]}}
    assert declared_bases(card_only.latest) == ["a/base", "e/other"]
    edges = {(e.child, e.parent): e for f in families([_model("a/base", verdict="independent"), card_only]) for e in f.edges}
    assert set(edges) == {("d/chat", "a/base"), ("d/chat", "e/other")}
    assert edges[("d/chat", "a/base")].kind == "declared" and not edges[("d/chat", "a/base")].unsupported
    card_only.latest.card = {"front_matter": "not a mapping"}
    assert declared_bases(card_only.latest) == []
