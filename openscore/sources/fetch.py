"""One bounded GET of a URL outside the Hub API: a published registry (`registry pull URL`), linked
sources (GitHub, arXiv, Crossref, dataset cards).

Through huggingface_hub's HTTP session (proxies, certificates, the user's client factory), like the Hub
source; never another HTTP library. Bounded like every Hub request: a connect/read timeout, a deadline
for the whole request enforced by a `Watchdog` wherever it waits (a server sending its headers a byte at
a time included), and a cap on the body, which is read only as far as the cap.
"""

from __future__ import annotations

from openscore.errors import DeadlineExceeded, NetworkUnavailable
from openscore.sources.limits import Deadline, Watchdog


def bounded_get(url: str, *, deadline: Deadline, timeout: float, max_bytes: int,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of GET `url`, redirects followed.

    The body is read up to `max_bytes + 1` bytes (so a caller sees when it is over the cap) whatever the
    status. Past `deadline`, or `timeout` without a byte: DeadlineExceeded; no connection, a reset, a
    protocol error or HF_HUB_OFFLINE: NetworkUnavailable."""
    from huggingface_hub.utils import get_session

    from openscore.sources.hub import HTTPX, TIMEOUT_ERROR, TRANSPORT_ERROR

    deadline.check(f"GET {url}")
    watchdog = Watchdog(deadline.remaining())
    chunks, size = [], 0
    try:
        with watchdog, get_session().stream(
                "GET", url, headers={**(headers or {}), "Connection": "close"}, follow_redirects=True,
                timeout=HTTPX.Timeout(min(timeout, deadline.remaining())),
                extensions=watchdog.extensions) as response:
            for chunk in response.iter_bytes():
                deadline.check(f"GET {url}")
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    break
            status, got = response.status_code, {k.lower(): v for k, v in response.headers.items()}
    except TRANSPORT_ERROR as exc:
        if watchdog.fired:
            raise DeadlineExceeded(f"GET {url}: over the {deadline.what} deadline of {deadline.seconds:g} s") \
                from None
        if isinstance(exc, TIMEOUT_ERROR):
            raise DeadlineExceeded(f"GET {url}: no answer within the {timeout:g} s timeout") from None
        raise NetworkUnavailable(f"GET {url}: cannot fetch ({type(exc).__name__})") from None
    except ConnectionError:  # huggingface_hub's OfflineModeIsEnabled: HF_HUB_OFFLINE holds for every request
        raise NetworkUnavailable(f"GET {url}: offline mode (HF_HUB_OFFLINE) is set") from None
    return status, got, b"".join(chunks)[: max_bytes + 1]
