"""The model card: YAML front matter with line numbers, and which documentation sections are filled.

Front matter is untrusted text: it is parsed with `yaml.safe_load`, and a malformed block is
recorded as such (the card then counts as having no metadata) instead of failing the audit.
Sections are markdown headings outside fenced code blocks; a section whose text is only template
placeholders ("[More Information Needed]") counts as empty.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import lru_cache

import yaml
from pydantic import BaseModel

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation
from openscore.resources import package_data

EXTRACTOR = "card@2.0"
CARD_NAMES = ("README.md", "readme.md", "README.MD", "Readme.md")
#: front-matter keys that grading reads; others are kept in report.card but not cited one by one
CITED_FIELDS = (
    "license", "license_name", "license_link", "datasets", "base_model", "base_model_relation", "tags",
    "model-index", "library_name", "pipeline_tag", "co2_eq_emissions", "widget", "new_version", "language",
)
#: bounds on untrusted card metadata: real front matter is a few KB (model-index tables ~50 KB)
MAX_FRONT_MATTER = 1_000_000
MAX_FRONT_MATTER_NODES = 200_000
#: libyaml's safe loader when PyYAML was built with it (cards' front matter is the audit's hot spot)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NOT_MEANINGFUL = re.compile(r"[\s#>*_`|:\-=\[\]()]+")


class SectionRules(BaseModel):
    libraries: list[str]
    min_filled_chars: int
    placeholders: list[str]
    topics: dict[str, list[str]]


@lru_cache(maxsize=1)
def section_rules() -> tuple[SectionRules, re.Pattern[str], dict[str, list[re.Pattern[str]]]]:
    rules = SectionRules.model_validate(yaml.safe_load(package_data("card_sections.yaml").read_text("utf-8")))
    placeholder = re.compile("|".join(f"(?:{p})" for p in rules.placeholders), re.IGNORECASE | re.DOTALL)
    topics = {t: [re.compile(p, re.IGNORECASE) for p in pats] for t, pats in rules.topics.items()}
    return rules, placeholder, topics


def find_card(ctx: CollectContext) -> str | None:
    for name in CARD_NAMES:
        if ctx.inventory.get(name) is not None:
            return name
    return None


def split_front_matter(text: str) -> tuple[str | None, int, list[str]]:
    """(front matter text or None, 1-based line where it starts, all lines of the file)."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return None, 0, lines
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), 2, lines
    return None, 0, lines


def _plain(value):
    """YAML scalars such as dates become strings so every value is JSON-able."""
    return json.loads(json.dumps(value, default=str))


def _check_expanded_size(root: yaml.Node | None) -> None:
    """Refuse alias bombs ("billion laughs"): count nodes as if every alias were expanded, up to a budget."""
    stack, seen = [root] if root is not None else [], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_FRONT_MATTER_NODES:
            raise ValueError(f"front matter expands to more than {MAX_FRONT_MATTER_NODES} YAML nodes (alias bomb?)")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def parse_front_matter(fm_text: str, first_line: int) -> tuple[dict, dict[str, tuple[int, int]]]:
    """The mapping and, per top-level key, its (first, last) 1-based line in the card file.

    Raises yaml.YAMLError / ValueError on a malformed or non-mapping block."""
    if len(fm_text) > MAX_FRONT_MATTER:
        raise ValueError(f"front matter is {len(fm_text)} characters, over the {MAX_FRONT_MATTER} limit")
    loader = _SAFE_LOADER(fm_text)
    try:
        node = loader.get_single_node()  # one parse gives both the marks and the data
        _check_expanded_size(node)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ValueError("front matter is not a mapping")
    spans: dict[str, tuple[int, int]] = {}
    for key_node, value_node in node.value:
        end = value_node.end_mark.line - (1 if value_node.end_mark.column == 0 else 0)
        end = max(end, key_node.start_mark.line)
        spans[str(key_node.value)] = (first_line + key_node.start_mark.line, first_line + end)
    return {str(k): _plain(v) for k, v in data.items()}, spans


def _clean_heading(text: str) -> str:
    text = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", text)
    text = re.sub(r"[^\w\s,&()/+.:-]", " ", text)  # emoji and symbols
    return " ".join(text.split()).strip(" :")


@dataclass
class Section:
    """One markdown heading and the lines it governs (up to the next heading of the same or a higher level)."""

    level: int
    heading: str
    start: int  # 1-based line of the heading
    end: int  # 1-based last line of the section (its subsections included)
    topic: str | None
    parent: int | None  # index of the enclosing section in the list, or None
    chars: int  # meaningful characters of the section's text, subsections included
    snippet: str  # the first lines of its text, for citations

    @property
    def filled(self) -> bool:
        return self.chars >= section_rules()[0].min_filled_chars


#: lines of text kept per section for its citation snippet (the snippet is clipped anyway)
SNIPPET_LINES = 12


def sections(lines: list[str], body_start: int) -> list[Section]:
    """Every heading from `body_start` (0-based), in file order, in one pass over the lines.

    A section's end is found with a stack of open headings and its content is counted on its own
    lines then added to its ancestors, so a card with thousands of headings costs no more than its length."""
    heads: list[tuple[int, int, str]] = []
    fenced = False
    for i in range(body_start, len(lines)):
        if _FENCE.match(lines[i]):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(lines[i])
        if m:
            heads.append((i, len(m.group(1)), _clean_heading(m.group(2))))
    out: list[Section] = []
    stack: list[int] = []
    for n, (i, level, heading) in enumerate(heads):
        while stack and out[stack[-1]].level >= level:
            out[stack.pop()].end = i  # the 0-based heading line is the previous section's 1-based last line
        own_end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        own = lines[i + 1:own_end]
        out.append(Section(level=level, heading=heading, start=i + 1, end=len(lines), topic=topic_of(heading),
                           parent=stack[-1] if stack else None, chars=_meaningful(own),
                           snippet="\n".join(own[:SNIPPET_LINES])))
        stack.append(n)
    for n in range(len(out) - 1, -1, -1):  # children after parents: add each total to its parent once
        parent = out[n].parent
        if parent is not None:
            out[parent].chars += out[n].chars
            if not out[parent].snippet.strip():
                out[parent].snippet = out[n].snippet
    return out


def section_at(found: list[Section], starts: list[int], line: int) -> Section | None:
    """The innermost section holding 1-based `line` (`starts` = the sections' start lines)."""
    n = bisect.bisect_right(starts, line) - 1
    while n >= 0 and found[n].end < line:
        n = found[n].parent if found[n].parent is not None else -1
    return found[n] if n >= 0 else None


def topic_at(found: list[Section], starts: list[int], line: int) -> str | None:
    """Topic of the innermost section around `line` that has one (its own heading, else its parents')."""
    sec = section_at(found, starts, line)
    while sec is not None and sec.topic is None:
        sec = found[sec.parent] if sec.parent is not None else None
    return sec.topic if sec is not None else None


def _meaningful(own: list[str]) -> int:
    rules, placeholder, _ = section_rules()
    text = placeholder.sub(" ", "\n".join(own))
    return len(_NOT_MEANINGFUL.sub("", text))


def topic_of(heading: str) -> str | None:
    _, _, topics = section_rules()
    for topic, patterns in topics.items():
        if any(p.search(heading) for p in patterns):
            return topic
    return None


def _api_card(ctx: CollectContext, out: CollectorOutput, name: str) -> tuple[CollectorOutput, dict]:
    """The README cannot be read (gated repository): the Hub API's cardData still carries the front matter."""
    data = {str(k): v for k, v in _plain(ctx.inventory.card_data).items()}
    why = ctx.unreadable.get(name, "not readable")
    out.not_checked.append(f"{name}: {why}; front matter taken from the Hub API cardData, sections not read")
    api = f"{(ctx.endpoint or ctx.inventory.ref.location).rstrip('/')}/api/models/{ctx.inventory.ref.repo_id}"
    out.observations.append(Observation(
        kind="card.front_matter", value="present",
        evidence=ctx.cite(rule="collect/card/front-matter", extractor=EXTRACTOR, locator="/cardData", url=api,
                          snippet=f"cardData from the Hub API ({name} unreadable: {why})"),
    ))
    for key in sorted(data):
        if key in CITED_FIELDS or key.startswith("extra_gated_"):
            out.observations.append(Observation(
                kind=f"card.field.{key}", value=data[key],
                evidence=ctx.cite(rule=f"collect/card/field/{key}", extractor=EXTRACTOR, locator=f"/cardData/{key}",
                                  url=api, snippet=f"{key}: {json.dumps(data[key], ensure_ascii=False)}"),
            ))
    return out, {"present": True, "file": name, "front_matter": data, "front_matter_status": "api", "sections": []}


def collect_card(ctx: CollectContext) -> tuple[CollectorOutput, dict]:
    """Card observations, plus the card summary stored in report.card."""
    out = CollectorOutput(extractor=EXTRACTOR)
    name = find_card(ctx)
    out.searched.append("README.md at the repository root")
    text = ctx.read_text(name) if name else None
    if text is None and name and ctx.inventory.card_data:
        return _api_card(ctx, out, name)
    if text is None:
        why = f"{name} not readable: {ctx.unreadable[name]}" if name in ctx.unreadable else "no README.md in the repository"
        out.observations.append(Observation(
            kind="card.missing", value=True,
            evidence=ctx.cite(rule="collect/card/missing", extractor=EXTRACTOR, file=name, snippet=why),
        ))
        return out, {"present": False}

    fm_text, first, lines = split_front_matter(text)
    summary: dict = {"present": True, "file": name, "front_matter": None, "sections": []}
    body_start = 0
    if fm_text is None:
        out.observations.append(Observation(
            kind="card.front_matter", value="absent",
            evidence=ctx.cite(rule="collect/card/front-matter", extractor=EXTRACTOR, file=name, line=1,
                              snippet=lines[0] if lines else ""),
        ))
        summary["front_matter_status"] = "absent"
    else:
        body_start = first + fm_text.count("\n") + 1
        try:
            data, spans = parse_front_matter(fm_text, first)
        except (yaml.YAMLError, ValueError) as exc:
            out.observations.append(Observation(
                kind="card.front_matter", value="invalid",
                evidence=ctx.cite(rule="collect/card/front-matter", extractor=EXTRACTOR, file=name,
                                  locator=f"L1-L{body_start}", snippet=f"invalid YAML front matter: {exc}"),
            ))
            summary["front_matter_status"] = "invalid"
        else:
            summary["front_matter_status"] = "present"
            summary["front_matter"] = data
            out.observations.append(Observation(
                kind="card.front_matter", value="present",
                evidence=ctx.cite(rule="collect/card/front-matter", extractor=EXTRACTOR, file=name,
                                  locator=f"L1-L{body_start}", snippet=fm_text[:200]),
            ))
            for key in sorted(data):
                if key not in CITED_FIELDS and not key.startswith("extra_gated_"):
                    continue
                a, b = spans[key]
                out.observations.append(Observation(
                    kind=f"card.field.{key}", value=data[key],
                    evidence=ctx.cite(rule=f"collect/card/field/{key}", extractor=EXTRACTOR, file=name,
                                      locator=f"L{a}" if a == b else f"L{a}-L{b}",
                                      snippet="\n".join(lines[a - 1:b])),
                ))
    ctx.card_sections = sections(lines, body_start)
    for sec in ctx.card_sections:
        summary["sections"].append({"heading": sec.heading, "level": sec.level, "line": sec.start, "end": sec.end,
                                    "topic": sec.topic, "filled": sec.filled})
        if sec.topic is None:
            continue
        out.observations.append(Observation(
            kind=f"card.section.{sec.topic}", value={"heading": sec.heading, "filled": sec.filled},
            evidence=ctx.cite(rule=f"collect/card/section/{sec.topic}", extractor=EXTRACTOR, file=name,
                              locator=f"L{sec.start}-L{sec.end}", url=ctx.blob_url(name, sec.start),
                              snippet=f"## {sec.heading}: " + (sec.snippet.strip() or "(empty)")),
        ))
    n_filled = sum(1 for sec in summary["sections"] if sec["filled"])
    out.observations.append(Observation(
        kind="card.body", value={"sections": len(summary["sections"]), "filled": n_filled},
        evidence=ctx.cite(rule="collect/card/body", extractor=EXTRACTOR, file=name,
                          locator=f"L{body_start + 1}-L{len(lines)}",
                          snippet=f"{len(summary['sections'])} headings, {n_filled} with content"),
    ))
    out.searched.append("markdown headings of " + name + " (" + ", ".join(sorted(section_rules()[2])) + ")")
    summary["lines"] = len(lines)
    return out, summary
