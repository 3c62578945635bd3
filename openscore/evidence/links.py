"""Links the card makes to code, papers, preprints and datasets, each with its line.

Preprint = arXiv (a link or an `arxiv:` tag); paper = a DOI, an ACL Anthology entry or an
OpenReview forum (durable, peer-reviewed venues, as the OSAI index prefers). Code = GitHub or
GitLab repositories. Links to Hub datasets and the card's `datasets:` list name training data.
"""

from __future__ import annotations

import re

from openscore.evidence.card import find_card, split_front_matter
from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "links@1.0"

#: kind -> pattern; group "id" is the normalised target
PATTERNS: dict[str, re.Pattern[str]] = {
    "code": re.compile(r"(?<![\w.])(?:https?://)?(?:www\.)?(?P<id>(?:github\.com|gitlab\.com)/[\w.-]+/[\w.-]+)", re.I),
    "preprint": re.compile(
        r"(?:(?<![\w.])(?:https?://)?(?:www\.)?(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/)|\barxiv:\s*)"
        r"(?P<id>\d{4}\.\d{4,5})",
        re.I),
    "paper": re.compile(
        r"(?<![\w.])(?:https?://)?(?:(?:dx\.)?doi\.org/(?P<doi>10\.\d{4,9}/[^\s)\]>\"']+)"
        r"|aclanthology\.org/(?P<acl>[\w.-]+?)(?:\.pdf)?/?(?=[\s)\]>\"']|$)"
        r"|openreview\.net/(?:forum|pdf)\?id=(?P<orv>[\w-]+))", re.I),
    # not links into a dataset repo's files (`/resolve/`: images and assets hosted in dataset repos)
    "dataset": re.compile(r"(?<![\w.])(?:https?://)?huggingface\.co/datasets/(?P<id>[\w.-]+/[\w.-]+)(?![\w.-]|/resolve/)", re.I),
}
#: GitHub paths that are not code repositories of the model
_NOT_CODE = re.compile(r"github\.com/(?:features|sponsors|orgs|settings|[\w.-]+/[\w.-]+/(?:issues|discussions))", re.I)


def _url(kind: str, target: str, matched: str) -> str:
    """A clickable URL for the link as written (scheme added when the card left it out)."""
    if kind == "preprint" and not re.search(r"arxiv\.org|huggingface\.co", matched, re.I):
        return f"https://arxiv.org/abs/{target[len('arxiv:'):]}"  # an `arxiv:` tag
    matched = matched.rstrip(".,;")
    return matched if re.match(r"https?://", matched, re.I) else "https://" + matched


def _target(kind: str, m: re.Match[str]) -> str:
    if kind == "paper":
        if m.group("doi"):
            return "doi:" + m.group("doi").rstrip(".,;")
        if m.group("acl"):
            return "acl:" + m.group("acl")
        return "openreview:" + m.group("orv")
    target = m.group("id").rstrip(".,;")
    if kind == "code":
        target = re.sub(r"\.git$", "", target).lower()
    if kind == "preprint":
        target = "arxiv:" + target
    return target


def _section_at(sections: list[dict], line: int) -> str | None:
    """Topic of the innermost card section holding `line` (sections are in file order)."""
    topic = None
    for sec in sections:
        if sec["line"] > line:
            break
        topic = sec.get("topic") or topic
    return topic


def collect_links(ctx: CollectContext, sections: list[dict] | None = None) -> CollectorOutput:
    """Links with the card section they sit in and whether they are in a table (benchmark tables cite
    other people's papers, so grading may weigh them differently)."""
    out = CollectorOutput(extractor=EXTRACTOR)
    name = find_card(ctx)
    out.searched.append("links in README.md to GitHub/GitLab, arXiv, DOI, ACL Anthology, OpenReview, Hub datasets")
    text = ctx.read_text(name) if name else None
    if text is None:
        return out
    _, _, lines = split_front_matter(text)
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(lines, start=1):
        for kind, pattern in PATTERNS.items():
            for m in pattern.finditer(line):
                if kind == "code" and _NOT_CODE.search(m.group(0) + line[m.end():m.end() + 20]):
                    continue
                target = _target(kind, m)
                if (kind, target) in seen:
                    continue
                seen.add((kind, target))
                url = _url(kind, target, m.group(0))
                out.observations.append(Observation(
                    kind=f"link.{kind}",
                    value={"target": target, "section": _section_at(sections or [], number),
                           "table": line.lstrip().startswith("|")},
                    evidence=ctx.cite(rule=f"collect/link/{kind}", extractor=EXTRACTOR, file=name, line=number,
                                      snippet=line.strip(), url=url),
                ))
    return out
