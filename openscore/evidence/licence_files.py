"""Licence texts shipped in the repository (LICENSE, NOTICE, USE_POLICY...), identified by text.

Identification is the rubrics engineer's `openscore.licences.identify_text`; this collector only
decides which files are licence texts and cites the line the identification rests on.
"""

from __future__ import annotations

import re

from openscore.evidence.context import CollectContext
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "licence-files@1.0"
#: file names (any folder depth <= 1) that hold licence or use-policy text
LICENCE_FILE = re.compile(
    r"^(?:[^/]+/)?(?:licen[cs]e|copying|notice|use[_-]?policy|acceptable[_-]use[_-]policy|responsible[_-]use)"
    r"(?:[._-][\w.-]*)?(?:\.(?:md|txt|rst))?$",
    re.IGNORECASE,
)
MAX_TEXT = 1_000_000


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
            value={"file": path, "id": match.id, "confidence": match.confidence, "method": match.method},
            evidence=ctx.cite(rule="collect/licence/file", extractor=EXTRACTOR, file=path, line=line,
                              snippet=snippet or f"{path} ({match.id})"),
        ))
    return out
