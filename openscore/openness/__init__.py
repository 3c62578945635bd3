"""Openness grading: evidence checks -> grades per rubric dimension, licence facts, lineage and findings.

    grade_rubric(rubric_id, GradingContext, overrides) -> RubricResult   (openscore.openness.grading)
    evaluate_licence(bundle) -> LicenceResult                            (openscore.openness.licensing)
    resolve_base(bundle, provenance) -> BaseInfo | None                  (openscore.openness.lineage)
    all_findings(bundle, licence, base, provenance, headers) -> [Finding] (openscore.openness.findings)

The mapping from checks to grades is data: openscore/data/grading/<rubric>.yaml (see docs/audit.md).
"""
