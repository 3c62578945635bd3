"""`python -m openscore.zoo DEST [--quick] [--only NAME ...]`: build the zoo and list its cases."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openscore.errors import OpenscoreError
from openscore.zoo import build


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m openscore.zoo", description=__doc__)
    ap.add_argument("dest", type=Path, help="folder to build (or reuse) the zoo in")
    ap.add_argument("--quick", action="store_true", help="only the test-suite subset")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these cases and what they are built from")
    args = ap.parse_args(argv)
    try:
        cases = build(args.dest, quick=args.quick, only=tuple(args.only) if args.only else None)
    except OpenscoreError as exc:
        print(f"openscore.zoo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for case in cases:
        truth = f"{case.relation} of {'+'.join(case.roots)}" if case.relation else "base"
        print(f"{case.name}\t{case.family}\t{case.weight_format}\t{truth}\t{case.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
