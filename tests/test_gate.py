"""The gate's library: policy loading (errors at their line), every rule passing and failing, waivers.

Reports are built here from the AuditReport schema with facts chosen per case, so each rule is driven
both ways; test_gate_cli.py drives the same rules end to end through audits of real data.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from openscore.errors import ConfigError, InvalidReport, UsageError
from openscore.gate import load_policy, load_report, run_gate
from openscore.report import (
    AuditReport,
    Finding,
    Grade,
    LicenceFacts,
    LicenceResult,
    Override,
    ProvenanceResult,
    RubricResult,
    SourceInfo,
)

TODAY = dt.date(2026, 11, 23)

APACHE = LicenceFacts(id="apache-2.0", name="Apache License 2.0", osi_approved=True, commercial_use=True, open=True)
LLAMA2 = LicenceFacts(id="llama2", name="Llama 2 Community License", commercial_use=True, user_cap=700_000_000,
                      use_policy=True, open=False)
CC_BY_NC = LicenceFacts(id="cc-by-nc-4.0", name="CC BY-NC 4.0", commercial_use=False, open=False)
UNKNOWN = LicenceFacts(id="unknown", name="unrecognised licence")


def make_report(
    repo_id: str = "acme/model",
    sha: str = "a" * 40,
    *,
    revision: str | None = "main",
    licence: LicenceFacts = APACHE,
    declared: str | None = "apache-2.0",
    grades: dict[str, str] | None = None,
    override: dict[str, str] | None = None,
    scores: dict[str, float | None] | None = None,
    mof_class: str = "Class II",
    osaid: str = "pass",
    provenance: ProvenanceResult | None | str = "default",
    findings: list[tuple[str, str]] = (),
    files: tuple[str, ...] = ("config.json", "model.safetensors", "README.md"),
) -> AuditReport:
    """A report with sensible facts; every argument changes one fact a rule reads."""
    grades = grades or {"modelcard": "open", "licenses": "open", "trainingcode": "partial"}
    override = override or {}

    def grade(dim: str, value: str) -> Grade:
        ov = None
        if dim in override:
            ov = Override(grade=override[dim], reason="reviewed", reviewer="qa", file="overrides/x.yaml")
        return Grade(dimension=dim, grade=value, reason=f"{dim} graded {value}", override=ov)

    osai = RubricResult(rubric="osai-v3", version="3.0", grades=[grade(d, g) for d, g in grades.items()],
                        scores=scores if scores is not None else {"osai-compatible": 0.75, "strict": 0.6})
    mof = RubricResult(rubric="mof", version="1.0", grades=[], scores={"completeness": 0.8},
                       classification=mof_class, unmet=[] if mof_class == "Class I" else ["datasets"])
    osaid_result = RubricResult(rubric="osaid", version="1.0", grades=[], scores={"pass": None},
                                classification=osaid, unmet=[] if osaid == "pass" else ["data information"])
    if provenance == "default":
        provenance = ProvenanceResult(verdict="independent")
    return AuditReport(
        tool="openscore@0.1.0",
        source=SourceInfo(kind="hub", repo_id=repo_id, revision=revision, sha=sha, location="https://huggingface.co"),
        inventory={"files": [{"path": p, "size": 10, "sha256": None, "lfs": False, "present": True} for p in files]},
        provenance=provenance,
        licence=LicenceResult(declared=declared, resolved=licence),
        rubrics={"osai-v3": osai, "mof": mof, "osaid": osaid_result},
        findings=[Finding(id=fid, severity="error", message=msg) for fid, msg in findings],
    )


def write_policy(folder: Path, text: str, name: str = "openscore.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def save(folder: Path, report: AuditReport, name: str) -> str:
    path = folder / name
    path.write_text(report.to_json())
    return str(path)


def gate_one(tmp_path: Path, policy_text: str, report: AuditReport, today: dt.date = TODAY):
    """(model result, {rule: check}) for one report under one policy."""
    policy = load_policy(write_policy(tmp_path, policy_text))
    result = run_gate(policy, [save(tmp_path, report, "report.json")], today=today)
    model = result.models[0]
    return result, model, {c.rule: c for c in model.checks}


# --- policy loading ------------------------------------------------------------------------------


def test_policy_typo_is_reported_at_its_line_with_a_suggestion(tmp_path):
    path = write_policy(tmp_path, """
        version: 1
        models:
          - acme/model
        rubrics:
          osai-v3:
            profile: strict
            min_scor: 0.5
        """)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(err.value).endswith("openscore.yaml:7: unknown key 'min_scor' (did you mean 'min_score'?)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("licence:\n  allow: [mit]\n  forbid_laundry: true\n", ":3: unknown key 'forbid_laundry' (did you mean 'forbid_laundering'?)"),
        ("rubrics:\n  mof:\n    min_class: IV\n", ":3: rubrics.mof.min_class: Input should be 'III', 'II' or 'I'"),
        ("rubrics:\n  osai-v3:\n    min_score: 1.5\n", ":3: rubrics.osai-v3.min_score: Input should be less than or equal to 1"),
        ("rubrics:\n  osai-v3:\n    dimensions:\n      model-card: half\n", ":4: rubrics.osai-v3.dimensions.model-card: Input should be"),
        ("waivers:\n  - model: a/b\n    rules: [licence.deny]\n    expires: 2027-01-01\n", ":2: missing key 'waivers.0.reason'"),
        ("provenance:\n  forbid_verdicts: [renamed]\n", ":2: provenance.forbid_verdicts.0: Input should be"),
        ("models:\n  - source: a/b@v1\n    revision: v2\n", ":2: models.0: give the revision either"),
        ("licence:\n  deny: [mit]\nlicence:\n  deny: [gpl]\n", ":3: duplicate key 'licence'"),
        ("licence: [unclosed\n", ": invalid YAML"),
        ("version: 2\n", ":1: version: Input should be 1"),
        ("- a list\n", ":1: (top level): Input should be a valid dictionary"),
        ("rubrics:\n  osai-v4:\n    min_score: 0.5\n", ":2: unknown rubric 'osai-v4' (did you mean 'osai-v3'?)"),
        ("rubrics:\n  osai-v3:\n    dimensions:\n      modelcards: open\n", ":4: rubric 'osai-v3' has no dimension 'modelcards' (did you mean 'modelcard'?)"),
        ("rubrics:\n  osai-v3:\n    min_score: 0.5\n    profile: strct\n", ":4: rubric 'osai-v3' has no profile 'strct' (did you mean 'strict'?)"),
        ("rubrics:\n  osai-v3:\n    min_class: II\n", ":3: min_class applies to MOF rubrics"),
        ("rubrics:\n  mof:\n    min_score: 0.5\n", ":3: rubric 'mof' has no scores"),
        ("rubrics:\n  mof:\n    require_pass: true\n", ":3: require_pass applies to OSAID rubrics"),
        ("licence:\n  deny: [mit]\nwaivers:\n  - model: a/b\n    rules: [licence.deny, licence.dny]\n    reason: why not\n"
         "    expires: 2027-01-01\n", ":5: waiver rule 'licence.dny' matches no rule this policy sets (did you mean 'licence.deny'?)"),
    ],
)
def test_policy_errors_name_file_and_line(tmp_path, text, expected):
    path = write_policy(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert expected in str(err.value)
    assert str(err.value).startswith("openscore.yaml:") or str(err.value).startswith(str(path))


def test_example_policy_is_valid():
    example = Path(__file__).resolve().parents[1] / "examples" / "openscore.yaml"
    policy = load_policy(example).policy
    assert policy.models and policy.rubrics and policy.waivers
    assert policy.licence.forbid_laundering and policy.provenance.forbid_pickle


def test_no_models_anywhere_is_a_usage_error(tmp_path):
    policy = load_policy(write_policy(tmp_path, "licence:\n  forbid_unknown: true\n"))
    with pytest.raises(UsageError, match="no models to gate"):
        run_gate(policy, [], today=TODAY)


def test_a_json_that_is_not_a_report_is_a_usage_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"tool": 1}')
    with pytest.raises(InvalidReport, match=r"x\.json: report schema \? is not readable by this openscore \(reads 1\.0\)$"):
        load_report(bad)


# --- rubric rules ---------------------------------------------------------------------------------

RUBRIC_POLICY = """
rubrics:
  osai-v3:
    min_score: 0.7
    profile: osai-compatible
    max_unknown: 1
    dimensions:
      modelcard: open
      trainingcode: partial
  mof:
    min_class: II
  osaid:
    require_pass: true
"""


def test_rubric_rules_pass(tmp_path):
    _, model, checks = gate_one(tmp_path, RUBRIC_POLICY, make_report())
    assert model.status == "pass"
    assert sorted(checks) == [
        "rubric.mof.min-class", "rubric.osai-v3.dimension.modelcard", "rubric.osai-v3.dimension.trainingcode",
        "rubric.osai-v3.max-unknown", "rubric.osai-v3.min-score", "rubric.osaid.pass",
    ]
    assert all(c.status == "pass" for c in checks.values())


def test_rubric_rules_fail(tmp_path):
    report = make_report(
        grades={"modelcard": "partial", "trainingcode": "unknown", "datasheet": "unknown"},
        scores={"osai-compatible": 0.69, "strict": 0.9},
        mof_class="Class III",
        osaid="fail",
    )
    _, model, checks = gate_one(tmp_path, RUBRIC_POLICY, report)
    assert model.status == "fail"
    assert all(c.status == "fail" for c in checks.values()), {r: c.message for r, c in checks.items()}
    assert "0.690 (osai-compatible) < required 0.7" in checks["rubric.osai-v3.min-score"].message
    assert "Class III, required Class II" in checks["rubric.mof.min-class"].message
    assert "unmet: data information" in checks["rubric.osaid.pass"].message
    assert "2 osai-v3 dimension(s) unknown (datasheet, trainingcode)" in checks["rubric.osai-v3.max-unknown"].message
    # each check is located at the policy key that set it
    assert checks["rubric.osai-v3.min-score"].line == 3
    assert checks["rubric.osai-v3.dimension.trainingcode"].line == 8
    assert checks["rubric.osaid.pass"].line == 12


def test_unclassified_mof_fails_and_class_i_passes_class_iii(tmp_path):
    policy = "rubrics:\n  mof:\n    min_class: III\n"
    assert gate_one(tmp_path, policy, make_report(mof_class="Unclassified"))[1].status == "fail"
    assert gate_one(tmp_path, policy, make_report(mof_class="Class I"))[1].status == "pass"


def test_reviewed_override_grade_is_the_one_judged(tmp_path):
    policy = "rubrics:\n  osai-v3:\n    dimensions:\n      modelcard: open\n"
    report = make_report(grades={"modelcard": "partial"}, override={"modelcard": "open"})
    _, model, checks = gate_one(tmp_path, policy, report)
    assert model.status == "pass"
    assert "reviewed override" in checks["rubric.osai-v3.dimension.modelcard"].message


def test_na_dimension_satisfies_a_minimum_but_missing_dimension_does_not(tmp_path):
    policy = "rubrics:\n  osai-v3:\n    dimensions:\n      datasources_endmodel: partial\n"
    assert gate_one(tmp_path, policy, make_report(grades={"datasources_endmodel": "n/a"}))[1].status == "pass"
    _, model, checks = gate_one(tmp_path, policy, make_report(grades={"modelcard": "open"}))
    assert model.status == "fail"
    assert "no dimension 'datasources_endmodel'" in checks["rubric.osai-v3.dimension.datasources_endmodel"].message


def test_default_profile_and_ungraded_rubric(tmp_path):
    _, _, checks = gate_one(tmp_path, "rubrics:\n  osai-v3:\n    min_score: 0.1\n", make_report())
    assert "(osai-compatible) >= required 0.1" in checks["rubric.osai-v3.min-score"].message  # the rubric's default
    _, _, checks = gate_one(tmp_path, "rubrics:\n  osai-v1:\n    min_score: 0.1\n", make_report())
    assert checks["rubric.osai-v1.min-score"].status == "fail"
    assert "rubric 'osai-v1' was not graded in this report (graded: mof, osai-v3, osaid)" in checks["rubric.osai-v1.min-score"].message
    _, _, checks = gate_one(tmp_path, "rubrics:\n  osai-v3:\n    min_score: 0.1\n", make_report(scores={"osai-compatible": None}))
    assert "could not be scored" in checks["rubric.osai-v3.min-score"].message


# --- licence rules --------------------------------------------------------------------------------

LICENCE_POLICY = """
licence:
  allow: [apache-2.0, mit, "llama*"]
  deny: [cc-by-nc-*]
  require_commercial_use: true
  min_user_cap: 1000000000
  require_open: true
  forbid_unknown: true
  forbid_laundering: true
  forbid_conflict: true
"""


def test_licence_rules_pass_for_a_plain_apache_model(tmp_path):
    _, model, checks = gate_one(tmp_path, LICENCE_POLICY, make_report())
    assert len(checks) == 8 and model.status == "pass", {r: c.message for r, c in checks.items()}


@pytest.mark.parametrize(
    ("licence", "findings", "failing"),
    [
        (CC_BY_NC, [], {"licence.allow", "licence.deny", "licence.commercial-use", "licence.open"}),
        (LLAMA2, [], {"licence.user-cap", "licence.open"}),
        (UNKNOWN, [], {"licence.allow", "licence.commercial-use", "licence.open", "licence.unknown"}),
        (APACHE, [("licence-laundering", "declares apache-2.0 on a llama2 base")], {"licence.laundering"}),
        (APACHE, [("licence-conflict", "card says apache-2.0, LICENSE.txt is tii-falcon")], {"licence.conflict"}),
    ],
)
def test_licence_rules_fail(tmp_path, licence, findings, failing):
    _, model, checks = gate_one(tmp_path, LICENCE_POLICY, make_report(licence=licence, findings=findings))
    assert {r for r, c in checks.items() if c.status == "fail"} == failing
    assert model.status == "fail"


def test_user_cap_message_and_licence_finding_message(tmp_path):
    _, _, checks = gate_one(tmp_path, LICENCE_POLICY, make_report(
        licence=LLAMA2, findings=[("licence-laundering", "Llama 2 derivative declared apache-2.0")]))
    assert "caps users at 700,000,000" in checks["licence.user-cap"].message
    assert checks["licence.laundering"].message == "Llama 2 derivative declared apache-2.0"


# --- provenance rules -----------------------------------------------------------------------------

PROVENANCE_POLICY = """
provenance:
  require_declared_base_match: true
  forbid_undeclared_derivative: true
  forbid_verdicts: [renamed-copy, recast-copy]
  require_safetensors: true
  forbid_pickle: true
"""


def test_provenance_rules_pass_for_a_declared_fine_tune(tmp_path):
    prov = ProvenanceResult(verdict="derived", base="meta-llama/Llama-2-7b-hf@01c7f73d",
                            declared_base="meta-llama/Llama-2-7b-hf")
    _, model, checks = gate_one(tmp_path, PROVENANCE_POLICY, make_report(provenance=prov))
    assert len(checks) == 5 and model.status == "pass", {r: c.message for r, c in checks.items()}


def test_a_base_model_identical_to_its_own_registry_entry_is_not_undeclared(tmp_path):
    prov = ProvenanceResult(verdict="identical", base="acme/model@" + "a" * 40)
    _, _, checks = gate_one(tmp_path, PROVENANCE_POLICY, make_report(provenance=prov))
    assert checks["provenance.undeclared-derivative"].status == "pass"


@pytest.mark.parametrize(
    ("provenance", "findings", "files", "failing"),
    [
        # the Yi-style shell: a renamed copy of a base, declared as trained from scratch
        (ProvenanceResult(verdict="renamed-copy", base="openscore-samples/tiny-llama"), [], None,
         {"provenance.undeclared-derivative", "provenance.verdict"}),
        # Reflection-style: declares one base, weights match another
        (ProvenanceResult(verdict="derived", base="meta-llama/Meta-Llama-3-70B", declared_base="meta-llama/Llama-3.1-70B"),
         [], None, {"provenance.declared-base"}),
        (ProvenanceResult(verdict="inconclusive", declared_base="x/y"), [("base-mismatch", "config geometry is Llama-3")],
         None, {"provenance.declared-base"}),
        (ProvenanceResult(verdict="independent"), [], ("config.json", "pytorch_model.bin"),
         {"provenance.safetensors", "provenance.pickle"}),
        (ProvenanceResult(verdict="independent"), [("unsafe-pickle", "training_args.bin imports os.system")],
         None, {"provenance.pickle"}),
        (None, [], None, {"provenance.declared-base", "provenance.undeclared-derivative", "provenance.verdict"}),
    ],
)
def test_provenance_rules_fail(tmp_path, provenance, findings, files, failing):
    kwargs = {"files": files} if files else {}
    report = make_report(provenance=provenance, findings=findings, **kwargs)
    _, model, checks = gate_one(tmp_path, PROVENANCE_POLICY, report)
    assert {r for r, c in checks.items() if c.status == "fail"} == failing, {r: c.message for r, c in checks.items()}
    assert model.status == "fail"


# --- models, pinned revisions, waivers ------------------------------------------------------------


def test_pinned_revision_and_location_at_the_model_line(tmp_path):
    text = """
        models:
          - source: acme/other
          - source: acme/model
            revision: {rev}
        licence:
          forbid_unknown: true
        """
    for rev, status in (("aaaaaaa", "pass"), ("bbbbbbb", "fail"), ("main", "pass")):
        _, model, checks = gate_one(tmp_path, text.format(rev=rev), make_report())
        assert model.status == status, checks["policy.pinned-revision"].message
        assert model.line == 3  # the `- source: acme/model` line
        assert checks["licence.unknown"].line == 6


WAIVED_POLICY = """
licence:
  deny: [cc-by-nc-4.0]
waivers:
  - model: "acme/*"
    rules: ["licence.*"]
    reason: research-only use approved by legal (LEGAL-42)
    expires: 2026-12-31
"""


def test_waiver_waives_until_it_expires(tmp_path):
    report = make_report(licence=CC_BY_NC)
    result, model, checks = gate_one(tmp_path, WAIVED_POLICY, report, today=dt.date(2026, 12, 31))
    assert (model.status, checks["licence.deny"].status, result.exit_code) == ("pass", "waived", 0)
    assert checks["licence.deny"].waiver.line == 4 and not checks["licence.deny"].waiver.expired

    result, model, checks = gate_one(tmp_path, WAIVED_POLICY, report, today=dt.date(2027, 1, 1))
    assert (model.status, checks["licence.deny"].status, result.exit_code) == ("fail", "fail", 1)
    assert checks["licence.deny"].waiver.expired
    assert "waiver expired on 2026-12-31" in checks["licence.deny"].message


def test_waiver_for_another_model_or_rule_does_not_waive(tmp_path):
    other_model = WAIVED_POLICY.replace('"acme/*"', "other/model")
    assert gate_one(tmp_path, other_model, make_report(licence=CC_BY_NC))[1].status == "fail"
    other_rule = WAIVED_POLICY.replace('"licence.*"', "gate.audit")
    assert gate_one(tmp_path, other_rule, make_report(licence=CC_BY_NC))[1].status == "fail"


def test_policy_rule_ids_are_exactly_the_rules_evaluated():
    """What waivers are checked against is what the gate evaluates (for every section of a full policy)."""
    from openscore.gate.policy import Policy
    from openscore.gate.rules import evaluate_report, policy_rule_ids

    full = Policy.model_validate({
        "rubrics": {"osai-v3": {"min_score": 0.5, "profile": "strict", "max_unknown": 1, "dimensions": {"modelcard": "open"}},
                    "mof": {"min_class": "II"}, "osaid": {"require_pass": True}},
        "licence": {"allow": [], "deny": ["x"], "require_commercial_use": True, "min_user_cap": 5, "require_open": True,
                    "forbid_unknown": True, "forbid_laundering": True, "forbid_conflict": True},
        "provenance": {"require_declared_base_match": True, "forbid_undeclared_derivative": True,
                       "forbid_verdicts": ["derived"], "require_safetensors": True, "forbid_pickle": True},
    })
    evaluated = sorted(o.rule for o in evaluate_report(make_report(), full))
    assert policy_rule_ids(full) == evaluated and len(evaluated) == 18
    assert policy_rule_ids(Policy()) == [] == [o.rule for o in evaluate_report(make_report(), Policy())]
