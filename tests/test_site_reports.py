"""A realistic store of audit reports for the site tests, and checks that it is what it claims.

Seven models shaped after the real cases the site must show well: an open-science model with two
audited commits, a gated community-licence base, a fine-tune of it, a licence-laundering derivative
that extended the vocabulary, an architecture clone with a reviewer's override, a renamed-copy shell,
and a hostile card whose every text field tries to run script or smuggle a `javascript:` link.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from openscore.atomic import write_text
from openscore.report import (
    AuditReport,
    Evidence,
    Finding,
    Grade,
    LicenceFacts,
    LicenceResult,
    Override,
    ProvenanceResult,
    RubricResult,
    SourceInfo,
)
from openscore.site.store import load_reports

OSAI_V3 = (
    "datasources_basemodel datasources_endmodel weights_basemodel weights_endmodel trainingcode code "
    "hardware_architecture preprint paper modelcard datasheet licenses"
).split()
OSAI_V1 = "opencode llmdata llmweights rldata rlweights license code architecture preprint paper modelcard datasheet package api".split()
MOF = (
    "model-architecture model-parameters-final model-card data-card technical-report evaluation-results "
    "sample-model-outputs training-code inference-code evaluation-code evaluation-data supporting-libraries "
    "datasets data-preprocessing-code model-parameters-intermediate research-paper model-metadata"
).split()
OSAID = ["data-information", "code", "parameters"]
GRADE_CODES = {"o": "open", "p": "partial", "c": "closed", "n": "n/a", "u": "unknown"}
POINTS = {"open": 1.0, "partial": 0.5, "closed": 0.0}

HOSTILE = "<script>window.__pwned = 1; alert('xss')</script>"  # a run leaves a mark even if alerts are blocked
HOSTILE_URL = "javascript:alert(document.domain)"

LICENCES = {
    "apache-2.0": LicenceFacts(id="Apache-2.0", name="Apache License 2.0", osi_approved=True, commercial_use=True, open=True),
    "llama2": LicenceFacts(
        id="llama2",
        name="Llama 2 Community License",
        osi_approved=False,
        commercial_use=True,
        user_cap=700_000_000,
        use_policy=True,
        use_policy_passes_down=True,
        attribution="Llama 2 is licensed under the LLAMA 2 Community License",
        output_restrictions=True,
    ),
    "yi": LicenceFacts(id="yi-license", name="Yi Series Models Community License", osi_approved=False, commercial_use=True),
    "hostile": LicenceFacts(id="=cmd|' /C calc'!A0", name=f"Totally Open {HOSTILE}", osi_approved=None),
}


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _evidence(repo: str, sha: str, rule: str, snippet: str, url: str | None = None, line: int = 1) -> Evidence:
    return Evidence(
        source=f"{repo}@{sha}",
        file="README.md",
        locator=f"L{line}",
        snippet=snippet,
        rule=rule,
        extractor="card-sections@0.1.0",
        url=url if url is not None else f"https://huggingface.co/{repo}/blob/{sha}/README.md#L{line}",
    )


def _rubric(rubric: str, dims: list[str], codes: str, repo: str, sha: str, hostile: bool, overrides: dict) -> RubricResult:
    grades = []
    for line, (dim, code) in enumerate(zip(dims, codes, strict=True), start=10):
        value = GRADE_CODES[code]
        reason = f"{dim.replace('_', ' ').replace('-', ' ')} is {value} according to the card"
        snippet = f"## {dim}\nSee the training section."
        url = None
        if hostile:
            reason, snippet, url = f"{reason} {HOSTILE}", f"{HOSTILE}<a href=\"{HOSTILE_URL}\">x</a>", HOSTILE_URL
        evidence = [] if value in ("closed", "unknown", "n/a") else [_evidence(repo, sha, f"{rubric}/{dim}", snippet, url, line)]
        searched = (
            [f"README.md: sections naming {dim}", "Hub API: datasets and tags", "LICENSE*: licence text"]
            if value in ("closed", "unknown")
            else []
        )
        override = overrides.get((rubric, dim))
        grades.append(Grade(dimension=dim, grade=value, reason=reason, evidence=evidence, searched=searched, override=override))
    graded = [POINTS[g.grade] for g in grades if g.grade in POINTS]
    scores = {
        "osai-compatible": round(sum(POINTS.get(g.grade, 0.0) for g in grades) / len(grades), 6),
        "strict": round(sum(graded) / len(graded), 6) if graded else None,
    }
    return RubricResult(rubric=rubric, version="1.0" if rubric != "osai-v3" else "3.0", grades=grades, scores=scores)


def make_report(
    repo: str,
    sha: str,
    *,
    osai_v3: str,
    osai_v1: str,
    mof: str,
    mof_class: str,
    osaid: str,
    licence: str,
    declared: str | None,
    verdict: str,
    base: str | None = None,
    declared_base: str | None = None,
    similarity: list[float | None] | None = None,
    transformations: list[str] | None = None,
    findings: list[Finding] | None = None,
    overrides: dict | None = None,
    committed_at: str | None = None,
    hostile: bool = False,
) -> AuditReport:
    overrides = overrides or {}
    rubrics = {
        rid: _rubric(rid, dims, codes, repo, sha, hostile, overrides)
        for rid, dims, codes in (("osai-v3", OSAI_V3, osai_v3), ("osai-v1", OSAI_V1, osai_v1), ("mof", MOF, mof), ("osaid", OSAID, osaid))
    }
    rubrics["mof"].classification = mof_class
    rubrics["mof"].unmet = [g.dimension for g in rubrics["mof"].grades if g.grade not in ("open", "n/a")]
    rubrics["mof"].warnings = ["model-parameters-final: Apache-2.0 is a code licence; weights are data"] if licence == "apache-2.0" else []
    passed = all(g.grade == "open" for g in rubrics["osaid"].grades)
    rubrics["osaid"].classification = "pass" if passed else "fail"
    rubrics["osaid"].unmet = [f"{g.dimension}: {g.reason}" for g in rubrics["osaid"].grades if g.grade != "open"]
    facts = LICENCES[licence]
    licence_ev = _evidence(repo, sha, "licence/declared", f"license: {declared}", HOSTILE_URL if hostile else None, 3)
    return AuditReport(
        tool="openscore@0.1.0",
        source=SourceInfo(kind="hub", repo_id=repo, revision="main", sha=sha, location=f"https://huggingface.co/{repo}", committed_at=committed_at),
        inventory={
            "files": [
                {"path": "README.md", "size": 4096, "sha256": _sha(repo + "readme"), "lfs": False, "present": True},
                {"path": "model.safetensors", "size": 13_476_839_424, "sha256": _sha(repo + "weights"), "lfs": True, "present": False},
            ],
            "gated": "manual" if licence == "llama2" and verdict == "independent" else False,
        },
        provenance=ProvenanceResult(
            verdict=verdict,
            base=base,
            confidence=0.97 if base else 0.6,
            declared_base=declared_base,
            declared_relation="finetune" if declared_base else None,
            transformations=transformations or [],
            layer_similarity=similarity or [],
            evidence=[_evidence(repo, sha, "provenance/weights", "per-layer cosine of attention blocks", None, 1)],
        ),
        licence=LicenceResult(
            declared=declared,
            resolved=facts,
            files=[{"file": "LICENSE", "id": facts.id, "confidence": 0.98}],
            evidence=[licence_ev],
        ),
        card={"front_matter": {"license": declared, "model_name": f"{repo} {HOSTILE}" if hostile else repo}},
        rubrics=rubrics,
        findings=findings or [],
    )


def fixture_reports() -> list[AuditReport]:
    """The store's reports: seven models, nine audited commits."""
    llama = "meta-llama/Llama-2-7b-hf"
    llama_sha = _sha("llama2")
    sims_derived = [0.999, 0.998, 0.998, 0.997, 0.996, 0.995, 0.995, 0.994]
    laundering = Finding(
        id="licence-laundering",
        severity="error",
        message="declares Apache-2.0 but derives from meta-llama/Llama-2-7b-hf under the Llama 2 Community License",
        evidence=[_evidence("hfl/chinese-llama-2-7b", _sha("hfl"), "finding/licence-laundering", "license: apache-2.0")],
    )
    return [
        make_report(
            "allenai/OLMo-7B", _sha("olmo-1"), osai_v3="ooooopcpoppo", osai_v1="ooonnoocpcppcc", mof="ooooooccoccoooooc",
            mof_class="Class II", osaid="ooo", licence="apache-2.0", declared="apache-2.0", verdict="independent",
            committed_at="2024-02-01T10:00:00Z",
        ),
        make_report(
            "allenai/OLMo-7B", _sha("olmo-2"), osai_v3="oooooooooopo", osai_v1="ooonnooooooopc", mof="ooooooooooooooooo",
            mof_class="Class I", osaid="ooo", licence="apache-2.0", declared="apache-2.0", verdict="independent",
            committed_at="2024-07-16T08:30:00Z",
        ),
        make_report(
            llama, llama_sha, osai_v3="ccppcpcpoppc", osai_v1="ccpccpppopcccp", mof="coopoopccoccccccc",
            mof_class="Unclassified", osaid="cco", licence="llama2", declared="llama2", verdict="independent",
        ),
        make_report(
            "lmsys/vicuna-7b-v1.5", _sha("vicuna-1"), osai_v3="cpppcccpcpcc", osai_v1="ccpcppccocpccp", mof="copccoccccccccccc",
            mof_class="Unclassified", osaid="cco", licence="llama2", declared="llama2", verdict="derived",
            base=f"{llama}@{llama_sha}", declared_base=llama, similarity=sims_derived,
        ),
        make_report(
            "lmsys/vicuna-7b-v1.5", _sha("vicuna-2"), osai_v3="cpppccppcpcc", osai_v1="ccpcppccocpccp", mof="copccoccccccccccc",
            mof_class="Unclassified", osaid="cco", licence="llama2", declared="llama2", verdict="derived",
            base=f"{llama}@{llama_sha}", declared_base=llama, similarity=sims_derived,
        ),
        make_report(
            "hfl/chinese-llama-2-7b", _sha("hfl"), osai_v3="cpppocpcccpo", osai_v1="opccpooccccccc", mof="oopcccocccccccccc",
            mof_class="Unclassified", osaid="coo", licence="llama2", declared="apache-2.0", verdict="partially-derived",
            base=f"{llama}@{llama_sha}", declared_base=llama, similarity=[0.91, 0.93, None, 0.95, 0.96, 0.97, 0.97, 0.98],
            transformations=["vocab +23,954 rows (Chinese tokens)", "embeddings re-initialised for new rows"], findings=[laundering],
        ),
        make_report(
            "01-ai/Yi-6B", _sha("yi"), osai_v3="ccoocccpcpcc", osai_v1="ccoccccpopcccp", mof="coocccccccccccccc",
            mof_class="Unclassified", osaid="cco", licence="yi", declared="other", verdict="architecture-clone",
            base=None, similarity=[0.01, 0.0, 0.02, 0.01, 0.0, 0.01, 0.0, 0.01],
            transformations=["renamed input_layernorm -> ln1, post_attention_layernorm -> ln2"],
            findings=[Finding(id="base-mismatch", severity="warning", message="LLaMA layout with renamed norms; the card names no base")],
            overrides={
                ("osai-v3", "licenses"): Override(
                    grade="partial", reason="Licence granted free commercial use after registration in Nov 2023",
                    reviewer="reviewer@example.org", evidence=["https://huggingface.co/01-ai/Yi-6B/blob/main/LICENSE"],
                    file="overrides/01-ai__Yi-6B.yaml",
                )
            },
        ),
        make_report(
            "sample/tiny-llama-shell", _sha("shell"), osai_v3="ccoocccccpco", osai_v1="ccoccocccpcccc", mof="coocccccccccccccc",
            mof_class="Unclassified", osaid="ccc", licence="apache-2.0", declared="apache-2.0", verdict="renamed-copy",
            base="sample/tiny-llama@" + _sha("tiny"), declared_base=None, similarity=[1.0, 1.0, 1.0, 1.0],
            transformations=["renamed 2 tensor kinds"],
            findings=[Finding(id="undeclared-base", severity="error", message="identical weights to sample/tiny-llama; card claims training from scratch")],
        ),
        make_report(
            "evil/hostile-card", _sha("evil"), osai_v3="oooooooooooo", osai_v1="oooooooooooooo", mof="ooooooooooooooooo",
            mof_class=f"Class I {HOSTILE}", osaid="ooo", licence="hostile", declared=f"mit {HOSTILE}", verdict="derived",
            base=f"{HOSTILE}/x@0", declared_base="\"><img src=x onerror=\"window.__pwned = 2\">", similarity=[0.5, None, 0.7],
            transformations=[HOSTILE], hostile=True,
            findings=[Finding(id="xss<b>", severity="info", message=f"</script>{HOSTILE}", evidence=[
                _evidence("evil/hostile-card", _sha("evil"), "x", HOSTILE, HOSTILE_URL)])],
        ),
    ]


def write_fixture_reports(root: Path) -> Path:
    """Write the fixture reports as `root/<org>/<name>/<sha>.json` (the audit layout); returns root."""
    for report in fixture_reports():
        write_text(root / report.source.repo_id / f"{report.source.sha}.json", report.to_json())
    return root


def test_fixture_reports_round_trip_through_the_store(tmp_path):
    models = load_reports(write_fixture_reports(tmp_path))
    assert [m.repo_id for m in models] == sorted({r.source.repo_id for r in fixture_reports()})
    olmo = next(m for m in models if m.repo_id == "allenai/OLMo-7B")
    assert [r.source.committed_at for r in olmo.history] == ["2024-02-01T10:00:00Z", "2024-07-16T08:30:00Z"]
    assert olmo.latest.rubrics["mof"].classification == "Class I"
