"""Evaluate one audit report against a policy: one check per rule the policy sets, in a fixed order.

Each rule reads only the report (so the gate works as well on reports saved earlier), says in one
sentence why it passed or failed, and remembers the policy key that asked for it so its result can be
located at that line. A rule that cannot find what it needs in the report fails: a gate that lets a
model through because a fact was missing is no gate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass

from openscore.formats.pickles import is_pickle_file
from openscore.gate.policy import LicenceRules, Policy, ProvenanceRules, RubricRules
from openscore.report import AuditReport, Grade, RubricResult

#: grade order for "at least" comparisons; n/a and unknown are handled on their own
_GRADE_RANK = {"closed": 0, "partial": 1, "open": 2}
#: MOF classes, best last; "Unclassified" (or anything else) ranks below Class III
_MOF_RANK = {"III": 1, "II": 2, "I": 3}
#: verdicts meaning "these weights come from that base"
DERIVATIVE_VERDICTS = frozenset({"identical", "renamed-copy", "recast-copy", "derived", "partially-derived"})


@dataclass(frozen=True)
class RuleOutcome:
    rule: str  # stable rule id, e.g. "licence.deny", "rubric.osai-v3.min-score"
    policy_path: tuple[str | int, ...]  # the policy key that set the rule
    passed: bool
    message: str
    location: tuple[str, int] | None = None  # set by rules that come from another file (the lock)


def evaluate_report(report: AuditReport, policy: Policy) -> list[RuleOutcome]:
    """Every rule the policy sets, checked against `report` (waivers are applied by the caller)."""
    outcomes: list[RuleOutcome] = []
    for rubric_id, rules in policy.rubrics.items():
        outcomes.extend(_rubric_checks(report, rubric_id, rules))
    outcomes.extend(_licence_checks(report, policy.licence))
    outcomes.extend(_provenance_checks(report, policy.provenance))
    return outcomes


#: rule id for a model the audit rejected outright (malformed or hostile checkpoint: fails), or could not
#: audit at all (an unreadable report, an unexpected error: not evaluated, exit 3)
AUDIT_RULE = "gate.audit"
#: rule id for a report whose revision is not the one the policy pins
PINNED_RULE = "policy.pinned-revision"
#: rule id for audited files that differ from the lock file's
LOCK_RULE = "lock.files"
#: rule id under which a model that could not be evaluated is reported (not a check: never waived)
EVALUATION_RULE = "gate.evaluation"


def unevaluated_rule(model) -> str:
    """The rule id an unevaluated ModelResult is reported under in SARIF, JUnit and annotations."""
    return model.error_rule or EVALUATION_RULE


#: policy key -> rule id, for the licence and provenance sections
LICENCE_RULE_IDS = {
    "allow": "licence.allow", "deny": "licence.deny", "require_commercial_use": "licence.commercial-use",
    "min_user_cap": "licence.user-cap", "require_open": "licence.open", "forbid_unknown": "licence.unknown",
    "forbid_laundering": "licence.laundering", "forbid_conflict": "licence.conflict",
}
PROVENANCE_RULE_IDS = {
    "require_declared_base_match": "provenance.declared-base",
    "forbid_undeclared_derivative": "provenance.undeclared-derivative",
    "forbid_verdicts": "provenance.verdict", "require_safetensors": "provenance.safetensors",
    "forbid_pickle": "provenance.pickle",
}


def policy_rule_ids(policy: Policy) -> list[str]:
    """The ids of the rules `evaluate_report` checks under this policy (what waivers can name)."""
    ids = []
    for rubric_id, rules in policy.rubrics.items():
        ids += [rule for rule, _ in _wanted_rubric_rules(rubric_id, rules)]
        ids += [f"rubric.{rubric_id}.dimension.{d}" for d in rules.dimensions]
    for section, table in ((policy.licence, LICENCE_RULE_IDS), (policy.provenance, PROVENANCE_RULE_IDS)):
        for key, rule in table.items():
            value = getattr(section, key)
            if (value is not None) if key == "allow" else bool(value):
                ids.append(rule)
    return sorted(ids)


# --- rubrics -------------------------------------------------------------------------------------


def effective_grade(grade: Grade) -> str:
    """The reviewed human grade when there is one, else the automatic grade."""
    return grade.override.grade if grade.override is not None else grade.grade


def _rubric_checks(report: AuditReport, rubric_id: str, rules: RubricRules) -> Iterator[RuleOutcome]:
    base = ("rubrics", rubric_id)
    result = report.rubrics.get(rubric_id)
    wanted = _wanted_rubric_rules(rubric_id, rules)
    if result is None:
        graded = ", ".join(sorted(report.rubrics)) or "none"
        for rule, key in wanted:
            yield RuleOutcome(rule, base + (key,), False, f"rubric {rubric_id!r} was not graded in this report (graded: {graded})")
        return
    for rule, key in wanted:
        if key == "min_score":
            yield _min_score(result, rules, rule, base + (key,))
        elif key == "min_class":
            yield _min_class(result, rules, rule, base + (key,))
        elif key == "require_pass":
            passed = (result.classification or "").lower() == "pass"
            unmet = f"; unmet: {', '.join(result.unmet)}" if result.unmet and not passed else ""
            yield RuleOutcome(rule, base + (key,), passed, f"{rubric_id} classification is {result.classification or 'missing'}{unmet}")
        elif key == "max_unknown":
            unknown = sorted(g.dimension for g in result.grades if effective_grade(g) == "unknown")
            passed = len(unknown) <= rules.max_unknown
            listed = f" ({', '.join(unknown)})" if unknown else ""
            yield RuleOutcome(rule, base + (key,), passed,
                              f"{len(unknown)} {rubric_id} dimension(s) unknown{listed}, at most {rules.max_unknown} allowed")
    for dimension, minimum in rules.dimensions.items():
        yield _dimension(result, rubric_id, dimension, minimum, base + ("dimensions", dimension))


def _wanted_rubric_rules(rubric_id: str, rules: RubricRules) -> list[tuple[str, str]]:
    """(rule id, policy key) of the scalar rubric rules this policy sets, in a fixed order."""
    wanted = []
    if rules.min_score is not None:
        wanted.append((f"rubric.{rubric_id}.min-score", "min_score"))
    if rules.min_class is not None:
        wanted.append((f"rubric.{rubric_id}.min-class", "min_class"))
    if rules.require_pass:
        wanted.append((f"rubric.{rubric_id}.pass", "require_pass"))
    if rules.max_unknown is not None:
        wanted.append((f"rubric.{rubric_id}.max-unknown", "max_unknown"))
    return wanted


def _min_score(result: RubricResult, rules: RubricRules, rule: str, path: tuple) -> RuleOutcome:
    profile = rules.profile
    if profile is None:
        if not result.scores:
            return RuleOutcome(rule, path, False, f"{result.rubric} has no scores (it classifies; use its class rules)")
        if len(result.scores) > 1:
            profiles = ", ".join(sorted(result.scores))
            return RuleOutcome(rule, path, False,
                               f"{result.rubric} has several scoring profiles ({profiles}): name one with 'profile'")
        profile = next(iter(result.scores))
    if profile not in result.scores:
        profiles = ", ".join(sorted(result.scores)) or "none"
        return RuleOutcome(rule, path, False, f"{result.rubric} has no score under profile {profile!r} (profiles: {profiles})")
    score = result.scores[profile]
    if score is None:
        return RuleOutcome(rule, path, False, f"{result.rubric} could not be scored under profile {profile!r}")
    passed = score >= rules.min_score
    return RuleOutcome(rule, path, passed,
                       f"{result.rubric} score {score:.3f} ({profile}) {'>=' if passed else '<'} required {rules.min_score:g}")


def _min_class(result: RubricResult, rules: RubricRules, rule: str, path: tuple) -> RuleOutcome:
    found = (result.classification or "Unclassified").strip()
    roman = found.removeprefix("Class").strip()
    passed = _MOF_RANK.get(roman, 0) >= _MOF_RANK[rules.min_class]
    missing = f"; missing: {', '.join(result.unmet)}" if result.unmet and not passed else ""
    return RuleOutcome(rule, path, passed, f"{result.rubric} classification is {found}, required Class {rules.min_class} or better{missing}")


def _dimension(result: RubricResult, rubric_id: str, dimension: str, minimum: str, path: tuple) -> RuleOutcome:
    rule = f"rubric.{rubric_id}.dimension.{dimension}"
    grade = next((g for g in result.grades if g.dimension == dimension), None)
    if grade is None:
        return RuleOutcome(rule, path, False, f"{rubric_id} has no dimension {dimension!r}")
    value = effective_grade(grade)
    reviewed = " (reviewed override)" if grade.override is not None else ""
    if value == "n/a":
        return RuleOutcome(rule, path, True, f"{rubric_id} {dimension} is n/a for this model{reviewed}")
    passed = value in _GRADE_RANK and _GRADE_RANK[value] >= _GRADE_RANK[minimum]
    return RuleOutcome(rule, path, passed, f"{rubric_id} {dimension} is {value}{reviewed}, required at least {minimum}: {grade.reason}")


# --- licence -------------------------------------------------------------------------------------


def licence_matches(licence_id: str, patterns: list[str]) -> str | None:
    """The first pattern (case-insensitive, shell-style) that matches `licence_id`, or None."""
    lowered = licence_id.lower()
    return next((p for p in patterns if fnmatch.fnmatchcase(lowered, p.lower())), None)


def _licence_checks(report: AuditReport, rules: LicenceRules) -> Iterator[RuleOutcome]:
    facts = report.licence.resolved
    shown = f"{facts.id} ({report.licence.declared!r} in the card)" if report.licence.declared else facts.id
    if rules.allow is not None:
        hit = licence_matches(facts.id, rules.allow)
        yield RuleOutcome("licence.allow", ("licence", "allow"), hit is not None,
                          f"licence {shown} is {'allowed' if hit else 'not in the allow list'}")
    if rules.deny:
        hit = licence_matches(facts.id, rules.deny)
        yield RuleOutcome("licence.deny", ("licence", "deny"), hit is None,
                          f"licence {shown} is denied (matches {hit!r})" if hit else f"licence {shown} is not denied")
    if rules.require_commercial_use:
        state = {True: "allows commercial use", False: "forbids commercial use", None: "does not say whether it allows commercial use"}
        yield RuleOutcome("licence.commercial-use", ("licence", "require_commercial_use"), facts.commercial_use is True,
                          f"licence {facts.id} {state[facts.commercial_use]}")
    if rules.min_user_cap is not None:
        capped = facts.user_cap is not None and facts.user_cap < rules.min_user_cap
        text = "has no user cap" if facts.user_cap is None else f"caps users at {facts.user_cap:,}"
        yield RuleOutcome("licence.user-cap", ("licence", "min_user_cap"), not capped,
                          f"licence {facts.id} {text} (policy needs at least {rules.min_user_cap:,})")
    if rules.require_open:
        yield RuleOutcome("licence.open", ("licence", "require_open"), facts.open,
                          f"licence {facts.id} {'is' if facts.open else 'is not'} an open licence")
    if rules.forbid_unknown:
        unknown = facts.id.lower() == "unknown"
        yield RuleOutcome("licence.unknown", ("licence", "forbid_unknown"), not unknown,
                          "the licence could not be identified" if unknown else f"licence identified as {facts.id}")
    if rules.forbid_laundering:
        yield _finding_rule(report, "licence.laundering", ("licence", "forbid_laundering"), "licence-laundering")
    if rules.forbid_conflict:
        yield _finding_rule(report, "licence.conflict", ("licence", "forbid_conflict"), "licence-conflict")


def _finding_rule(report: AuditReport, rule: str, path: tuple, finding_id: str) -> RuleOutcome:
    found = [f for f in report.findings if f.id == finding_id]
    if found:
        return RuleOutcome(rule, path, False, "; ".join(f.message for f in found))
    return RuleOutcome(rule, path, True, f"no {finding_id} finding")


# --- provenance ----------------------------------------------------------------------------------


def repo_name(ref: str | None) -> str | None:
    """`org/name` of a base reference, without revision, URL prefix or case."""
    if not ref:
        return None
    name = ref.strip().split("@", 1)[0].lower()
    for prefix in ("https://huggingface.co/", "http://huggingface.co/", "hf.co/", "huggingface.co/"):
        name = name.removeprefix(prefix)
    return name.strip("/")


def _provenance_checks(report: AuditReport, rules: ProvenanceRules) -> Iterator[RuleOutcome]:
    prov = report.provenance
    why = "; ".join(report.pipeline_notes()) or "was it audited without weights?"
    absent = f"no provenance in the report: {why}"
    if rules.require_declared_base_match:
        path = ("provenance", "require_declared_base_match")
        mismatch = [f for f in report.findings if f.id == "base-mismatch"]
        if mismatch:
            yield RuleOutcome("provenance.declared-base", path, False, "; ".join(f.message for f in mismatch))
        elif prov is None:
            yield RuleOutcome("provenance.declared-base", path, False, absent)
        else:
            declared, detected = repo_name(prov.declared_base), repo_name(prov.base)
            if declared and detected and declared != detected:
                yield RuleOutcome("provenance.declared-base", path, False,
                                  f"card declares base {prov.declared_base}, weights match {prov.base} ({prov.verdict})")
            elif declared and detected:
                yield RuleOutcome("provenance.declared-base", path, True, f"declared base {prov.declared_base} matches the weights")
            else:
                yield RuleOutcome("provenance.declared-base", path, True,
                                  f"nothing to compare: declared base {prov.declared_base or 'none'}, detected base {prov.base or 'none'}")
    if rules.forbid_undeclared_derivative:
        path = ("provenance", "forbid_undeclared_derivative")
        if prov is None:
            yield RuleOutcome("provenance.undeclared-derivative", path, False, absent)
        else:
            own = repo_name(report.source.repo_id)
            derived = prov.verdict in DERIVATIVE_VERDICTS and prov.base and repo_name(prov.base) != own
            undeclared = bool(derived) and not prov.declared_base
            text = (f"weights are a {prov.verdict} of {prov.base} but the card declares no base" if undeclared
                    else f"verdict {prov.verdict}, declared base {prov.declared_base or 'none'}")
            yield RuleOutcome("provenance.undeclared-derivative", path, not undeclared, text)
    if rules.forbid_verdicts:
        path = ("provenance", "forbid_verdicts")
        if prov is None:
            yield RuleOutcome("provenance.verdict", path, False, absent)
        else:
            bad = prov.verdict in rules.forbid_verdicts
            of = f" of {prov.base}" if prov.base else ""
            yield RuleOutcome("provenance.verdict", path, not bad,
                              f"verdict {prov.verdict}{of} is {'forbidden' if bad else 'allowed'} by the policy")
    paths = sorted(str(f.get("path", "")) for f in report.inventory.get("files", []))
    if rules.require_safetensors:
        found = [p for p in paths if p.endswith(".safetensors")]
        yield RuleOutcome("provenance.safetensors", ("provenance", "require_safetensors"), bool(found),
                          f"{len(found)} safetensors file(s)" if found else "no safetensors weights in the repository")
    if rules.forbid_pickle:
        pickles = [p for p in paths if is_pickle_file(p)]
        unsafe = [f.message for f in report.findings if f.id == "unsafe-pickle"]
        problems = ([f"pickle files: {', '.join(pickles[:5])}" + (f" (+{len(pickles) - 5} more)" if len(pickles) > 5 else "")]
                    if pickles else []) + unsafe
        yield RuleOutcome("provenance.pickle", ("provenance", "forbid_pickle"), not problems,
                          "; ".join(problems) if problems else "no pickle files")


# --- rule descriptions (SARIF rules, docs) -------------------------------------------------------

#: rule kind (rule id with the rubric and dimension ids replaced by {rubric} and {dimension}) -> text
RULE_TEXTS = {
    "rubric.{rubric}.min-score": "The {rubric} openness score must reach the policy's minimum.",
    "rubric.{rubric}.min-class": "The {rubric} classification must be at least the policy's class.",
    "rubric.{rubric}.pass": "The {rubric} classification must be pass.",
    "rubric.{rubric}.max-unknown": "At most the policy's number of {rubric} dimensions may be graded unknown.",
    "rubric.{rubric}.dimension.{dimension}": "The {rubric} dimension {dimension} must be graded at least the policy's grade.",
    "licence.allow": "The model's licence must be on the policy's allow list.",
    "licence.deny": "The model's licence must not be on the policy's deny list.",
    "licence.commercial-use": "The licence must allow commercial use.",
    "licence.user-cap": "The licence must not cap monthly active users below the policy's minimum.",
    "licence.open": "The licence must be an open licence (OSI-approved or an open-data licence).",
    "licence.unknown": "The licence must be identified.",
    "licence.laundering": "A derivative must not claim a more open licence than its base.",
    "licence.conflict": "The card's licence must agree with the licence files.",
    "provenance.declared-base": "The base model the card declares must be the base the weights match.",
    "provenance.undeclared-derivative": "A model whose weights derive from a known base must declare that base.",
    "provenance.verdict": "The provenance verdict must not be one the policy forbids.",
    "provenance.safetensors": "Weights must be shipped as safetensors.",
    "provenance.pickle": "The repository must not contain pickle-serialised files.",
    "policy.pinned-revision": "The audited revision must be the revision the policy pins.",
    "lock.files": "The audited files must be the files (and commit) pinned in the lock file.",
    "gate.audit": "The checkpoint must be readable by the audit (not malformed or hostile).",
    "gate.evaluation": "The model must be evaluable (reachable, not gated for this token, not rate limited).",
}


def rule_kind(rule: str) -> tuple[str, dict[str, str]]:
    """The catalogue key of a rule id and the ids filled into it: rubric.mof.min-class -> rubric.{rubric}.min-class."""
    parts = rule.split(".")
    if parts[0] == "rubric" and len(parts) >= 3:
        if parts[2] == "dimension" and len(parts) >= 4:
            return "rubric.{rubric}.dimension.{dimension}", {"rubric": parts[1], "dimension": ".".join(parts[3:])}
        return "rubric.{rubric}." + ".".join(parts[2:]), {"rubric": parts[1]}
    return rule, {}


def rule_description(rule: str) -> str:
    kind, ids = rule_kind(rule)
    text = RULE_TEXTS.get(kind)
    return text.format(**ids) if text else f"openscore gate rule {rule}."
