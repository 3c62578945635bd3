"""Benchmark: build the leaderboard site for every real card (target: under 30 s on a 2-core box).

    python bench/site_build.py [--realcards ../shared/data/realcards] [--repeat 3] [--scale 1]

Untimed set-up: the embedded samples (weights read) and every real card (metadata only) are audited
into a temporary reports folder; the audit time is printed separately. Timed: `build_site` alone
(load and validate reports, render every page, API file and badge, write and swap the folder),
repeated, and its parts. Baseline measured in the same run: loading and validating the reports,
the floor any build pays; the ratio says what rendering and writing cost on top. `--scale N`
copies every report N times under new repo ids to show how the build grows with the model count.
Exit status 1 when the median build misses the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openscore.atomic import write_text  # noqa: E402
from openscore.site import build_site, load_reports, render_site, write_site  # noqa: E402
from openscore.site.catalog import RubricCatalog  # noqa: E402
from openscore.cli.site import audit_defaults  # noqa: E402

TARGET_S = 30.0


def scale_reports(reports: Path, factor: int, *, models: int | None = None) -> None:
    """Add factor-1 copies of every report under repo ids `<org>/<name>-copyK` (at most `models` models in all)."""
    originals = load_reports(reports)
    budget = None if models is None else models - len(originals)
    for k in range(1, factor):
        for model in originals:
            if budget is not None and budget <= 0:
                return
            budget = None if budget is None else budget - 1
            for report in model.history:
                copy = report.model_copy(deep=True)
                copy.source.repo_id = f"{model.repo_id}-copy{k}"
                write_text(reports / f"{copy.source.repo_id}/{copy.source.sha}.json", copy.to_json())


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realcards", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "realcards")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    if not args.realcards.is_dir():
        print(f"real cards not found at {args.realcards}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="openscore-bench-site-") as scratch:
        reports, out = Path(scratch) / "reports", Path(scratch) / "site"
        audit_s, written = _timed(audit_defaults, reports, realcards=args.realcards)
        print(f"audit (untimed set-up): {len(written)} reports (2 samples with weights, {len(written) - 2} real cards metadata only) in {audit_s:.2f} s")
        if args.scale > 1:
            scale_reports(reports, args.scale)

        catalog = RubricCatalog.shipped()
        builds, loads, renders, writes = [], [], [], []
        for _ in range(args.repeat):
            build_s, built = _timed(build_site, reports, out, catalog=catalog)
            builds.append(build_s)
            load_s, models = _timed(load_reports, reports)
            render_s, files = _timed(render_site, models, catalog=catalog)
            write_s, _ = _timed(write_site, files, out)
            loads.append(load_s)
            renders.append(render_s)
            writes.append(write_s)
        size = sum(len(data) for data in files.values())
        build_med, load_med = statistics.median(builds), statistics.median(loads)
        print(f"site: {built.models} models, {built.pages} pages, {built.files} files, {size / 1e6:.1f} MB")
        print(f"build_site (load + render + write), median of {args.repeat}: {build_med:.2f} s (min {min(builds):.2f} s)")
        print(f"  parts, medians: load+validate {load_med:.2f} s, render {statistics.median(renders):.2f} s, write+swap {statistics.median(writes):.2f} s")
        print(f"  baseline (load+validate reports): {load_med:.2f} s; build / baseline = {build_med / load_med:.1f}x")
        print(f"  per model: {1000 * build_med / max(1, built.models):.1f} ms")
        verdict = "PASS" if build_med < TARGET_S else "FAIL"
        print(f"target: build under {TARGET_S:.0f} s: {verdict} ({build_med:.2f} s)")
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
