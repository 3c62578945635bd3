"""Screenshots of the built site at 1400 and 400 px: leaderboard, a model page, lineage and the charts.

    python bench/screenshots.py [--reports DIR] [--out docs/screenshots]

Without --reports the embedded samples and the real cards beside the checkout (../shared/data/realcards,
metadata only) are audited first, as `openscore site build --with-realcards` does, so the pictures
show real models. Each page is shot at the top of its viewport (1400x900 and 400x860 CSS px), which
keeps the PNGs small. docs/screenshots/ holds the committed set; CI writes a fresh set under
artifacts/screenshots/ (see docs/site.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import browser as chrome  # noqa: E402
from openscore.site import build_site  # noqa: E402

#: (name, page, fragment): the model page is the first derivative with a layer plot, else the first model.
WIDTHS = {"1400": (1400, 900), "400": (400, 860)}
PAGES = ("leaderboard", "model", "lineage", "charts")


def _model_page(site: Path) -> str:
    pages = sorted(site.glob("models/*/*.html"))
    preferred = [p for p in pages if "tiny-llama-shell" in p.name] or [p for p in pages if b"chart-layer-map" in p.read_bytes()]
    return (preferred or pages)[0].relative_to(site).as_posix()


def shoot(site: Path, out: Path) -> list[Path]:
    urls = {"leaderboard": "index.html", "model": _model_page(site), "lineage": "lineage.html", "charts": "charts.html"}
    base, server = chrome.serve(site)
    written = []
    with tempfile.TemporaryDirectory(prefix="openscore-shots-") as profile:
        driver = chrome.chromium(Path(profile))
        try:
            for label, (width, height) in WIDTHS.items():
                chrome.set_width(driver, width, height)
                for name in PAGES:
                    driver.get(base + urls[name])
                    if name == "leaderboard" and width < 700:  # the cards, not the method text above them
                        driver.execute_script("document.getElementById('leaderboard').scrollIntoView()")
                    target = out / f"{name}-{label}.png"
                    target.write_bytes(driver.get_screenshot_as_png())
                    written.append(target)
        finally:
            driver.quit()
            server.shutdown()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=None)
    parser.add_argument("--realcards", type=Path, default=ROOT / ".." / "shared" / "data" / "realcards")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if chrome.binaries() is None:
        print(chrome.MISSING, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openscore-shots-site-") as scratch:
        reports = args.reports
        if reports is None:
            from openscore.cli.site import audit_defaults

            reports = Path(scratch) / "reports"
            audit_defaults(reports, realcards=args.realcards if args.realcards.is_dir() else None,
                           ids=ROOT / "examples" / "realcards.list" if args.realcards.is_dir() else None)
        built = build_site(reports, Path(scratch) / "site")
        for path in shoot(built.out, args.out):
            print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
