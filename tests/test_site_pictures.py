"""The site's charts, the model page's words and the leaderboard's new columns, checked without a browser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from openscore.report import LicenceFacts, ProvenanceResult
from openscore.site import build_site
from openscore.site.charts import dimension_bars, distribution, layer_map, over_time, profile
from openscore.site.explain import base_check, detail_text, layer_map as layer_map_of, licence_words, provenance_details
from openscore.site.lineage import families
from openscore.site.safety import css_string
from openscore.site.store import load_reports
from test_site_reports import LICENCES, fixture_reports, make_report, write_fixture_reports


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pictures")
    build_site(write_fixture_reports(root / "reports"), root / "site")
    return root / "site"


def test_distribution_counts_tenths_and_says_how_many_have_no_score():
    chart = distribution([0.05, 0.95, 1.0, 0.5, None], "OSAI")
    assert [row[1] for row in chart.table[1:]] == ["1", "0", "0", "0", "0", "1", "0", "0", "0", "2", "1"]
    assert chart.table[-1] == ["no score", "1"]
    assert chart.bars[9].height > chart.bars[0].height > chart.bars[1].height == 0
    assert "1 models have no score" in chart.summary


def test_over_time_draws_dated_models_in_date_order_and_counts_the_rest():
    rows = [
        {"repo_id": "b/late", "committed_at": "2025-06-01T00:00:00Z", "rubrics": {"r": {"score": 1.0}}, "links": {"page": "b.html"}},
        {"repo_id": "a/early", "committed_at": "2023-01-01", "rubrics": {"r": {"score": 0.0}}, "links": {"page": "a.html"}},
        {"repo_id": "c/undated", "committed_at": None, "rubrics": {"r": {"score": 0.5}}, "links": {"page": "c.html"}},
        {"repo_id": "d/bad-date", "committed_at": "yesterday", "rubrics": {"r": {"score": 0.5}}, "links": {"page": "d.html"}},
    ]
    chart = over_time(rows, "r", "R")
    assert [p["label"] for p in chart.points] == ["a/early: 0%, 2023-01-01", "b/late: 100%, 2025-06-01"]
    assert chart.points[0]["x"] < chart.points[1]["x"] and chart.points[0]["y"] > chart.points[1]["y"]
    assert [label for label, _ in chart.x_ticks] == ["2023", "2024", "2025"]
    assert "2 models without a commit date or score" in chart.summary


def test_dimension_bars_stack_to_the_full_width_and_keep_unknown_apart():
    tally = {"a": {"open": 1, "partial": 1, "closed": 1, "unknown": 1, "n/a": 0}, "b": {"open": 0, "unknown": 2}}
    chart = dimension_bars(tally, [("a", "Alpha"), ("b", "Beta")])
    alpha = [b for b in chart.bars if b.label.startswith("Alpha")]
    assert [b.css for b in alpha] == ["f-open", "f-partial", "f-closed", "f-unknown"]
    assert round(sum(b.width for b in alpha), 1) == 360.0
    assert [b.css for b in chart.bars if b.label.startswith("Beta")] == ["f-unknown"]
    assert chart.table[2] == ["Beta", "0", "0", "0", "2", "0"]


def test_a_profile_has_one_bar_per_dimension_and_unknown_is_not_closed():
    chart = profile([("Data", "open", "r--data"), ("Code", "closed", "r--code"), ("Paper", "unknown", "r--paper")])
    assert [b.css for b in chart.bars] == ["f-open", "f-closed", "f-unknown"]
    assert chart.bars[1].width < chart.bars[2].width == chart.bars[0].width
    assert [p["page"] for p in chart.points] == ["r--data", "r--code", "r--paper"]
    assert chart.summary == "Grades per dimension: 1 open, 1 closed, 1 unknown."


def test_the_layer_map_reads_string_keys_and_marks_unmatched_layers():
    mapping = layer_map_of({"layer_map": {"0": 0, "1": 1, "2": None, "3": 2, "x": 5, "4": True}})
    assert mapping == [0, 1, None, 2, None]
    chart = layer_map(mapping)
    assert [p["page"] for p in chart.points] == ["matched", "matched", "unmatched", "matched", "unmatched"]
    assert chart.summary == "5 layers: 2 match the base layer of the same index, 2 match none."
    assert layer_map([]) is None and layer_map_of({"layer_map": "nonsense"}) == []


def test_licence_terms_are_sentences_never_booleans():
    words = licence_words(LICENCES["llama2"])
    assert "commercial use is allowed" in words.permissions
    assert "above 700,000,000 monthly active users a separate licence is needed" in words.conditions
    assert "outputs may not be used to train other models" in words.limitations
    assert "not approved by the Open Source Initiative" in words.limitations
    unknown = licence_words(LicenceFacts(id="x", name="X", tier="unknown"))
    assert unknown.kind.startswith("Unrecognised") and "commercial use" in unknown.not_recorded
    for terms in (words.permissions, words.conditions, words.limitations, unknown.not_recorded):
        assert not any(re.search(r"\b(True|False|None)\b", t) for t in terms)


def test_provenance_details_are_words_not_json():
    details = provenance_details({
        "reason": "47 of 48 layers match", "bytes_read": 2_000_000, "bytes_total": 8_000_000, "sample": True,
        "matches": [{"id": "org/base@1", "verdict": "derived", "score": 0.98765, "confidence": 0.9}],
        "renames": [["ln1", "input_layernorm"]], "permuted": False, "layer_map": {"0": 0}, "adapter": {"rank": 8},
    })
    assert details["reason"] == "47 of 48 layers match"
    assert details["read"] == "2.0 MB of 8.0 MB read (25%), sampled"
    assert details["matches"] == [{"id": "org/base@1", "verdict": "derived", "score": "0.9877", "confidence": "0.9"}]
    assert details["other"] == [("adapter", "rank: 8"), ("permuted", "no"), ("renames", "ln1 → input_layernorm")]
    assert detail_text(None) == "none" and detail_text([]) == "none"


class _WithCheck(ProvenanceResult):
    """ProvenanceResult as branch i15-registry extends it: the registry's verdict on the declared base."""

    declared_base_check: dict | None = None


def _report(**provenance):
    report = make_report(
        "org/m", "a" * 40, osai_v3="o" * 12, osai_v1="o" * 14, mof="o" * 17, mof_class="Class I", osaid="ooo",
        licence="apache-2.0", declared="apache-2.0", verdict="derived",
    )
    if provenance:
        report.provenance = _WithCheck(**{"verdict": "derived", **provenance})
    return report


def test_declared_and_detected_bases_are_reconciled_in_one_sentence():
    assert base_check(_report(base="org/base@1", declared_base="org/base")).status == "agree"
    assert base_check(_report(base="org/base@1", declared_base="org/other")).status == "differs"
    assert base_check(_report(base="org/base@1")).status == "undeclared"
    check = base_check(_report(verdict="independent", declared_base="org/base"))
    assert check.status == "unsupported" and "independent" in check.sentence
    registry = base_check(_report(declared_base="org/base", declared_base_check={
        "status": "contradicted", "reason": "the weights match org/other, not org/base", "base": "org/base", "matched": "org/other"}))
    assert (registry.status, registry.sentence) == ("contradicted", "contradicted: the weights match org/other, not org/base")


def test_without_weights_the_cards_base_cannot_be_checked():
    report = _report()
    report.provenance = None
    report.card = {"front_matter": {"base_model": "org/base"}}
    check = base_check(report)
    assert (check.status, check.declared) == ("not-checkable", ["org/base"])


def test_css_strings_cannot_break_out():
    assert css_string("Base Model Data") == '"Base Model Data"'
    escaped = css_string('x"; } body { display: none } /*\n')
    assert '"' not in escaped[1:-1] and "}" not in escaped and "\n" not in escaped


def test_lineage_labels_say_relation_and_where_it_was_seen_and_fit_the_picture(tmp_path):
    models = load_reports(write_fixture_reports(tmp_path))
    llama = next(f for f in families(models) if f.name == "meta-llama/Llama-2-7b-hf")
    assert sorted(p["edge"].label for p in llama.paths) == ["derived · weights + card", "partially-derived · weights + card"]
    assert all(p["label_x"] + len(p["edge"].label) * 5.6 <= llama.width for p in llama.paths)
    assert min(n.layer for n in llama.nodes if n.id == llama.name) == 0  # the root is on top


def test_the_leaderboard_shows_commit_and_date_and_filters_by_family_and_licence_class(site):
    index = (site / "index.html").read_text("utf-8")
    olmo = fixture_reports()[1]
    assert f'<code>{olmo.source.sha[:7]}</code> · 2024-07-16</span>' in index
    assert '<option value="meta-llama/Llama-2-7b-hf">' in index and '<option value="open">' in index
    assert index.count('data-family="meta-llama/Llama-2-7b-hf"') == 3
    assert index.index("Method.") < index.index('class="legend"') < index.index('id="leaderboard"')
    labels = (site / "static/dimensions.css").read_text()
    assert 'td:nth-child(3) > :first-child::before { content: "Base Model Data"; }' in labels


def test_every_page_type_has_its_pictures_with_text_alternatives(site):
    charts = (site / "charts.html").read_text("utf-8")
    assert charts.count('<svg class="chart" role="img"') == 3 and charts.count("<desc ") == 3
    assert charts.count('<details class="chart-data">') == 3
    hfl = (site / "models/hfl/chinese-llama-2-7b.html").read_text("utf-8")
    assert 'id="chart-profile-t"' in hfl and "What would raise this score" in hfl
    assert "True" not in hfl.split('id="licence"')[1].split("</section>")[0]
    lineage = (site / "lineage.html").read_text("utf-8")
    assert "Family of meta-llama/Llama-2-7b-hf" in lineage and "comes from meta-llama/Llama-2-7b-hf (derived · weights + card)" in lineage


def test_the_site_package_reads_reports_without_the_audit_pipeline():
    code = "import sys, openscore.site; print(sorted(m for m in sys.modules if m in ('openscore.audit', 'openscore.provenance', 'torch')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
