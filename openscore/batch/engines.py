"""Where a batch's audits run: threads in this process, or Ray tasks on a cluster.

An engine takes a function and a lazy stream of tasks and yields `(task, result, error)` as tasks
finish, with a bounded number in flight, so memory stays bounded whatever the number of models. Audits
are network-bound: threads overlap their waits (the CPU part is bounded separately, see
openscore.batch.runner); Ray spreads them over machines when one is not enough. Neither schedules
anything itself beyond that window: the thread pool and Ray do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from itertools import islice
from typing import Any

from openscore.errors import UsageError

Finished = tuple[Any, Any, BaseException | None]


class ThreadEngine:
    """Threads in this process: `jobs` audits at once, and up to `CHECKS_PER_JOB` times as many tasks in
    flight, so the cheap "is this commit already reported?" checks (one request each) run ahead while
    audits hold their slots (`audit_slots`, taken by openscore.batch.runner.audit_task)."""

    name = "threads"
    CHECKS_PER_JOB = 4

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.window = self.jobs * self.CHECKS_PER_JOB
        self.audit_slots = threading.BoundedSemaphore(self.jobs)

    def run(self, fn: Callable[[Any], Any], tasks: Iterable) -> Iterator[Finished]:
        stream = iter(tasks)
        with ThreadPoolExecutor(max_workers=self.window, thread_name_prefix="openscore-audit") as pool:
            pending = {pool.submit(fn, task): task for task in islice(stream, self.window)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    error = future.exception()
                    yield task, (None if error else future.result()), error
                for task in islice(stream, self.window - len(pending)):
                    pending[pool.submit(fn, task)] = task

    def close(self) -> None:
        """Nothing to release."""


class RayEngine:
    """Ray tasks, `jobs` in flight, on the cluster at `address` (or a local Ray started here).

    Each task needs a share of a CPU such that all `jobs` tasks fit the cluster at once: audits wait
    on the network most of the time, and Ray's own accounting then keeps the CPU work within the cores.
    """

    name = "ray"

    def __init__(self, jobs: int, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise UsageError("--engine ray needs Ray: pip install 'openscore[ray]'") from None
        self.ray, self.jobs = ray, max(1, jobs)
        self._started = False
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            self._started = True
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.cpus_per_task = round(min(1.0, max(0.01, cpus / self.jobs)), 2)

    def run(self, fn: Callable[[Any], Any], tasks: Iterable) -> Iterator[Finished]:
        ray = self.ray
        remote = ray.remote(fn).options(num_cpus=self.cpus_per_task, max_retries=0)
        stream = iter(tasks)
        pending = {remote.remote(task): task for task in islice(stream, self.jobs)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    yield task, ray.get(ref), None
                except ray.exceptions.RayError as exc:  # the worker died or the task raised
                    yield task, None, exc
            for task in islice(stream, self.jobs - len(pending)):
                pending[remote.remote(task)] = task

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def make_engine(name: str, jobs: int, address: str | None = None):
    if name == "threads":
        if address is not None:
            raise UsageError("--address is for --engine ray")
        return ThreadEngine(jobs)
    if name == "ray":
        return RayEngine(jobs, address)
    raise UsageError(f"unknown engine {name!r} (threads, ray)")
