"""Licence text -> licence id, for LICENSE, NOTICE, USE_POLICY and similar files.

Two layers, both conservative:
1. AI licences (not in SPDX) by fingerprints from licences.yaml: a title such as "LLAMA 2 COMMUNITY
   LICENSE AGREEMENT" opening a line (confidence >= 0.9), the same title cited inside a sentence
   ("fingerprint:mention", confidence 0.6-0.7: a card naming its licence), or at least two distinctive
   phrases ("fingerprint:phrases", confidence 0.3-0.55). A heading beats a mention, which beats phrases;
   two licences matching equally well give "unknown" (method "ambiguous"). Texts are compared with case, punctuation and line breaks
   folded away, so wrapped or Markdown copies match.
2. Common open source licences by whole-text comparison against the choosealicense.com texts that
   `identify` vendors: a match needs an edit distance under 5% of the text (copyright lines removed).
Anything else is "unknown": a near-miss is never promoted to a guess.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass

from openscore.licences.catalogue import load_catalogue

#: licence files are a few kB; past this size only the fingerprints run (edit distance is quadratic-ish)
MAX_COMPARED_CHARS = 100_000
#: fingerprints are searched in this many leading characters of any text
MAX_SCANNED_CHARS = 2_000_000
SPDX_MAX_DISTANCE = 0.05

_FOLD_RE = re.compile(r"[\W_]+", re.UNICODE)
_COPYRIGHT_RE = re.compile(r"^\s*(copyright|\(c\)) .*$", re.IGNORECASE | re.MULTILINE)
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class LicenceMatch:
    """What a licence text was identified as, and where: `line` is 1-based, for evidence."""

    id: str  # catalogue id ("llama2", "Apache-2.0", ...) or "unknown"
    confidence: float  # 0..1
    method: str  # "fingerprint:title", "fingerprint:mention", "fingerprint:phrases", "spdx-text", "none", "ambiguous"
    line: int | None = None
    snippet: str | None = None  # the line that identified it (<= 300 chars)


def identify_text(text: str) -> LicenceMatch:
    """Identify the licence a text is; LicenceMatch("unknown", 0.0, ...) when it is none we know."""
    text = text[:MAX_SCANNED_CHARS]
    folded = _FoldedText(text)
    match = _by_fingerprint(folded)
    if match is not None:
        return match
    if len(text) <= MAX_COMPARED_CHARS:
        match = _by_spdx_text(text)
        if match is not None:
            return match
    return LicenceMatch(id="unknown", confidence=0.0, method="none")


class _FoldedText:
    """The text folded for phrase search, with a map from folded offsets back to 1-based lines."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        parts: list[str] = []
        self.starts: list[int] = []
        offset = 0
        for line in self.lines:
            folded = fold(line)
            self.starts.append(offset)
            parts.append(folded)
            offset += len(folded) + 1
        self.text = " ".join(parts)
        self._start_set = set(self.starts)

    def find(self, phrase: str) -> int | None:
        """1-based line where `phrase` (folded) first occurs, or None."""
        hit = self.find_heading(phrase)
        return hit[0] if hit else None

    def find_heading(self, phrase: str) -> tuple[int, bool] | None:
        """(line, heads_its_line) of `phrase`: the first occurrence that opens a line, as a licence's title
        does ("TII Falcon LLM License Version 1.0"), else the first occurrence, cited mid-sentence."""
        needle = fold(phrase)
        first = self.text.find(needle) if needle else -1
        if first < 0:
            return None
        position = first
        while position >= 0:
            if position in self._start_set:
                return bisect.bisect_right(self.starts, position), True
            position = self.text.find(needle, position + 1)
        return bisect.bisect_right(self.starts, first), False

    def snippet(self, line: int) -> str:
        return self.lines[line - 1].strip()[:300]


def fold(text: str) -> str:
    """Lower case, every run of punctuation or whitespace one space."""
    return _FOLD_RE.sub(" ", text.lower()).strip()


#: how strongly each kind of fingerprint hit identifies a text: the kind ranks first, then the score
_STRENGTH = {"fingerprint:title": 3, "fingerprint:mention": 2, "fingerprint:phrases": 1}


def _by_fingerprint(folded: _FoldedText) -> LicenceMatch | None:
    candidates: list[tuple[int, float, str, str, int]] = []
    for entry in load_catalogue().table.licences:
        prints = entry.fingerprints
        if prints is None:
            continue
        titles = [hit for hit in (folded.find_heading(t) for t in prints.titles) if hit is not None]
        phrase_lines = [ln for ln in (folded.find(p) for p in prints.phrases) if ln is not None]
        share = len(phrase_lines) / len(prints.phrases) if prints.phrases else 0.0
        headings = [line for line, heading in titles if heading]
        if headings:
            method, confidence, line = "fingerprint:title", 0.9 + 0.1 * share, min(headings)
        elif titles:  # the licence is named inside a sentence: a reference to it, weaker than its text
            method, confidence, line = "fingerprint:mention", 0.6 + 0.1 * share, min(ln for ln, _ in titles)
        elif len(phrase_lines) >= 2:
            method, confidence, line = "fingerprint:phrases", 0.3 + 0.25 * share, min(phrase_lines)
        else:
            continue
        candidates.append((_STRENGTH[method], round(confidence, 4), entry.id, method, line))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (-c[0], -c[1], c[4], c[2]))
    best = candidates[0]
    if len(candidates) > 1 and candidates[1][:2] == best[:2] and candidates[1][2] != best[2]:
        return LicenceMatch(id="unknown", confidence=0.0, method="ambiguous", line=best[4], snippet=folded.snippet(best[4]))
    return LicenceMatch(id=best[2], confidence=best[1], method=best[3], line=best[4], snippet=folded.snippet(best[4]))


def _normalise_licence_text(text: str) -> str:
    return _WS_RE.sub(" ", _COPYRIGHT_RE.sub("", text)).strip()


@functools.lru_cache(maxsize=1)
def _reference_texts() -> tuple[tuple[str, str], ...]:
    from identify.vendor.licenses import LICENSES  # choosealicense.com texts, MIT

    return tuple((spdx_id, _normalise_licence_text(body)) for spdx_id, body in LICENSES)


def _by_spdx_text(text: str) -> LicenceMatch | None:
    import ukkonen

    norm = _normalise_licence_text(text)
    if not norm:
        return None
    cutoff = math.ceil(SPDX_MAX_DISTANCE * len(norm))
    best: tuple[int, str] | None = None
    for spdx_id, reference in _reference_texts():
        if abs(len(norm) - len(reference)) / len(norm) > SPDX_MAX_DISTANCE:
            continue
        distance = 0 if norm == reference else ukkonen.distance(norm, reference, cutoff)
        if distance < cutoff and (best is None or distance < best[0]):
            best = (distance, spdx_id)
    if best is None:
        return None
    table = load_catalogue()
    entry = table.by_id(best[1])
    licence_id = entry.id if entry is not None else (table.spdx_id(best[1]) or best[1])
    first = next((i for i, line in enumerate(text.splitlines(), 1) if line.strip()), None)
    snippet = text.splitlines()[first - 1].strip()[:300] if first else None
    return LicenceMatch(id=licence_id, confidence=round(1 - best[0] / len(norm), 4), method="spdx-text", line=first, snippet=snippet)
