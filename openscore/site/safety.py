"""Turning untrusted report text into safe paths, anchors and links.

Repo ids, dimension ids and evidence URLs come from model cards and Hub metadata, which anyone can
write. Jinja's autoescape covers text; this module covers what escaping cannot: a `javascript:` URL
is perfectly well-escaped HTML and still runs when clicked, and `../..` in a repo id would write
outside the site.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_UNSAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]+")
_UNSAFE_ANCHOR = re.compile(r"[^A-Za-z0-9_-]+")
#: Browsers drop ASCII tab/newline/CR anywhere in a URL and strip leading control characters and
#: spaces, so "java\tscript:" is "javascript:" to them: remove them before reading the scheme.
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_MAX_SEGMENT = 96


def path_segment(text: str) -> str:
    """One file-name-safe path component: never empty, never `.` or `..`, bounded length."""
    segment = _UNSAFE_SEGMENT.sub("-", text).strip(".-")[:_MAX_SEGMENT].strip(".-")
    return segment or "_"


def anchor(*parts: str) -> str:
    """A fragment id (`osai-v3--weights_endmodel`) made only of letters, digits, `_` and `-`."""
    return "--".join(_UNSAFE_ANCHOR.sub("-", part).strip("-") or "_" for part in parts)


def safe_href(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None (the page shows the text, not a link).

    Report URLs point outside the site (Hub, arXiv, GitHub); a relative one would resolve against
    the site itself, so it is refused like any other scheme.
    """
    if not url:
        return None
    cleaned = _URL_IGNORED.sub("", url)
    if "\\" in cleaned:
        return None
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return cleaned


def css_string(text: str) -> str:
    """`text` as a quoted CSS string: anything but letters, digits and spaces becomes a hex escape."""
    return '"' + "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):x} " for c in text) + '"'
