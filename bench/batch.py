"""Batch audit throughput against the fake Hub: models per minute by --jobs and engine, and incremental reruns.

    python bench/batch.py [--repos 200] [--latency 0.1] [--no-ray]

Serves `--repos` repositories (a few hostile, gated and missing) from tests/fakehub.py with `--latency`
seconds added to every answer, then audits them (weights read) with the thread engine at --jobs 1, 4
and 16 and with --engine ray, each run in a fresh reports folder and a fresh Hub cache. Slow
configurations audit an evenly spread subset (a rate is a rate); the 16-job run audits every repo and is
the "first run" that a second run over the same reports, with nothing changed, is compared with.
Peak memory is the largest resident set sampled during each run, above the process's before it.
The fake Hub runs in a process of its own, as a real Hub would not share the auditing process's CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def peak_rss():
    """Yields a list that ends up holding the peak RSS growth (MiB) while the block ran."""
    before, peak, stop = rss_mib(), [0.0], threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_mib() - before)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], rss_mib() - before)


def serve(conn, root: str, repos: int, few: int) -> None:
    """The fake Hub in a process of its own, as the real Hub is: its work does not share our GIL."""
    from tests.fakehub import FakeHub
    from tests.fleet import serve_fleet

    hub = FakeHub()
    fleet = serve_fleet(hub, Path(root), repos, hostile=few, gated=few, missing=few)
    conn.send((hub.endpoint, fleet.all))
    while (message := conn.recv()) is not None:  # ("latency", seconds) until None
        hub.latency = message[1]
        conn.send("ok")
    hub.close()


def run(label: str, names: list[str], jobs: int, engine, endpoint: str, work: Path, reports: Path | None = None):
    from openscore.batch import BatchOptions, Job, run_batch

    os.environ["HF_HOME"] = str(Path(tempfile.mkdtemp(dir=work, prefix="hf-")))  # no cache shared between runs
    reports = reports or Path(tempfile.mkdtemp(dir=work, prefix="reports-"))
    with peak_rss() as peak:
        started = time.perf_counter()
        result = run_batch([Job(n) for n in names], BatchOptions(endpoint=endpoint, token=False), reports,
                           engine=engine)
        seconds = time.perf_counter() - started
    t = result.tally()
    rate = len(names) / seconds * 60
    print(f"{label:<18} {len(names):>4} models  {seconds:7.2f} s  {rate:8.1f} models/min  peak +{peak[0]:6.1f} MiB  "
          f"audited {t['audited']}, unchanged {t['unchanged']}, failed {t['failed']} {t['failed_by_class']}",
          flush=True)
    return rate, seconds, reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--j1-models", type=int, default=20, help="models audited by the --jobs 1 run")
    parser.add_argument("--j4-models", type=int, default=50, help="models audited by the --jobs 4 run")
    parser.add_argument("--ray-models", type=int, default=50, help="models audited by the Ray run")
    parser.add_argument("--ray-jobs", type=int, default=16)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    import multiprocessing

    from openscore.batch import make_engine

    with tempfile.TemporaryDirectory(prefix="openscore-bench-batch-") as tmp:
        work = Path(tmp)
        few = max(1, args.repos // 60)
        conn, child_conn = multiprocessing.get_context("fork").Pipe()
        server = multiprocessing.get_context("fork").Process(
            target=serve, args=(child_conn, str(work / "fleet"), args.repos, few), daemon=True)
        server.start()
        if not conn.poll(300):
            raise SystemExit("the fake Hub process did not start")
        endpoint, names = conn.recv()

        def set_latency(seconds: float) -> None:
            conn.send(("latency", seconds))
            conn.recv()

        def spread(n: int) -> list[str]:
            step = max(1, len(names) // n)
            return names[::step][:n]

        print(f"fake Hub: {args.repos} repos ({few} hostile, {few} gated, {few} missing), "
              f"{args.latency * 1000:.0f} ms added per request; {os.cpu_count()} CPUs")
        run("warm-up", names[:2], 1, make_engine("threads", 1), endpoint, work)  # imports, registry load
        set_latency(args.latency)
        one, _, _ = run("threads --jobs 1", spread(args.j1_models), 1, make_engine("threads", 1), endpoint, work)
        run("threads --jobs 4", spread(args.j4_models), 4, make_engine("threads", 4), endpoint, work)
        sixteen, first, reports = run("threads --jobs 16", names, 16, make_engine("threads", 16), endpoint, work)
        _, second, _ = run("second run, same", names, 16, make_engine("threads", 16), endpoint, work, reports)
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                print("ray: not installed (pip install 'openscore[ray]'); skipped")
            else:
                started = time.perf_counter()
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False, _node_ip_address="127.0.0.1")
                print(f"ray: local instance started in {time.perf_counter() - started:.1f} s")
                engine = make_engine("ray", args.ray_jobs)
                run("ray (warm-up)", spread(args.ray_jobs), args.ray_jobs, engine, endpoint, work)
                run(f"ray --jobs {args.ray_jobs}", spread(args.ray_models), args.ray_jobs, engine, endpoint, work)
                ray.shutdown()
                print("  (ray: peak is the driver's; each worker is a process of its own)")
        conn.send(None)
        server.join()
    print(f"scaling: --jobs 16 / --jobs 1 = {sixteen / one:.1f}x (target >= 8x)")
    print(f"unchanged rerun: {second:.2f} s = {second / first * 100:.1f} % of the first run's {first:.2f} s "
          f"(target < 5 %)")


if __name__ == "__main__":
    main()
