"""Matching at scale: time per audit against registries of 1, 10, 100 and 500 entries.

`python bench/registry_scale.py [--sizes 1,10,100,500] [--same-shape 0.02]`

Entries are fingerprints of small random LLaMA-layout models, each of its own geometry (width, MLP
width, heads, vocabulary), plus a share (`--same-shape`) of independent models with exactly the true
base's shapes, as a real registry has (Llama-2-7B, Mistral-7B and their kin share every matrix shape);
the index is what `Registry.add` writes (shapes and probe rows), written once.
The candidate is the true base with noise added (a derivative). Per size it prints the time of
`Registry.match` from a freshly loaded registry (index parse, candidate selection, fingerprint loads,
compares), the entries compared and skipped, and the same match against every entry (the behaviour
before candidate selection) as the baseline measured in the same run. The candidate's own fingerprint
is computed once: it costs the same whatever the registry's size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openscore.weights.compare import compare  # noqa: E402
from openscore.weights.registry import Registry, RegistryEntry, probes, signature, write_index  # noqa: E402
from openscore.weights.spec import fingerprint_spec  # noqa: E402

BASE = dict(hidden=64, ffn=176, heads=4, kv_heads=2, vocab=512, layers=2)


def _model(folder: Path, g: dict, seed: int, noise_of: dict | None = None) -> Path:
    gen = torch.Generator().manual_seed(seed)
    hd = g["hidden"] // g["heads"]
    shapes = {"model.embed_tokens.weight": (g["vocab"], g["hidden"]), "lm_head.weight": (g["vocab"], g["hidden"]),
              "model.norm.weight": (g["hidden"],)}
    for i in range(g["layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "self_attn.q_proj.weight": (g["heads"] * hd, g["hidden"]),
            p + "self_attn.k_proj.weight": (g["kv_heads"] * hd, g["hidden"]),
            p + "self_attn.v_proj.weight": (g["kv_heads"] * hd, g["hidden"]),
            p + "self_attn.o_proj.weight": (g["hidden"], g["heads"] * hd),
            p + "mlp.gate_proj.weight": (g["ffn"], g["hidden"]), p + "mlp.up_proj.weight": (g["ffn"], g["hidden"]),
            p + "mlp.down_proj.weight": (g["hidden"], g["ffn"]),
            p + "input_layernorm.weight": (g["hidden"],), p + "post_attention_layernorm.weight": (g["hidden"],),
        })
    state = {k: (torch.ones(s) if len(s) == 1 else torch.randn(s, generator=gen) * 0.02) for k, s in shapes.items()}
    if noise_of is not None:
        state = {k: v + 0.3 * state[k] if v.dim() == 2 else v for k, v in noise_of.items()}
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": g["hidden"],
              "intermediate_size": g["ffn"], "num_attention_heads": g["heads"], "num_key_value_heads": g["kv_heads"],
              "num_hidden_layers": g["layers"], "vocab_size": g["vocab"]}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _geometry(i: int) -> dict:
    """The i-th decoy geometry: distinct from the base's and from each other's for i < 600."""
    heads = (2, 4, 8)[i % 3]
    hidden = 16 * heads * (1 + (i // 3) % 5)  # 32..640, a multiple of the heads
    ffn = 96 + 16 * (i // 15)
    return dict(hidden=hidden, ffn=ffn, heads=heads, kv_heads=max(1, heads // 2), vocab=384 + 8 * (i % 7), layers=2)


def _best_of(fn, rounds: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100,500")
    ap.add_argument("--same-shape", type=float, default=0.02, help="share of entries with the base's exact shapes")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="openscore-registry-scale-"))
    try:
        base_dir = _model(work / "base", BASE, seed=1)
        base_state = load_file(str(base_dir / "model.safetensors"))
        candidate = fingerprint_spec(str(_model(work / "candidate", BASE, seed=2, noise_of=base_state)))
        total = max(sizes)
        clones = {round(k / args.same_shape) for k in range(1, int(total * args.same_shape) + 1)}
        prints = [fingerprint_spec(str(base_dir))]
        t0 = time.perf_counter()
        for i in range(1, total):
            geometry = BASE if i in clones else _geometry(i)
            prints.append(fingerprint_spec(str(_model(work / f"m{i}", geometry, seed=100 + i))))
        print(f"fingerprinted {total} registry models in {time.perf_counter() - t0:.1f} s "
              f"({len(clones)} with the base's exact shapes)")
        print(f"{'entries':>7} {'compared':>8} {'skipped':>7} {'audit match':>12} {'vs 1 entry':>10} "
              f"{'all-entries baseline':>21} {'speed-up':>8}")
        first = None
        for n in sizes:
            folder = work / f"registry-{n}"
            entries = []
            for i, fp in enumerate(prints[:n]):  # what Registry.add writes, with the index written once
                entry_id = "acme/base" if i == 0 else f"acme/m{i}"
                fp.save(folder / f"{i}.osfp")
                width, shapes = signature(fp)
                entries.append(RegistryEntry(id=entry_id, fingerprint=f"{i}.osfp", source=fp.source, family=fp.family,
                                             width=width, shapes=shapes, probes=probes(fp)))
            write_index(folder, entries)

            def selected():
                return Registry([folder], folder).match_counted(candidate, top=5)

            def every():
                fresh = Registry([folder], folder)
                return [compare(fresh.fingerprint(e.id), candidate) for e in fresh.entries()]

            took, (matches, compared, skipped) = _best_of(selected)
            brute, _ = _best_of(every, rounds=1 if n > 100 else 3)
            assert matches[0].id == "acme/base" and matches[0].comparison.verdict == "derived", matches[0]
            first = first or took
            print(f"{n:>7} {compared:>8} {skipped:>7} {took * 1000:>10.1f}ms {took / first:>9.2f}x "
                  f"{brute * 1000:>19.1f}ms {brute / took:>7.1f}x")
        print(f"one compare (base vs candidate): {_best_of(lambda: compare(prints[0], candidate))[0] * 1000:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
