"""Hostile input at scale: growth of the per-item cost, and the generated hostile corpus.

  tensors  read headers + layout + full fingerprint of a checkpoint of N tiny (2x2 F32) tensors, at two
           sizes: the time per tensor should stay flat (linear work); a quadratic queue shows as a
           per-tensor time growing with N. First, at the smaller size, the two loops made fast against the
           old way in the same run (baselines). Then the whole audit of the same checkpoints, the report
           (one entry per tensor) written.
  card     the card collector (front matter, sections, links) over a README of K KB of headings and
           paragraphs, at two sizes (cards over 4 MB are not read at all): the time per KB should stay flat.
  gate     run_gate over N saved reports against a policy listing the N models and N waivers, at two
           sizes: the time per model should stay flat (entries and waivers are looked up by name).
  corpus   every case of tests/hostile_corpus.py (generated, nothing committed), run first so that the
           peak RSS growth is the cases' own: cases tried, clean, the slowest and the largest (peak RSS
           growth, input size).

Usage: python bench/hostile.py [--tensors 30000,300000] [--card-kb 380,3800] [--gate 500,5000] [--no-corpus]
                              [--no-audit]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def tiny_checkpoint(count: int, folder: Path) -> Path:
    """A llama-named checkpoint of `count` 2x2 F32 tensors (a config of 2 blocks, names up to count/3)."""
    import numpy as np
    from safetensors.numpy import save_file

    from tests import checkpoint_builders as build

    if not (folder / "model.safetensors").exists():
        build.write_config(folder)
        tensors = {f"model.layers.{i // 3}.mlp.{('up', 'down', 'gate')[i % 3]}_proj.weight":
                   np.full((2, 2), i, np.float32) for i in range(count)}
        save_file(tensors, str(folder / "model.safetensors"))
    return folder


def tensors_seconds(count: int, folder: Path) -> float:
    """Headers, layout and full fingerprint of `count` tiny tensors; prints the time of each step."""
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source
    from openscore.weights import fingerprint

    tiny_checkpoint(count, folder)
    cpu, started = time.process_time(), time.perf_counter()
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    read = time.perf_counter()
    layout = build_layout(headers)
    built = time.perf_counter()
    fp = fingerprint(source, headers, layout, device="cpu")
    done = time.perf_counter()
    assert len(fp.tensors) == count
    print(f"  {count} tensors: headers {read - started:.2f} s, layout {built - read:.2f} s, "
          f"fingerprint {done - built:.2f} s; CPU {time.process_time() - cpu:.2f} s (all threads)", flush=True)
    return done - started


def audit_seconds(count: int, folder: Path) -> float:
    """`openscore audit` of `count` tiny tensors as the library runs it, the report written."""
    from openscore.audit import audit, write_report

    tiny_checkpoint(count, folder)
    cpu, started = time.process_time(), time.perf_counter()
    report = audit(str(folder), identity=f"bench/t{count}")
    audited = time.perf_counter()
    path = write_report(report, folder.parent / f"reports-{count}")
    done = time.perf_counter()
    assert len(report.layout["tensors"]) == count
    print(f"  {count} tensors: audit {audited - started:.2f} s, report written {done - audited:.2f} s "
          f"({path.stat().st_size / 2**20:.0f} MiB); CPU {time.process_time() - cpu:.2f} s (all threads)", flush=True)
    return done - started


def baselines(count: int, folder: Path) -> None:
    """The two per-tensor loops this bench made linear and fast, timed against the old way in this run:
    the scheme choice (every roles.yaml scheme matched against every name, Scheme.match) and the
    fingerprint of small tensors one worker call each (_full_print) instead of a chunk per call."""
    import importlib

    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.layout.roles import NameGroups, load_role_map
    from openscore.sources import open_source
    from openscore.weights import fingerprint

    fp_module = importlib.import_module("openscore.weights.fingerprint")
    tiny_checkpoint(count, folder)
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    rm = load_role_map()
    names = [t.name for t in headers.tensors]
    started = time.perf_counter()
    groups = NameGroups(names, rm)
    for scheme in rm.schemes.values():
        groups.summary(scheme, 2)
    grouped = time.perf_counter() - started
    started = time.perf_counter()
    parsed = [rm.parse(name) for name in names]
    for scheme in rm.schemes.values():
        for name in parsed:
            scheme.match(name, 2)
    every = time.perf_counter() - started
    print(f"baseline scheme choice, {count} names x {len(rm.schemes)} schemes: per name shape {grouped:.3f} s, "
          f"every name x every scheme {every:.3f} s (x{every / grouped:.0f})", flush=True)
    layout = build_layout(headers)
    started = time.perf_counter()
    fingerprint(source, headers, layout, device="cpu")
    chunked = time.perf_counter() - started
    small = fp_module._is_small
    fp_module._is_small = lambda *_: False
    try:
        started = time.perf_counter()
        fingerprint(source, headers, layout, device="cpu")
        one_by_one = time.perf_counter() - started
    finally:
        fp_module._is_small = small
    print(f"baseline fingerprint, {count} tiny tensors: in chunks {chunked:.2f} s, one worker call each "
          f"{one_by_one:.2f} s (x{one_by_one / chunked:.1f})", flush=True)


def card_seconds(kb: int, folder: Path) -> float:
    from openscore.evidence.card import collect_card
    from openscore.evidence.context import CollectContext
    from openscore.sources import open_source

    block = ("## Training data {i}\n\nWe trained on [data](https://huggingface.co/datasets/org/d{i}) "
             "for many steps, see https://github.com/org/code{i} and arXiv:2401.{i:05d}.\n\n")
    parts, size, i = ["---\nlicense: mit\n---\n# Model\n\n"], 0, 0
    while size < kb * 1024:
        parts.append(block.format(i=i))
        size += len(parts[-1])
        i += 1
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("".join(parts))
    source = open_source(str(folder))
    ctx = CollectContext(source=source, inventory=source.inventory())
    started = time.perf_counter()
    _, card = collect_card(ctx)
    seconds = time.perf_counter() - started
    if len(card.get("sections", [])) < i:
        raise SystemExit(f"a {kb} KB card was not read whole: over the card read cap? (use sizes under 4 MB)")
    return seconds


def gate_seconds(count: int, folder: Path) -> float:
    import datetime as dt

    from openscore.gate import load_policy, run_gate
    from test_gate import make_report

    folder.mkdir(parents=True)
    text = make_report("acme/m0").to_json()
    paths = []
    for i in range(count):
        path = folder / f"m{i}.json"
        path.write_text(text.replace("acme/m0", f"acme/m{i}"))
        paths.append(str(path))
    models = "".join(f"  - acme/m{i}\n" for i in range(count))
    waivers = "".join(f"  - {{model: acme/m{i}, rules: [licence.deny], reason: bench {i}, expires: 2030-01-01}}\n"
                      for i in range(count))
    policy = folder / "openscore.yaml"
    policy.write_text(f"version: 1\nmodels:\n{models}licence:\n  deny: [apache-2.0]\nwaivers:\n{waivers}")
    loaded = load_policy(policy)
    started = time.perf_counter()
    result = run_gate(loaded, paths, today=dt.date(2026, 1, 1))
    seconds = time.perf_counter() - started
    assert result.exit_code == 0 and len(result.models) == count
    return seconds


def _two_sizes(label: str, unit: str, scale: float, scale_name: str, sizes: str, measure) -> None:
    """Time `measure(size)` at each size; print the time per unit and how it grows (1.0 = linear)."""
    rows = []
    for size in (int(x) for x in sizes.split(",")):
        seconds = measure(size)
        rows.append((size, seconds))
        print(f"{label} {size:>8}: {seconds:7.2f} s, {seconds / size * scale:7.2f} {scale_name} per {unit}", flush=True)
    if len(rows) == 2:
        (n1, s1), (n2, s2) = rows
        print(f"{label} growth: per-{unit} time x{(s2 / n2) / (s1 / n1):.2f} for x{n2 / n1:.0f} (1.0 = linear)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", default="30000,300000", help="two tensor counts, comma-separated")
    parser.add_argument("--card-kb", default="380,3800",
                        help="two card sizes in KB (under the 4 MB read cap), comma-separated")
    parser.add_argument("--gate", default="500,5000", help="two model counts for the gate, comma-separated")
    parser.add_argument("--no-corpus", action="store_true", help="skip the hostile corpus")
    parser.add_argument("--no-audit", action="store_true", help="skip the whole audits of the tiny-tensor checkpoints")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="openscore-hostile-") as tmp:
        base = Path(tmp)
        if not args.no_corpus:
            from tests.hostile_corpus import run_corpus

            outcomes = run_corpus(base / "corpus")
            clean = [o for o in outcomes if o.clean]
            slowest = max(outcomes, key=lambda o: o.seconds)
            hungriest = max(outcomes, key=lambda o: o.rss_growth)
            biggest = max(outcomes, key=lambda o: o.input_bytes)
            print(f"corpus: {len(outcomes)} cases tried, {len(clean)} clean")
            classes = sorted({o.case.klass for o in outcomes})
            print("  by class: " + ", ".join(
                f"{k} {sum(o.clean for o in outcomes if o.case.klass == k)}/"
                f"{sum(o.case.klass == k for o in outcomes)}" for k in classes))
            print(f"  slowest: {slowest.case.name} ({slowest.seconds:.2f} s)")
            print(f"  largest peak RSS growth: {hungriest.case.name} (+{hungriest.rss_growth / 2**20:.0f} MiB)")
            print(f"  largest input: {biggest.case.name} ({biggest.input_bytes / 2**20:.1f} MiB on disk, sparse files at "
                  "their apparent size)")
            for o in outcomes:
                if not o.clean:
                    print(f"  NOT CLEAN: {o.case.name}: {'; '.join(o.problems)}")
        sizes = [int(x) for x in args.tensors.split(",")]
        baselines(sizes[0], base / f"t{sizes[0]}")
        _two_sizes("tensors", "tensor", 1e6, "us", args.tensors, lambda n: tensors_seconds(n, base / f"t{n}"))
        if not args.no_audit:
            _two_sizes("audit (tensors)", "tensor", 1e6, "us", args.tensors,
                       lambda n: audit_seconds(n, base / f"t{n}"))
        _two_sizes("card (KB)", "KB", 1e3, "ms", args.card_kb, lambda kb: card_seconds(kb, base / f"c{kb}"))
        _two_sizes("gate (models = waivers)", "model", 1e3, "ms", args.gate, lambda n: gate_seconds(n, base / f"g{n}"))

if __name__ == "__main__":
    main()
