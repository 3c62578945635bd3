"""Licence identification and anchor scoring costs, against baselines measured in the same run.

  identify   openscore.licences.identify_text on every LICENSE-like file and every card of
             ../shared/data/realcards, against `identify.identify.license_id` (the choosealicense
             comparison alone, no AI fingerprints) on the same files: ratio openscore/baseline.
  osai       parse + total + dump of every OSAI database entry, against parsing the same files with
             libyaml alone (the ratio is openscore's overhead over reading the YAML at all).
  mot        load + classify of every MOT model file, against parsing the same files with libyaml alone.

Usage: python bench/licences.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import median_seconds  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _row(name: str, items: int, ours: float, base: float) -> None:
    print(f"{name:<9} {items:>5} files  openscore {ours * 1e3:8.1f} ms  baseline {base * 1e3:8.1f} ms  "
          f"ratio {ours / base:5.2f}  ({ours / items * 1e3:.2f} ms/file)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import yaml
    from identify.identify import license_id

    from openscore.anchors import mot, osai
    from openscore.licences import identify_text
    from openscore.rubrics import load_rubric

    cards = SHARED / "realcards"
    files = sorted(p for p in cards.rglob("*") if p.is_file() and p.suffix != ".pdf" and (
        p.name == "README.md" or any(k in p.name.upper() for k in ("LICEN", "NOTICE", "USE_POLICY"))))
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    identify_text(texts[0])  # warm the catalogue and the reference texts
    ours = median_seconds(lambda: [identify_text(t) for t in texts], args.repeat)
    base = median_seconds(lambda: [license_id(str(p)) for p in files], args.repeat)
    _row("identify", len(files), ours, base)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    rubric = load_rubric("osai-v3")
    entries = osai.entry_files(SHARED / "anchors" / "osai-main-database")
    ours = median_seconds(lambda: [osai.dump(e := osai.load(p), rubric) and osai.total(e, rubric) for p in entries], args.repeat)
    base = median_seconds(lambda: [yaml.load(p.read_text(encoding="utf-8"), Loader=loader) for p in entries], args.repeat)  # noqa: S506
    _row("osai", len(entries), ours, base)

    mof = load_rubric("mof")
    models = sorted((SHARED / "anchors" / "mot" / "models").glob("*.yml"))
    ours = median_seconds(lambda: [mot.classify(mot.load(p), mof) for p in models], args.repeat)
    base = median_seconds(lambda: [yaml.load(p.read_text(encoding="utf-8"), Loader=loader) for p in models], args.repeat)  # noqa: S506
    _row("mot", len(models), ours, base)


if __name__ == "__main__":
    main()
