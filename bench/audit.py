"""What an audit costs without weights, against a baseline measured in the same run.

  audit     openscore.audit.audit(weights=False) over every folder of ../shared/data/realcards
            (52 real model repositories: cards, configs, licences, LFS pointers), all four rubrics;
  baseline  what no audit can avoid: open the same sources, list their inventory, and read every
            text file the collectors read (card, config, licence texts).
Also split: evidence collection alone, and grading + findings (the rest).

Usage: python bench/audit.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import median_seconds  # noqa: E402

REALCARDS = ROOT / ".." / "shared" / "data" / "realcards"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from openscore.audit import audit
    from openscore.evidence import collect
    from openscore.evidence.licence_files import LICENCE_FILE
    from openscore.sources import open_source

    folders = sorted(str(p) for p in REALCARDS.resolve().iterdir() if p.is_dir())
    if not folders:
        sys.exit(f"no reference data at {REALCARDS}")

    def baseline() -> None:
        for folder in folders:
            source = open_source(folder)
            inventory = source.inventory()
            for entry in inventory.files:
                if entry.present and (entry.path in ("README.md", "config.json") or LICENCE_FILE.match(entry.path)):
                    source.read_text(entry.path, max_bytes=1_000_000)

    def evidence_only() -> None:
        for folder in folders:
            source = open_source(folder)
            collect(source, source.inventory())

    def full() -> None:
        for folder in folders:
            audit(folder, weights=False)

    full()  # warm: imports, rubric and licence tables, regex compilation
    t_base, t_evidence, t_full = (median_seconds(fn, args.repeat) for fn in (baseline, evidence_only, full))
    n = len(folders)
    print(f"{n} real repositories, median of {args.repeat} runs")
    print(f"  baseline (inventory + text reads) {1000 * t_base / n:8.2f} ms/model")
    print(f"  evidence collection               {1000 * t_evidence / n:8.2f} ms/model  ({t_evidence / t_base:5.1f}x baseline)")
    print(f"  full audit, 4 rubrics, no weights {1000 * t_full / n:8.2f} ms/model  ({t_full / t_base:5.1f}x baseline)")
    print(f"  grading + findings share          {100 * (t_full - t_evidence) / t_full:8.1f} % of the audit")


if __name__ == "__main__":
    main()
