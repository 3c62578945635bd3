"""Links the card makes to code, papers, preprints and datasets, each with its line.

Preprint = arXiv (a link, an `arxiv:` tag, or a BibTeX `eprint`); paper = a DOI, an ACL Anthology
entry or an OpenReview forum (durable, peer-reviewed venues, as the OSAI index prefers). Code = GitHub
or GitLab repositories; an image hosted on GitHub or an install command is not a code link. Links to
Hub datasets and the card's `datasets:` list name training data. Datasheet = a link the card itself calls
a data card, dataset card or datasheet (`[Data Cards](...)`, `[datasheet](...)`), wherever it points.

Each link keeps the card section it sits in (the innermost heading with a known topic, following the
heading hierarchy), and a link repeated in another section is kept there too: whether a section counts
is grading's decision, so a first mention in a section that does not count must not hide a later one.
"""

from __future__ import annotations

import re

from openscore.evidence.card import find_card, split_front_matter, topic_at
from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "links@2.2"

#: kind -> pattern; group "id" is the normalised target
PATTERNS: dict[str, re.Pattern[str]] = {
    "code": re.compile(r"(?<![\w.])(?:https?://)?(?:www\.)?(?P<id>(?:github\.com|gitlab\.com)/[\w.-]+/[\w.-]+)", re.I),
    "preprint": re.compile(
        r"(?:(?<![\w.])(?:https?://)?(?:www\.)?(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/)|\barxiv:\s*"
        r"|\beprint\s*=\s*[{\"]\s*)"
        r"(?P<id>\d{4}\.\d{4,5})",
        re.I),
    "paper": re.compile(
        r"(?<![\w.])(?:https?://)?(?:(?:dx\.)?doi\.org/(?P<doi>10\.\d{4,9}/[^\s)\]>\"']+)"
        r"|aclanthology\.org/(?P<acl>[\w.-]+?)(?:\.pdf)?/?(?=[\s)\]>\"']|$)"
        r"|openreview\.net/(?:forum|pdf)\?id=(?P<orv>[\w-]+))", re.I),
    # not links into a dataset repo's files (`/resolve/`: images and assets hosted in dataset repos)
    "dataset": re.compile(r"(?<![\w.])(?:https?://)?huggingface\.co/datasets/(?P<id>[\w.-]+/[\w.-]+)(?![\w.-]|/resolve/)", re.I),
    # the target of a markdown link; it is a datasheet when its text says so (`_names_datasheet`)
    "datasheet": re.compile(r"\]\((?P<id>https?://[^\s)]+)\)", re.I),
}
#: link text naming the data's documentation, in Gebru et al.'s sense
_DATASHEET_TEXT = re.compile(r"\b(?:data(?:set)?[ -]?cards?|data[ -]?sheets?)\b", re.I)
#: longest link text read back from `](`
MAX_LINK_TEXT = 200
#: GitHub paths that are not code repositories of the model
_NOT_CODE = re.compile(r"github\.com/(?:features|sponsors|orgs|settings|[\w.-]+/[\w.-]+/(?:issues|discussions))", re.I)
#: a link whose path ends in an image (a banner, a WeChat QR code) points at a picture, not at code
_IMAGE = re.compile(r"^[^\s)\]\"'>]*?\.(?:png|jpe?g|gif|svg|webp|bmp|ico)(?:[?#][^\s)\]\"'>]*)?(?=[\s)\]\"'>]|$)", re.I)
#: words near an arXiv link that make it the model's own paper ("**Paper:** [Link](...)", `<a href=...>Paper</a>`),
#: or the page emoji that marks the paper in the link banners of many cards (`📃 <a href="https://arxiv...">`)
_CALLED_PAPER = re.compile(r"paper|preprint|report|publication|论文|报告|📃", re.I)
#: how far around a link those words may be
NEAR = 80
#: an install command names a library to install, not the model's code
_INSTALL = re.compile(r"\b(?:pip3?|conda|mamba|uv pip|poetry|npm)\s+(?:install|add)\b", re.I)


def _url(kind: str, target: str, matched: str) -> str:
    """A clickable URL for the link as written (scheme added when the card left it out)."""
    if kind == "datasheet":
        return target
    if kind == "preprint" and not re.search(r"arxiv\.org|huggingface\.co", matched, re.I):
        return f"https://arxiv.org/abs/{target[len('arxiv:'):]}"  # an `arxiv:` tag or a BibTeX eprint
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
    if kind == "datasheet":
        return target
    if kind == "code":
        target = re.sub(r"\.git$", "", target).lower()
    if kind == "preprint":
        target = "arxiv:" + target
    return target


def _names_datasheet(line: str, m: re.Match[str]) -> bool:
    """The text of the markdown link ending at `m` (from its `[`, or the line's start when the text began
    on the line before: `Consult [the` / `datasheet](https://...)`) calls it a data card or datasheet.
    Read back at most MAX_LINK_TEXT characters, so a hostile line costs linear time."""
    start = max(0, m.start() - MAX_LINK_TEXT)
    text = line[start:m.start()]
    return bool(_DATASHEET_TEXT.search(text[text.rfind("[") + 1:]))


def _not_code(line: str, m: re.Match[str]) -> bool:
    """A GitHub match that is an issue page, an image, or part of an install command."""
    rest = line[m.end():m.end() + 300]
    return bool(_NOT_CODE.search(m.group(0) + rest[:20]) or _IMAGE.match(rest)
                or _INSTALL.search(line[max(0, m.start() - 200):m.start()]))


def collect_links(ctx: CollectContext) -> CollectorOutput:
    """Links with the card section they sit in and whether they are in a table (benchmark tables cite
    other people's papers, so grading may weigh them differently)."""
    out = CollectorOutput(extractor=EXTRACTOR)
    name = find_card(ctx)
    out.searched.append("links in README.md to GitHub/GitLab, arXiv, DOI, ACL Anthology, OpenReview, Hub datasets")
    text = ctx.read_text(name) if name else None
    if text is None:
        return out
    _, _, lines = split_front_matter(text)
    found = ctx.card_sections or []
    starts = [sec.start for sec in found]
    seen: set[tuple[str, str, str | None]] = set()
    for number, line in enumerate(lines, start=1):
        topic = None
        for kind, pattern in PATTERNS.items():
            for m in pattern.finditer(line):
                if (kind == "code" and _not_code(line, m)) or (kind == "datasheet" and not _names_datasheet(line, m)):
                    continue
                if topic is None:
                    topic = (topic_at(found, starts, number),)
                target = _target(kind, m)
                if (kind, target, topic[0]) in seen:
                    continue
                seen.add((kind, target, topic[0]))
                url = _url(kind, target, m.group(0))
                value = {"target": target, "section": topic[0], "table": line.lstrip().startswith("|")}
                if kind == "preprint":
                    value["called_paper"] = bool(_CALLED_PAPER.search(line[max(0, m.start() - NEAR): m.end() + NEAR]))
                out.observations.append(Observation(
                    kind=f"link.{kind}",
                    value=value,
                    evidence=ctx.cite(rule=f"collect/link/{kind}", extractor=EXTRACTOR, file=name, line=number,
                                      snippet=line.strip(), url=url),
                ))
    return out
