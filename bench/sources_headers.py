"""What reading a checkpoint's headers costs, against reading its weights, measured in one run.

Writes a sharded safetensors checkpoint, serves it from the fake Hub on 127.0.0.1 and prints:
  - Hub: bytes transferred and time for read_checkpoint (Range reads) vs downloading every shard
    through huggingface_hub (the baseline a tool without ranged header reads pays);
  - local: read_checkpoint time vs safetensors' own safe_open over every shard, and the sha256
    throughput of the inventory (LocalSource hashes every present file once per process).

Usage: python bench/sources_headers.py [--shards 4] [--shard-mb 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--shard-mb", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="openscore-bench-") as tmp:
        os.environ.update(HF_HOME=str(Path(tmp) / "hf"), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
                          HF_HUB_DISABLE_PROGRESS_BARS="1")
        os.environ.pop("HF_TOKEN", None)
        from huggingface_hub import HfApi
        from safetensors import safe_open

        from openscore.formats import read_checkpoint
        from openscore.sources import LocalSource, open_source
        from tests.checkpoint_builders import sharded_safetensors
        from tests.fakehub import FakeHub

        folder = Path(tmp) / "ckpt"
        rows = args.shard_mb * (1 << 20) // (2 * 4096)  # two (rows x 1024) F32 matrices per shard
        sharded_safetensors(folder, args.shards, rows_per_shard=rows, row_bytes=4096)
        shards = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors")
        total = sum(p.stat().st_size for p in shards)
        print(f"checkpoint: {len(shards)} shards, {total / 1e6:.1f} MB, tensors per shard 3")

        hub = FakeHub()
        try:
            hub.add_repo("bench/sharded", folder)
            t0 = time.perf_counter()
            source = open_source("bench/sharded", endpoint=hub.endpoint, token=False)
            headers = read_checkpoint(source)
            t_headers = time.perf_counter() - t0
            sent_headers = sum(hub.bytes_sent(p.name) for p in shards)
            assert len(headers.tensors) == 3 * len(shards)

            hub.reset_counters()
            api = HfApi(endpoint=hub.endpoint, token=False)
            t0 = time.perf_counter()
            for p in shards:
                api.hf_hub_download("bench/sharded", p.name, revision=source.ref.sha, cache_dir=Path(tmp) / "dl")
            t_download = time.perf_counter() - t0
            sent_download = sum(hub.bytes_sent(p.name) for p in shards)
        finally:
            hub.close()
        print(f"hub   headers : {sent_headers / 1e3:9.1f} kB sent, {t_headers * 1e3:8.1f} ms "
              f"({sent_headers / len(shards) / 1e3:.1f} kB per shard)")
        print(f"hub   download: {sent_download / 1e3:9.1f} kB sent, {t_download * 1e3:8.1f} ms")
        print(f"hub   ratio   : bytes x{sent_download / sent_headers:,.0f} fewer, "
              f"time x{t_download / t_headers:.1f} faster")

        local = LocalSource(folder)
        t0 = time.perf_counter()
        local.inventory()
        t_hash = time.perf_counter() - t0
        t0 = time.perf_counter()
        read_checkpoint(local)
        t_local = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in shards:
            with safe_open(str(p), framework="np") as f:
                [f.get_slice(k).get_shape() for k in f.keys()]
        t_rust = time.perf_counter() - t0
        print(f"local inventory (sha256 of every file): {t_hash * 1e3:8.1f} ms = {total / 1e6 / t_hash:.0f} MB/s")
        print(f"local headers (openscore, validated)  : {t_local * 1e3:8.1f} ms")
        print(f"local headers (safetensors safe_open) : {t_rust * 1e3:8.1f} ms  ratio x{t_local / t_rust:.2f}")


if __name__ == "__main__":
    main()
