"""Run a batch of audits: skip what is unchanged, isolate failures, write reports, keep the run state.

A task (one model) runs `audit_task` in a worker (a thread, or a Ray task elsewhere) and comes back
as an Outcome carrying its report's JSON; the driver alone writes reports (atomically) and the run
state, so a kill never tears either. A model whose commit sha already has a report is `unchanged`
and costs one API call; `force` audits it again. A model that fails becomes a `failed` outcome with
its error class and exit code, and the batch goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path

from openscore.batch.inputs import Job
from openscore.batch.state import DEFAULT_STATE, Outcome, RunState, inputs_digest
from openscore.errors import BatchIncomplete, OpenscoreError, UsageError
from openscore.read_budget import DEFAULT_READ_BUDGET, ReadBudget

#: fingerprints of local folders at once in one process: each already keeps two worker threads busy.
#: A Hub model's fingerprint waits on Range requests between its tensors, so it takes no slot: holding
#: one across those waits would serialise the network, which is what the batch overlaps.
CPU_SLOTS = max(1, (os.cpu_count() or 1) // 2)
_cpu = threading.BoundedSemaphore(CPU_SLOTS)
#: failures that depend only on the files at a commit: the same sha fails the same way again
CONTENT_FAILURES = frozenset({20, 21, 22})


@dataclass(frozen=True)
class BatchOptions:
    """How every model of the batch is audited (what `openscore audit` passes on)."""

    endpoint: str | None = None
    token: str | bool | None = None
    weights: bool = True
    sample: bool = False
    rubrics: tuple[str, ...] = ()
    overrides_dir: str | None = None
    force: bool = False
    max_rps: float | None = None  # steady pace of requests per endpoint; None: only when the server asks
    linked: bool = False  # also read what the card links (openscore.evidence.linked)
    read_budget: ReadBudget | None = DEFAULT_READ_BUDGET  # bounds a sampled fingerprint's reads

    def report_options(self) -> dict:
        """What shapes a report: a report made with other values is not current, whatever its commit."""
        budget = {"read_budget": self.read_budget.key if self.read_budget else None} if self.sample else {}
        return {"endpoint": self.endpoint, "weights": self.weights, "sample": self.sample,
                "rubrics": sorted(self.rubrics), "overrides": self.overrides_dir, "linked": self.linked, **budget}

    def fingerprint(self) -> dict:
        """What makes two runs the same run (the token is left out: it is a secret, not a choice)."""
        return {**self.report_options(), "force": self.force}


@dataclass(frozen=True)
class Task:
    """One job as it travels to a worker: the job, the repo id it should report and its shas already reported."""

    job: Job
    repo_hint: str | None
    known_shas: frozenset[str]
    options: BatchOptions
    known_failures: tuple[tuple[str, int, str, str], ...] = ()  # (sha, exit code, error class, message)


def reported_shas(reports_dir: Path, repo_id: str | None) -> frozenset[str]:
    """Commit shas that already have a report under `reports_dir/<org>/<name>/`."""
    if not repo_id or repo_id.count("/") != 1 or ".." in repo_id.split("/"):
        return frozenset()
    folder = Path(reports_dir) / repo_id
    return frozenset(p.stem for p in folder.glob("*.json")) if folder.is_dir() else frozenset()


def audit_task(task: Task, progress: Callable[[str], None] | None = None,
               byte_progress: Callable[[int, int], None] | None = None,
               audit_slot: AbstractContextManager | None = None) -> Outcome:
    """Audit one model (in whatever worker runs it); never raises for the model's own failures.

    `audit_slot` is held for the audit itself, not for the check that the commit is already reported:
    the thread engine runs more checks than audits at once."""
    from openscore.audit import audit_source, report_path
    from openscore.sources import open_source

    options, started = task.options, time.monotonic()
    ref = None
    try:
        source = open_source(task.job.spec, endpoint=options.endpoint, token=options.token,
                             identity=task.job.identity, limiter=_limiter(options))
        ref = source.ref  # one API call on the Hub, a content digest of a folder
        if not options.force and ref.repo_id == task.repo_hint:
            if ref.sha in task.known_shas:
                return Outcome(task.job.key, "unchanged", ref.repo_id, ref.sha, f"{ref.repo_id}/{ref.sha}.json",
                               seconds=time.monotonic() - started)
            for sha, code, name, message in task.known_failures:
                if sha == ref.sha:  # the same files fail the same way: say so again without reading them
                    return Outcome(task.job.key, "failed", ref.repo_id, ref.sha, exit_code=code, error_class=name,
                                   error=message, seconds=time.monotonic() - started)
        with audit_slot or nullcontext():
            report = audit_source(source, token=options.token, weights=options.weights, sample=options.sample,
                                  rubrics=options.rubrics or None,
                                  overrides_dir=Path(options.overrides_dir) if options.overrides_dir else None,
                                  progress=progress, byte_progress=byte_progress, linked=options.linked,
                                  read_budget=options.read_budget,
                                  cpu=_cpu if ref.kind != "hub" else None)
        unsafe = [f.message for f in report.findings if f.id == "unsafe-pickle" and f.severity == "error"]
        return Outcome(task.job.key, "audited", ref.repo_id, ref.sha, report_path(report, Path()).as_posix(),
                       seconds=time.monotonic() - started, unsafe_pickle=unsafe[0] if unsafe else None,
                       text=report.to_json())
    except Exception as exc:  # noqa: BLE001 - one model's failure (or bug) must not end the batch
        return failure(task, exc, time.monotonic() - started, ref)


def failure(task: Task, exc: BaseException, seconds: float = 0.0, ref=None) -> Outcome:
    """The failed outcome of `task`: the error's class and exit code (1 and `internal error` for a bug)."""
    code = exc.exit_code if isinstance(exc, OpenscoreError) else 1
    name = type(exc).__name__ if isinstance(exc, OpenscoreError) else f"internal error ({type(exc).__name__})"
    return Outcome(task.job.key, "failed", ref.repo_id if ref else None, ref.sha if ref else None, exit_code=code,
                   error_class=name, error=str(exc) or type(exc).__name__, seconds=seconds)


def _limiter(options: BatchOptions):
    from huggingface_hub import constants

    from openscore.batch.ratelimit import limiter_for

    return limiter_for(options.endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT, options.max_rps)


@dataclass
class BatchResult:
    """Every outcome of the run (without report texts), the models resumed past, and the time taken."""

    total: int
    outcomes: list[Outcome] = field(default_factory=list)
    resumed: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def failed_by_class(self) -> dict[str, int]:
        """`"<exit code> <error class>"` -> number of models, most frequent first."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            if o.status == "failed":
                label = f"{o.exit_code} {o.error_class}"
                counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def tally(self) -> dict:
        return {"total": self.total, "audited": self.count("audited"), "unchanged": self.count("unchanged"),
                "failed": self.count("failed"), "resumed": self.resumed, "failed_by_class": self.failed_by_class(),
                "seconds": round(self.seconds, 3)}

    def error(self) -> OpenscoreError | None:
        """What the batch exits with: a lone model's own error; else BatchIncomplete (exit 4) when any
        model failed; else UnsafePickle (21) when an audited model imports dangerous globals; else None."""
        failed = [o for o in self.outcomes if o.status == "failed"]
        if failed and self.total == 1:
            error = OpenscoreError(failed[0].error or "failed")
            error.exit_code = failed[0].exit_code
            return error
        if failed:
            classes = ", ".join(f"{label}: {n}" for label, n in self.failed_by_class().items())
            return BatchIncomplete(f"{len(failed)} of {self.total} models could not be audited ({classes})")
        unsafe = [o.unsafe_pickle for o in self.outcomes if o.unsafe_pickle]
        if unsafe:
            from openscore.errors import UnsafePickle

            return UnsafePickle(unsafe[0])
        return None


def run_batch(
    jobs: Sequence[Job],
    options: BatchOptions,
    reports_dir: Path,
    *,
    engine,
    state_path: Path | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    progress: Callable[[str], None] | None = None,
    byte_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Audit `jobs` on `engine` (openscore.batch.engines), resuming an interrupted identical run.

    `on_start(to_do, resumed)` is called once the state says what is left; `on_outcome` after each
    model's report and state line are written (`outcome.text` is then None); `progress` and
    `byte_progress` receive the step lines and fingerprint bytes of a thread engine's audits."""
    if not jobs:
        raise UsageError("nothing to audit: no sources given and the lists are empty")
    reports_dir = Path(reports_dir)
    # one model has nothing to resume: it records no state (and a failure leaves no trace on disk)
    state = RunState(state_path or reports_dir / DEFAULT_STATE, write=len(jobs) > 1)
    report_options = inputs_digest([], options.report_options())
    done = state.begin(inputs_digest([j.key for j in jobs], options.fingerprint()), len(jobs), report_options)
    failures = state.content_failures(CONTENT_FAILURES)
    current = state.audited_with(report_options)
    todo = [job for job in jobs if job.key not in done]
    result = BatchResult(total=len(jobs), resumed=len(jobs) - len(todo))
    if on_start:
        on_start(len(todo), result.resumed)
    started = time.monotonic()
    slots = getattr(engine, "audit_slots", None)  # a thread engine's; a Ray task is one audit anyway
    fn = audit_task if progress is byte_progress is slots is None else partial(
        audit_task, progress=progress, byte_progress=byte_progress, audit_slot=slots)
    tasks = (_task(job, options, reports_dir, failures, current) for job in todo)  # lazy: pulled as slots free up
    for task, outcome, error in engine.run(fn, tasks):
        if error is not None:
            outcome = failure(task, error)
        if outcome.text is not None:
            _write(reports_dir, outcome)
        state.record(outcome)
        result.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    result.seconds = time.monotonic() - started
    state.end(result.tally())
    return result


def _task(job: Job, options: BatchOptions, reports_dir: Path, failures: dict[str, list],
          current: dict[str, set[str]]) -> Task:
    """The job with what is known of its repo: shas with a report made with these options, and failures."""
    hint = job.repo_hint()
    known = reported_shas(reports_dir, hint) & current.get(hint or "", set())
    return Task(job, hint, known, options, tuple(failures.get(hint or "", ())))


def _write(reports_dir: Path, outcome: Outcome) -> None:
    from openscore.atomic import write_text

    relative = Path(outcome.report or "")
    if relative.is_absolute() or ".." in relative.parts or len(relative.parts) != 3:
        raise UsageError(f"refusing to write a report at {outcome.report!r}")
    write_text(reports_dir / relative, outcome.text)
    outcome.text = None
