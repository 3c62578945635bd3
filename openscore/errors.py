"""Typed errors, each with its own exit code, so the CLI never shows a traceback for bad input.

Exit codes are part of the public interface (documented in the README):
    2   usage or configuration error
    4   a batch audit in which some models failed (each has its own code in the run state)
    10  repository not found            11  revision not found
    12  gated repository (no access)    13  rate limited (after retries)
    14  offline / network unreachable   15  file not found in the repository
    16  invalid answer from the Hub     17  Hub server error (HTTP 5xx, after retries)
    18  deadline exceeded or transfer too slow
    20  invalid or hostile checkpoint   21  unsafe pickle detected
    22  nothing to analyse (no weights / no readable files)
The gate maps every "could not evaluate" error (10-18) to its own exit code 3.
"""

from __future__ import annotations


class OpenscoreError(Exception):
    """Base class: a one-line message and an exit code."""

    exit_code = 1
    #: True when the failure means "could not evaluate" rather than "evaluated and bad".
    evaluation_failure = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # one line, always
        return " ".join(self.message.split())


class UsageError(OpenscoreError):
    exit_code = 2


class ConfigError(UsageError):
    """A policy, rubric, override or registry file is invalid; message is `file:line: message`."""


class SourceError(OpenscoreError):
    evaluation_failure = True


class RepoNotFound(SourceError):
    exit_code = 10


class RevisionNotFound(SourceError):
    exit_code = 11


class GatedRepo(SourceError):
    exit_code = 12


class RateLimited(SourceError):
    exit_code = 13


class NetworkUnavailable(SourceError):
    exit_code = 14


class EntryNotFound(SourceError):
    exit_code = 15


class InvalidHubResponse(SourceError):
    """The endpoint answered something malformed: a sha that is not 40 hex, a negative size, a body
    that is not JSON, a 206 whose Content-Range is not the range asked for."""

    exit_code = 16


class HubServerError(SourceError):
    """HTTP 5xx from the endpoint after the retries."""

    exit_code = 17


class DeadlineExceeded(SourceError):
    """A request, file or audit ran past its deadline, or a transfer fell below the minimum rate."""

    exit_code = 18


class InvalidCheckpoint(OpenscoreError):
    """A weight file is malformed, truncated or hostile (bad safetensors header, broken GGUF...)."""

    exit_code = 20


class UnsafePickle(InvalidCheckpoint):
    exit_code = 21


class NothingToAnalyse(OpenscoreError):
    exit_code = 22


class InvalidReport(UsageError):
    """A saved audit report (reports/<org>/<name>/<sha>.json) is unreadable or not a valid AuditReport."""


class BatchIncomplete(OpenscoreError):
    """Some models of a batch could not be audited; the others were (the tally and run state say which)."""

    exit_code = 4
