"""The rubrics the site shows: their dimension titles and order, and which score is "the" score.

Pages never restate criteria: titles, order and criteria text come from the rubric YAML through
openscore.rubrics. A report may name a rubric that is no longer shipped (an old audit); its grades
still show, titled by their ids, in the order the report lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from openscore.report import RubricResult
from openscore.rubrics.loader import list_rubrics, load_rubric
from openscore.rubrics.model import Rubric

#: The profile that reproduces the OSAI site's total; used when a rubric names no default profile.
FALLBACK_PROFILE = "osai-compatible"


@dataclass
class RubricCatalog:
    rubrics: dict[str, Rubric] = field(default_factory=dict)

    @classmethod
    def shipped(cls) -> "RubricCatalog":
        return cls({rubric_id: load_rubric(rubric_id) for rubric_id in list_rubrics()})

    def title(self, rubric_id: str) -> str:
        rubric = self.rubrics.get(rubric_id)
        return rubric.title if rubric else rubric_id

    def dimensions(self, rubric_id: str, results: Iterable[RubricResult]) -> list[tuple[str, str]]:
        """(id, title) of the rubric's dimensions in its order, then ids only the reports grade."""
        graded: list[str] = []
        for result in results:
            graded.extend(g.dimension for g in result.grades if g.dimension not in graded)
        rubric = self.rubrics.get(rubric_id)
        if rubric is None:
            return [(dim, dim) for dim in graded]
        known = [(d.id, d.title) for d in rubric.dimensions]
        return known + [(dim, dim) for dim in graded if dim not in rubric.dimension_ids]

    def primary_profile(self, result: RubricResult) -> str | None:
        """The profile whose score ranks models: the rubric's default, else the OSAI-compatible one."""
        rubric = self.rubrics.get(result.rubric)
        candidates = [rubric.default_profile] if rubric and rubric.default_profile else []
        candidates += [FALLBACK_PROFILE, *sorted(result.scores)]
        return next((p for p in candidates if p in result.scores), None)

    def primary_score(self, result: RubricResult) -> float | None:
        profile = self.primary_profile(result)
        return result.scores[profile] if profile else None
