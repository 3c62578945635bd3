"""Fingerprint throughput and peak memory against raw reading, in one run on the same files.

Writes a multi-shard LLaMA-shaped checkpoint (fp32 by default) into a temp dir, warms the page cache,
then measures, each in a fresh subprocess (so peak RSS is that measurement's alone), round-robin over the
kinds and best of --repeat rounds (so a slow phase of a shared machine does not fall on one kind only):
  raw read   - read every shard with readinto() into one reused buffer of 128 KiB (coreutils' size),
               1 MiB and 16 MiB; the fastest is the baseline, so the ratio is never flattered by a slow buffer
  sha256     - sha256 of every shard (what an LFS check costs)
  xxh3 only  - the fingerprint's hashing part alone: every tensor hashed with XXH3-128 by the same two
               workers over a memory map of its shard (page faults included; no sketch, no page release),
               so the gap between this line and the fingerprint's is what the sketches cost
  fingerprint (cpu, and cuda when available) - openscore.weights.fingerprint, full pass
Prints GB/s, the ratio fingerprint/raw read (target >= 0.5 on CPU) and peak RSS above the interpreter's
baseline against the largest shard (target: at most one shard or 1 GB).

    python bench/throughput.py [--mb 400] [--shards 4] [--dtype F32|BF16] [--hidden 1024 --inter 2816]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW_BUFFERS = {"raw:128k": 128 << 10, "raw:1m": 1 << 20, "raw:16m": 16 << 20}


def write_checkpoint(folder: Path, total_mb: int, shards: int, dtype: str, hidden: int = 1024, inter: int = 2816) -> None:
    import torch
    from safetensors.torch import save_file

    torch_dtype = {"F32": torch.float32, "BF16": torch.bfloat16}[dtype]
    per_layer = (4 * hidden * hidden + 3 * hidden * inter) * torch_dtype.itemsize
    layers = max(shards, total_mb * 2**20 // per_layer)
    gen = torch.Generator().manual_seed(0)
    names = []
    for i in range(layers):
        p = f"model.layers.{i}."
        names += [(p + "self_attn.q_proj.weight", (hidden, hidden)), (p + "self_attn.k_proj.weight", (hidden, hidden)),
                  (p + "self_attn.v_proj.weight", (hidden, hidden)), (p + "self_attn.o_proj.weight", (hidden, hidden)),
                  (p + "mlp.gate_proj.weight", (inter, hidden)), (p + "mlp.up_proj.weight", (inter, hidden)),
                  (p + "mlp.down_proj.weight", (hidden, inter)), (p + "input_layernorm.weight", (hidden,)),
                  (p + "post_attention_layernorm.weight", (hidden,))]
    per_shard = -(-len(names) // shards)
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s * per_shard:(s + 1) * per_shard]
        save_file({n: torch.randn(shape, generator=gen).to(torch_dtype) for n, shape in part}, str(folder / file))
        weight_map.update({n: file for n, _ in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": inter, "num_attention_heads": 16, "num_key_value_heads": 16,
        "num_hidden_layers": layers, "vocab_size": 32000}))


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(kind: str, folder: Path) -> dict:
    """Runs inside the subprocess: one measurement, with its peak RSS above the post-import baseline."""
    import hashlib

    import torch  # noqa: F401 - imported before the baseline so the interpreter's own size is excluded

    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source
    from openscore.weights import fingerprint

    shards = sorted(folder.glob("*.safetensors"))
    source = open_source(str(folder))
    headers = read_checkpoint(source)
    layout = build_layout(headers)
    base_kb = _vm_hwm_kb()
    total = sum(p.stat().st_size for p in shards)
    start = time.perf_counter()
    if kind.startswith("raw:"):
        buf = bytearray(RAW_BUFFERS[kind])
        for p in shards:
            with open(p, "rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass
    elif kind == "xxh3-only":
        _hash_tensors(source, headers)
    elif kind == "sha256":
        buf = bytearray(16 << 20)
        view = memoryview(buf)
        for p in shards:
            h = hashlib.sha256()
            with open(p, "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    h.update(view[:n])
    else:
        fingerprint(source, headers, layout, device=kind.split(":")[1])
    seconds = time.perf_counter() - start
    return {"kind": kind, "seconds": seconds, "gbps": total / seconds / 1e9, "peak_mb": (_vm_hwm_kb() - base_kb) / 1024}


def _hash_tensors(source, headers) -> None:
    """XXH3-128 of every tensor by two workers over a map of its shard, in the fingerprint's file order."""
    import mmap
    from concurrent.futures import ThreadPoolExecutor

    from xxhash import xxh3_128

    by_file: dict[str, list] = {}
    for rec in headers.tensors:
        by_file.setdefault(rec.file, []).append(rec)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for file, records in sorted(by_file.items()):
            with (open(source.local_path(file), "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm,
                  memoryview(mm) as view):
                jobs = [pool.submit(lambda part: xxh3_128(part).digest(), view[r.start:r.end])
                        for r in sorted(records, key=lambda r: r.start)]
                for job in jobs:
                    job.result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=400, help="checkpoint size in MB")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--dtype", choices=["F32", "BF16"], default="F32")
    ap.add_argument("--hidden", type=int, default=1024, help="hidden size (a 7B LLaMA: 4096)")
    ap.add_argument("--inter", type=int, default=2816, help="MLP size (a 7B LLaMA: 11008)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    ap.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return

    import torch

    kinds = [*RAW_BUFFERS, "sha256", "xxh3-only", "fingerprint:cpu"] + (["fingerprint:cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory(prefix="openscore-bench-") as tmp:
        folder = Path(tmp)
        write_checkpoint(folder, args.mb, args.shards, args.dtype, args.hidden, args.inter)
        shards = sorted(folder.glob("*.safetensors"))
        total = sum(p.stat().st_size for p in shards)
        largest = max(p.stat().st_size for p in shards)
        for p in shards:  # warm the page cache
            p.read_bytes()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):  # round-robin: a slow phase of the machine hits the read and the pass alike
            for kind in kinds:
                proc = subprocess.run([sys.executable, __file__, "--measure", kind, str(folder)], env=env,
                                      capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(f"{kind} failed:\n{proc.stderr}")
                runs[kind].append(json.loads(proc.stdout))
        results = {kind: max(got, key=lambda r: r["gbps"]) for kind, got in runs.items()}
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
              f"{', cuda ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else ', no GPU'}")
        print(f"checkpoint: {total / 1e6:.0f} MB {args.dtype}, hidden {args.hidden}, MLP {args.inter}, in {len(shards)} "
              f"shards (largest {largest / 1e6:.0f} MB)")
        raw = max(results[k]["gbps"] for k in RAW_BUFFERS)
        for kind, r in results.items():
            print(f"{kind:18s} {r['gbps']:6.2f} GB/s  {r['seconds']:6.2f} s  ratio to raw {r['gbps'] / raw:5.2f}"
                  f"  peak RSS +{r['peak_mb']:7.1f} MB")
        fp = results["fingerprint:cpu"]
        limit = min(largest, 1 << 30) / 2**20
        print(f"fingerprint/raw read (cpu): {fp['gbps'] / raw:.2f} (target >= 0.5; raw = fastest buffer, {raw:.2f} GB/s;"
              f" hashing alone reaches {results['xxh3-only']['gbps'] / raw:.2f})")
        if "fingerprint:cuda" in results:
            print(f"fingerprint/raw read (cuda): {results['fingerprint:cuda']['gbps'] / raw:.2f} (target >= 0.8)")
        print(f"fingerprint peak RSS {fp['peak_mb']:.0f} MB vs one shard {limit:.0f} MB: "
              f"{'within' if fp['peak_mb'] <= limit else 'OVER'}")


if __name__ == "__main__":
    main()
