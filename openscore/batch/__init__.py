"""Audit many models: batch inputs, concurrency, failure isolation, resumable and incremental runs.

`run_batch(jobs, options, reports_dir, engine=make_engine("threads", 8))` audits every job (see
inputs: `read_list`, `hub_listing`), skips models whose commit already has a report, records each
outcome in the run state (state) and returns a BatchResult with the tally. docs/batch.md explains it.
"""

from openscore.batch.engines import RayEngine, ThreadEngine, make_engine
from openscore.batch.inputs import Job, hub_listing, read_list, unique
from openscore.batch.ratelimit import RateLimiter, limiter_for
from openscore.batch.runner import BatchOptions, BatchResult, audit_task, reported_shas, run_batch
from openscore.batch.state import Outcome, RunState

__all__ = [
    "BatchOptions", "BatchResult", "Job", "Outcome", "RateLimiter", "RayEngine", "RunState", "ThreadEngine",
    "audit_task", "hub_listing", "limiter_for", "make_engine", "read_list", "reported_shas", "run_batch", "unique",
]
