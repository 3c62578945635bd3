"""One rate limiter per Hub endpoint, shared by every audit a process runs at once.

Sixteen threads retrying a 429 each on their own would hammer the server sixteen times per reset;
here the first 429 pauses every request to that endpoint for as long as the server asks
(`Retry-After`, else the Hub's `RateLimit: ...;t=<seconds>`; see HubSource._call), and an optional
steady pace (`--max-rps`) spaces requests out before the server has to say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`acquire()` before each request; `pause(seconds)` when the server says to back off."""

    def __init__(self, per_second: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0  # earliest start of the next request under the steady pace
        self._paused_until = 0.0
        self.waited = 0.0  # seconds spent waiting, all threads together (for the tally)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._next, self._paused_until)
                if slot <= now or self._paused_until <= now:
                    self._next = slot + self.interval  # reserve this slot under the steady pace
                    delay = slot - now
                    self.waited += delay
                    break
            self._sleep(self._paused_until - now)  # paused: wait, then queue again
        if delay > 0:
            self._sleep(delay)


_LIMITERS: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(endpoint: str, per_second: float | None = None) -> RateLimiter:
    """The process's limiter for `endpoint` (created on first use with `per_second`)."""
    key = endpoint.rstrip("/")
    with _REGISTRY_LOCK:
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(per_second)
        return _LIMITERS[key]
