"""The run state of batch audits: a JSON-lines journal beside the reports, appended one line per model.

Lines (each a JSON object with `run`, the run id, and `event`):
  {"event": "start", "inputs": <digest of the jobs and options>, "options": <digest of the report options>,
   "total": N}
  {"event": "model", "key": ..., "status": "audited"|"unchanged"|"failed", "repo_id", "sha", "report",
   "exit_code", "error_class", "error", "unsafe_pickle"}
  {"event": "end", "tally": {...}}

The run id is `<inputs digest>-<number of the run>` and no line holds a time, so a `--jobs 1` run over
the same inputs writes the same bytes (with more jobs, models are recorded in the order they finish).

A model's line is written after its report, in one `write` on a file opened for appending: a run
killed at any moment leaves whole reports and at most one torn last line, which reading skips. Lines
are not fsynced (that cost 5 ms a model in the driver's loop): a crash of the whole machine may lose
the last lines, and those models are then looked at again, which their reports make cheap. A run that has a start but no end was interrupted; the next run over the same jobs and
options resumes it, skipping every model it already audited or found unchanged (failures are tried
again). Reports themselves stay the record of what was audited at which sha.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from openscore.errors import UsageError
from openscore.safeio import open_regular

#: the run journal is read whole at the start of a run: a line per model and run, about 200 bytes
MAX_JOURNAL_BYTES = 256 << 20
MAX_LINE_BYTES = 64 * 1024

#: where the state lives by default, under the reports folder (hidden: the site skips it)
DEFAULT_STATE = Path(".openscore") / "batch-state.jsonl"
DONE = ("audited", "unchanged")


@dataclass
class Outcome:
    """What became of one job."""

    key: str
    status: str  # audited | unchanged | failed
    repo_id: str | None = None
    sha: str | None = None
    report: str | None = None  # path of the report, relative to the reports folder
    exit_code: int = 0
    error_class: str | None = None  # the openscore error's class name (RepoNotFound, InvalidCheckpoint...)
    error: str | None = None
    seconds: float = 0.0
    unsafe_pickle: str | None = None  # the finding's message when the audit found a dangerous pickle
    text: str | None = field(default=None, repr=False)  # the report JSON, carried from worker to driver


def inputs_digest(keys: Iterable[str], options: dict) -> str:
    """Identifies what a run audits and how, so only the same run is resumed."""
    doc = {"jobs": list(keys), "options": options}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class RunState:
    """The journal of one reports folder; `begin()` starts or resumes a run."""

    def __init__(self, path: Path, *, write: bool = True):
        self.path = Path(path)
        self.write = write  # False: read what earlier runs did, record nothing (a run of one model)
        self.run_id: str | None = None
        self.resumed = False

    def _lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open_regular(self.path, what="run journal") as fh:  # a FIFO would block for ever
            if os.fstat(fh.fileno()).st_size > MAX_JOURNAL_BYTES:
                raise UsageError(f"{self.path}: the run journal is larger than the {MAX_JOURNAL_BYTES:,}-byte "
                                 "limit; move it away to start afresh")
            for raw in iter(lambda: fh.readline(MAX_LINE_BYTES), b""):  # a longer line is torn: skipped
                try:
                    line = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue  # a line torn by a kill
                if isinstance(line, dict) and isinstance(line.get("run"), str):
                    out.append(line)
        return out

    def begin(self, digest: str, total: int, options: str = "") -> set[str]:
        """Start a run, or resume the interrupted one over the same inputs; the keys already done."""
        lines = self._lines()
        starts = [line for line in lines if line.get("event") == "start"]
        last = starts[-1] if starts else None
        if self.write and last is not None and last.get("inputs") == digest and not any(
            line.get("event") == "end" and line["run"] == last["run"] for line in lines
        ):
            self.run_id, self.resumed = last["run"], True
            return {line["key"] for line in lines if line["run"] == self.run_id and line.get("event") == "model"
                    and line.get("status") in DONE and isinstance(line.get("key"), str)}
        self.run_id, self.resumed = f"{digest[:12]}-{len(starts) + 1}", False
        self._append({"event": "start", "inputs": digest, "options": options, "total": total})
        return set()

    def audited_with(self, options: str) -> dict[str, set[str]]:
        """repo id -> commit shas audited (or found unchanged) by runs whose report options digest was
        `options`: a report made with other options (rubrics, weights, linked evidence) is not current."""
        lines = self._lines()
        runs = {line["run"] for line in lines if line.get("event") == "start" and line.get("options") == options}
        found: dict[str, set[str]] = {}
        for line in lines:
            if line.get("event") == "model" and line["run"] in runs and line.get("status") in DONE \
                    and isinstance(line.get("repo_id"), str) and isinstance(line.get("sha"), str):
                found.setdefault(line["repo_id"], set()).add(line["sha"])
        return found

    def content_failures(self, codes: frozenset[int]) -> dict[str, list[tuple[str, int, str, str]]]:
        """repo id -> (sha, exit code, error class, message) of earlier failures with one of `codes`:
        failures that the files at that sha cause, so auditing the same sha again would repeat them."""
        found: dict[str, dict[str, tuple[str, int, str, str]]] = {}
        for line in self._lines():
            if line.get("event") != "model" or not isinstance(line.get("repo_id"), str) or \
                    not isinstance(line.get("sha"), str):
                continue
            shas = found.setdefault(line["repo_id"], {})
            if line.get("status") == "failed" and line.get("exit_code") in codes:
                shas[line["sha"]] = (line["sha"], line["exit_code"], str(line.get("error_class")),
                                     str(line.get("error")))
            else:
                shas.pop(line["sha"], None)  # audited since (with --force, or a fixed openscore)
        return {repo: list(shas.values()) for repo, shas in found.items() if shas}

    def record(self, outcome: Outcome) -> None:
        doc = {k: v for k, v in asdict(outcome).items() if k not in ("text", "seconds")}
        self._append({"event": "model", **doc})

    def end(self, tally: dict) -> None:
        self._append({"event": "end", "tally": {k: v for k, v in tally.items() if k != "seconds"}})

    def _append(self, doc: dict) -> None:
        if self.run_id is None:
            raise UsageError("run state: begin() a run before recording it")
        if not self.write:
            return
        data = (json.dumps({"run": self.run_id, **doc}, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                data = b"\n" + data  # after a torn line: start a fresh one
            os.write(fd, data)  # in the kernel once written: a killed process loses nothing
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
