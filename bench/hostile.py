"""Hostile input at scale: growth of the per-item cost, and the generated hostile corpus.

  tensors  read headers + layout + full fingerprint of a checkpoint of N tiny (2x2 F32) tensors, at two
           sizes: the time per tensor should stay flat (linear work); a quadratic queue shows as a
           per-tensor time growing with N.
  card     the card collector (front matter, sections, links) over a README of K KB of headings and
           paragraphs, at two sizes (cards over 4 MB are not read at all): the time per KB should stay flat.
  gate     run_gate over N saved reports against a policy listing the N models and N waivers, at two
           sizes: the time per model should stay flat (entries and waivers are looked up by name).
  corpus   every case of tests/hostile_corpus.py (generated, nothing committed), run first so that the
           peak RSS growth is the cases' own: cases tried, clean, the slowest and the largest (peak RSS
           growth, input size).

Usage: python bench/hostile.py [--tensors 30000,300000] [--card-kb 380,3800] [--gate 500,5000] [--no-corpus]
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


def tensors_seconds(count: int, folder: Path) -> float:
    import numpy as np
    from safetensors.numpy import save_file

    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source
    from openscore.weights import fingerprint
    from tests import checkpoint_builders as build

    build.write_config(folder)
    tensors = {f"model.layers.{i // 3}.mlp.{('up', 'down', 'gate')[i % 3]}_proj.weight": np.full((2, 2), i, np.float32)
               for i in range(count)}
    save_file(tensors, str(folder / "model.safetensors"))
    started = time.perf_counter()
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    fp = fingerprint(source, headers, build_layout(headers), device="cpu")
    seconds = time.perf_counter() - started
    assert len(fp.tensors) == count
    return seconds


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
        _two_sizes("tensors", "tensor", 1e6, "us", args.tensors, lambda n: tensors_seconds(n, base / f"t{n}"))
        _two_sizes("card (KB)", "KB", 1e3, "ms", args.card_kb, lambda kb: card_seconds(kb, base / f"c{kb}"))
        _two_sizes("gate (models = waivers)", "model", 1e3, "ms", args.gate, lambda n: gate_seconds(n, base / f"g{n}"))

if __name__ == "__main__":
    main()
