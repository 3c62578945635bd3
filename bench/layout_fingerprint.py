"""What the layout fingerprint costs on the largest real tensor lists, against reading them, in one run.

For each repo of ../shared/data/realcards with an index, measures (median of --repeat runs):
  baseline   read_checkpoint (inventory + index parse: the cost of knowing the names at all)
  layout     build_layout on those headers (scheme scoring, roles, shapes, signatures)
  renames    find_renames against the scheme
and prints tensors, the times, the ratio layout/baseline and microseconds per tensor.

Usage: python bench/layout_fingerprint.py [--repeat 5] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_seconds(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--realcards", default=str(ROOT.parent / "shared" / "data" / "realcards"))
    args = parser.parse_args()

    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout, find_renames
    from openscore.sources import open_source

    folders = sorted({p.parent for p in Path(args.realcards).glob("*/*.index.json")})
    if args.only:
        folders = [f for f in folders if f.name in args.only]
    print(f"{'repo':48} {'tensors':>7} {'read ms':>8} {'layout ms':>9} {'renames ms':>10} {'ratio':>6} {'us/tensor':>9}")
    ratios = []
    for folder in folders:
        source = open_source(str(folder))
        inventory = source.inventory()
        read_s, headers = _median_seconds(lambda: read_checkpoint(source, inventory), args.repeat)
        layout_s, layout = _median_seconds(lambda: build_layout(headers), args.repeat)
        renames_s, _ = _median_seconds(lambda: find_renames(layout), args.repeat)
        n = len(headers.tensors)
        ratios.append(layout_s / read_s)
        print(f"{folder.name[:48]:48} {n:7d} {read_s * 1e3:8.1f} {layout_s * 1e3:9.1f} {renames_s * 1e3:10.2f} "
              f"{layout_s / read_s:6.2f} {layout_s / n * 1e6:9.1f}")
    if ratios:
        print(f"median layout/read ratio: {statistics.median(ratios):.2f} over {len(ratios)} repos")


if __name__ == "__main__":
    main()
