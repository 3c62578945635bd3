"""Bounds in time on everything a source reads: a Hub that stalls or trickles, a 40 GB file to hash.

One `Limits` holds them: a connect/read timeout on every request (seconds without a byte), a deadline
per file (one download, one ranged read, one API answer, one local file hashed), a deadline per audit
(everything one source reads), a minimum transfer rate once a grace window has passed, and a cap on
every JSON body. The CLI sets them with `--timeout`, `--file-deadline`, `--deadline`, `--min-rate`
(`use_limits`); library callers pass `limits=` to a source or use the same context manager.
Running past any of them is `DeadlineExceeded` (exit 18).

A read timeout bounds each wait for the next byte, never a whole answer: a server sending one header
byte a second is never "timed out". `Watchdog` bounds the whole request, headers included.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from contextlib import AbstractContextManager
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from openscore.errors import DeadlineExceeded


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # connect, and read between two bytes, of every request (seconds)
    file_deadline: float = 900.0  # one file or one API answer, first byte asked to last byte read
    deadline: float = 3600.0  # everything one source (one audit) reads, from when it is opened
    min_rate: float = 1024.0  # bytes/s, averaged from the start of a transfer once rate_window has passed
    rate_window: float = 30.0
    max_json_bytes: int = 64 << 20  # any JSON answer of the Hub API
    #: `progress(label, total)`, a context manager yielding `.update(done)` (cli.console.progress_bar):
    #: shown while a large local folder is hashed
    progress: Callable[[str, int], AbstractContextManager] | None = None


_current = [Limits()]


def current_limits() -> Limits:
    """The limits a source opened now gets when none are passed."""
    return _current[0]


@contextlib.contextmanager
def use_limits(limits: Limits) -> Iterator[Limits]:
    """Make `limits` the default for sources opened inside the block (process-wide: worker threads too)."""
    previous, _current[0] = _current[0], limits
    try:
        yield limits
    finally:
        _current[0] = previous


class Deadline:
    """A point in monotonic time; `check` raises DeadlineExceeded once it has passed."""

    def __init__(self, seconds: float, what: str):
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self, doing: str) -> None:
        if time.monotonic() > self.end:
            raise DeadlineExceeded(f"{doing}: over the {self.what} deadline of {self.seconds:g} s")


class Transfer:
    """One transfer's clock: its own deadline, the source's, and the minimum rate."""

    def __init__(self, limits: Limits, overall: Deadline, doing: str):
        self.limits, self.overall, self.doing = limits, overall, doing
        self.file = Deadline(limits.file_deadline, "per-file")
        self.started = time.monotonic()
        self.bytes = 0

    def remaining(self) -> float:
        """Seconds left before the nearer deadline (never below a small positive number)."""
        return max(0.01, min(self.file.remaining(), self.overall.remaining()))

    def check(self, received: int = 0) -> None:
        """Account `received` bytes and raise when a deadline passed or the rate is below the minimum."""
        self.bytes += received
        self.overall.check(self.doing)
        self.file.check(self.doing)
        elapsed = time.monotonic() - self.started
        if elapsed > self.limits.rate_window and self.bytes < self.limits.min_rate * elapsed:
            raise DeadlineExceeded(f"{self.doing}: transfer too slow ({self.bytes / elapsed:,.0f} bytes/s after "
                                   f"{elapsed:.0f} s, minimum {self.limits.min_rate:,.0f})")


class Watchdog:
    """Ends one HTTP request at a deadline by shutting its socket down, wherever the request is waiting.

    The HTTP client (httpx/httpcore) has no total timeout, and a blocked read cannot be interrupted from
    outside except through its socket. The socket is learnt from the client's documented `trace`
    extension when the connection is made (`extensions` to pass with the request); the request must
    therefore open its own connection (`Connection: close`, so none is ever reused). After `seconds` a
    timer shuts the socket down: the pending read returns at once and the client raises a transport
    error, which the caller turns into DeadlineExceeded when `fired` is set. (A request that took an idle
    connection other code left in huggingface_hub's pool, or a client factory whose transport is not
    httpcore's, gives no socket: it stays bounded by the read timeout between bytes only.)"""

    def __init__(self, seconds: float):
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    @property
    def extensions(self) -> dict:
        return {"trace": self._trace}

    def _trace(self, event: str, info: dict) -> None:
        if event not in ("connection.connect_tcp.complete", "connection.connect_unix_socket.complete"):
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the client
        sock.shutdown(socket.SHUT_RDWR)
