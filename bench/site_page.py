"""Benchmark: the leaderboard page for 500 models: its weight (< 1.5 MB) and its render time in headless Chromium (< 1 s).

    python bench/site_page.py [--models 500] [--realcards ../shared/data/realcards] [--repeat 5]

Untimed set-up: the samples and the real cards (metadata only) are audited, then copied under new
repo ids until there are --models models, and the site is built. Page weight: index.html plus
every file it loads (stylesheet, script, icon). Render time: Chromium's navigation timing, from the
request to the end of the load event (the script has sorted and filtered by then), and the first
contentful paint; median of --repeat cold loads. Baseline measured in the same run: the same page
for the unscaled reports, so the ratio shows how the page grows with the model count.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import browser as chrome  # noqa: E402
from bench.site_build import scale_reports  # noqa: E402
from openscore.cli.site import audit_defaults  # noqa: E402
from openscore.site import build_site  # noqa: E402

WEIGHT_TARGET, RENDER_TARGET_MS = 1.5e6, 1000.0
_TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByName('first-contentful-paint')[0];
return [nav.loadEventEnd - nav.startTime, paint ? paint.startTime : null, document.querySelectorAll('#leaderboard tbody tr').length];
"""


def page_weight(site: Path) -> int:
    """Bytes of index.html and of every local file it references (src/href into static/)."""
    html = (site / "index.html").read_bytes()
    loaded = set(re.findall(rb'(?:src|href)="(static/[^"]+)"', html))
    return len(html) + sum((site / name.decode()).stat().st_size for name in loaded)


def render_ms(driver, url: str, repeat: int) -> tuple[float, float, int]:
    loads, paints, rows = [], [], 0
    for _ in range(repeat):
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.get("about:blank")
        driver.get(url)
        load, paint, rows = driver.execute_script(_TIMING)
        loads.append(load)
        paints.append(paint or 0.0)
    return statistics.median(loads), statistics.median(paints), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--realcards", type=Path, default=ROOT / ".." / "shared" / "data" / "realcards")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if chrome.binaries() is None:
        print(chrome.MISSING, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="openscore-bench-page-") as scratch:
        root = Path(scratch)
        reports = root / "reports"
        audit_defaults(reports, realcards=args.realcards if args.realcards.is_dir() else None,
                           ids=ROOT / "examples" / "realcards.list" if args.realcards.is_dir() else None)
        base = build_site(reports, root / "base")
        scale_reports(reports, -(-args.models // base.models), models=args.models)
        big = build_site(reports, root / "big")
        driver = chrome.chromium(root / "profile", width=1400, height=900)
        try:
            driver.execute_cdp_cmd("Network.enable", {})
            url, server = chrome.serve(root)
            base_load, base_paint, base_rows = render_ms(driver, url + "base/index.html", args.repeat)
            load, paint, rows = render_ms(driver, url + "big/index.html", args.repeat)
            server.shutdown()
        finally:
            driver.quit()
        weight, base_weight = page_weight(big.out), page_weight(base.out)
    print(f"leaderboard for {rows} models: {weight / 1e6:.2f} MB (index.html + static files it loads)")
    print(f"  baseline, {base_rows} models: {base_weight / 1e6:.3f} MB; {weight / base_weight:.1f}x for {rows / base_rows:.1f}x the models")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall-clock figures stretch with it)")
    print(f"render in headless Chromium, median of {args.repeat} cold loads: load event {load:.0f} ms, first contentful paint {paint:.0f} ms")
    print(f"  baseline, {base_rows} models: load event {base_load:.0f} ms, first contentful paint {base_paint:.0f} ms; ratio {load / base_load:.1f}x")
    ok_weight, ok_render = weight < WEIGHT_TARGET, load < RENDER_TARGET_MS
    print(f"target: page weight under {WEIGHT_TARGET / 1e6:.1f} MB: {'PASS' if ok_weight else 'FAIL'}")
    print(f"target: render under {RENDER_TARGET_MS:.0f} ms: {'PASS' if ok_render else 'FAIL'}")
    return 0 if ok_weight and ok_render else 1


if __name__ == "__main__":
    sys.exit(main())
