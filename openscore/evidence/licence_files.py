"""Licence texts shipped in the repository (LICENSE, MODEL_LICENSE, NOTICE, USE_POLICY...), identified
by text, and what the card's prose says each licence covers (code, weights, data).

Identification is `openscore.licences.identify_text`; this collector decides which files are licence
texts and what each covers: a file named for the model or its weights (MODEL_LICENSE, LICENSE-WEIGHTS)
governs the weights, one named for code the code. ChatGLM-6B ships the Apache-2.0 LICENSE for its code
and MODEL_LICENSE for its weights; its card says so in one sentence, which is split clause by clause.
"""

from __future__ import annotations

import re

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "licence-files@2.0"
#: file names (any folder depth <= 1) that hold licence or use-policy text: *LICENSE*, *LICENCE*,
#: COPYING*, NOTICE*, *USE_POLICY*, RESPONSIBLE_USE*
LICENCE_FILE = re.compile(
    r"^(?:[^/]+/)?(?:[^/]*licen[cs]e[^/]*|copying[^/]*|notice[^/]*|[^/]*use[_ -]?policy[^/]*|responsible[_-]use[^/]*)$",
    re.IGNORECASE,
)
#: what a licence file covers, from its name (no match: the whole repository)
_COVERS_NAME = (("weights", re.compile(r"model|weight|param", re.I)), ("code", re.compile(r"code|software", re.I)),
                ("data", re.compile(r"data", re.I)))
#: licence texts are read as text; a PDF or an image is listed as not read
_BINARY = re.compile(r"\.(?:pdf|docx?|png|jpe?g)$", re.I)
MAX_TEXT = 1_000_000
#: card prose: a clause naming what it covers, and the licence it names
_PARTS = (("code", re.compile(r"\bcode\b|代码", re.I)),
          ("weights", re.compile(r"\bweights?\b|\bmodels?\b(?! card)|\bparameters\b|权重|模型", re.I)),
          ("data", re.compile(r"\b(?:training )?data(?:sets?)?\b|数据", re.I)))
_CLAUSE = re.compile(r"[;；。，]|\.\s|,\s+(?:while|whereas|but)\b|\bwhile\b|\bwhereas\b")
#: a clause longer than this is a description that happens to mention a licence, not a licensing statement
MAX_CLAUSE = 200
_MD_LINK = re.compile(r"\[([^\]]{1,80})\]\(([^)\s]{1,300})\)")
_LICENCE_WORD = re.compile(r"licen[cs]e|协议|许可", re.I)
_LICENCE_TOKEN = re.compile(
    r"\b(?:apache(?:[- ]license)?(?:,? version)?[- ]?2\.0|mit|bsd-[23]-clause|gpl-[23]\.0|lgpl-[23](?:\.\d)?|mpl-2\.0|"
    r"cc[- ]by(?:-(?:sa|nc|nd))*[- ]\d\.\d|cc0(?:-1\.0)?|openrail(?:-m)?|odc-by|odbl|cdla-permissive-[12]\.0)\b", re.I)
MAX_PROSE_LINES = 20_000


def covers(path: str) -> str | None:
    """What a licence file governs by its name: "weights", "code", "data", or None (everything)."""
    name = path.rsplit("/", 1)[-1]
    return next((part for part, pattern in _COVERS_NAME if pattern.search(name)), None)


def licence_files(ctx: CollectContext, extra: tuple[str, ...] = ()) -> list[str]:
    """Repository paths of licence texts, plus `extra` (e.g. a card's license_link pointing into the repo)."""
    paths = {f.path for f in ctx.inventory.files if LICENCE_FILE.match(f.path)}
    paths.update(p for p in extra if ctx.inventory.get(p) is not None)
    return sorted(paths)


def collect_licence_files(ctx: CollectContext, *, license_link: str | None = None) -> CollectorOutput:
    from openscore.licences import identify_text

    out = CollectorOutput(extractor=EXTRACTOR)
    out.searched.append("LICENSE*, LICENCE*, COPYING*, NOTICE*, USE_POLICY* files" +
                        (f" and license_link {license_link}" if license_link else ""))
    extra = (license_link.lstrip("./"),) if license_link and "://" not in license_link else ()
    for path in licence_files(ctx, extra):
        entry = ctx.inventory.get(path)
        if entry is not None and _BINARY.search(path):
            _by_name(ctx, out, path)
            continue
        if entry is None or not entry.present or entry.size > MAX_TEXT:
            out.not_checked.append(f"{path}: not readable as text here")
            continue
        text = ctx.read_text(path, max_bytes=MAX_TEXT)
        if text is None:
            out.not_checked.append(f"{path}: {ctx.unreadable.get(path, 'not readable')}")
            continue
        match = identify_text(text)
        line = getattr(match, "line", None) or 1
        lines = text.splitlines() or [""]
        snippet = lines[min(line, len(lines)) - 1] if lines else ""
        kind = "licence.policy" if re.search(r"polic", path, re.IGNORECASE) else (
            "licence.notice" if re.search(r"notice", path, re.IGNORECASE) else "licence.file")
        out.observations.append(Observation(
            kind=kind,
            value={"file": path, "id": match.id, "confidence": match.confidence, "method": match.method,
                   "covers": covers(path)},
            evidence=ctx.cite(rule="collect/licence/file", extractor=EXTRACTOR, file=path, line=line,
                              snippet=snippet or f"{path} ({match.id})"),
        ))
    _prose(ctx, out)
    return out


def _by_name(ctx: CollectContext, out: CollectorOutput, path: str) -> None:
    """A licence shipped as a PDF (Baichuan2's "Community License for Baichuan2 Model.pdf") is not read;
    its file name may still name a licence openscore knows."""
    from openscore.licences.resolve import resolve

    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    facts = resolve(stem)
    if facts.id in ("unknown", "other"):
        out.not_checked.append(f"{path}: not readable as text here, and its name is no known licence")
        return
    out.observations.append(Observation(
        kind="licence.file",
        value={"file": path, "id": facts.id, "confidence": 0.5, "method": "file-name", "covers": covers(path)},
        evidence=ctx.cite(rule="collect/licence/file-name", extractor=EXTRACTOR, file=path,
                          snippet=f"{path}: named for {facts.name} (the file is not read)"),
    ))


def _clause_licence(ctx: CollectContext, clause: str, identified: dict[str, str]) -> str | None:
    """The licence a clause names: a link to a licence file of the repository (its identified id), a
    link whose text is a licence name, or a licence token in the text."""
    from openscore.licences.resolve import resolve

    for text, target in _MD_LINK.findall(clause):
        local = target.lstrip("./")
        if local in identified:
            return identified[local]
        facts = resolve(text)
        if facts.id not in ("unknown", "other"):
            return facts.id
    token = _LICENCE_TOKEN.search(_MD_LINK.sub(r"\1", clause))
    if token:
        facts = resolve(re.sub(r"(?i)^apache.*", "Apache-2.0", token.group(0)))
        return facts.id if facts.id not in ("unknown", "other") else None
    return None


def _prose(ctx: CollectContext, out: CollectorOutput) -> None:
    """`licence.prose` observations: a card sentence that licenses code, weights or data, one per part."""
    from openscore.evidence.card import find_card, split_front_matter

    name = find_card(ctx)
    text = ctx.read_text(name) if name else None
    if not text:
        return
    out.searched.append(f"sentences of {name} that license code, weights or data separately")
    identified = {o.value["file"]: o.value["id"] for o in out.observations
                  if o.kind == "licence.file" and o.value.get("id") not in (None, "unknown", "other")}
    _, _, lines = split_front_matter(text)
    seen: set[str] = set()
    for number, line in enumerate(lines[:MAX_PROSE_LINES], start=1):
        if not _LICENCE_WORD.search(line) or line.lstrip().startswith(("license", "|")):
            continue
        for clause in _CLAUSE.split(line):
            if len(clause) > MAX_CLAUSE or not _LICENCE_WORD.search(clause):
                continue
            parts = [part for part, pattern in _PARTS if pattern.search(clause) and part not in seen]
            licence = _clause_licence(ctx, clause, identified) if parts else None
            for part in parts if licence else ():
                seen.add(part)
                out.observations.append(Observation(
                    kind="licence.prose", value={"covers": part, "id": licence},
                    evidence=ctx.cite(rule="collect/licence/prose", extractor=EXTRACTOR, file=name, line=number,
                                      snippet=clause.strip()),
                ))
