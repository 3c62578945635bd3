"""What the gate and `verify` cost, against baselines measured in the same run.

  gate     run_gate over N saved reports (the two samples' audits, copied N/2 times each) plus every
           output format rendered, against parsing the same reports (AuditReport.model_validate_json):
           the gate's own overhead per model over the unavoidable cost of reading the reports.
  verify   `openscore verify --offline` of a folder holding one SIZE-MiB weight file, against a plain
           sha256 of the same file (hashlib.file_digest): verify also takes the git blob sha1 in the
           same pass, so expect a ratio a little above 1, bounded by the disk.

Usage: python bench/gate_verify.py [--models 200] [--size-mib 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import median_seconds  # noqa: E402

POLICY = """\
rubrics:
  osai-v3: {min_score: 0.5, max_unknown: 3, dimensions: {modelcard: partial}}
  mof: {min_class: III}
  osaid: {require_pass: true}
licence: {allow: [apache-2.0, mit], deny: ["cc-by-nc*"], require_commercial_use: true, forbid_unknown: true,
          forbid_laundering: true, forbid_conflict: true}
provenance: {require_declared_base_match: true, forbid_undeclared_derivative: true, forbid_verdicts: [renamed-copy],
             require_safetensors: true, forbid_pickle: true}
waivers:
  - {model: "openscore-samples/*", rules: [licence.laundering], reason: bench waiver, expires: 2030-01-01}
"""


def bench_gate(work: Path, models: int, repeat: int) -> None:
    from openscore.audit import audit
    from openscore.gate import load_policy, run_gate
    from openscore.gate.outputs import RENDERERS
    from openscore.report import AuditReport

    texts = [audit(f"sample:{name}").to_json() for name in ("tiny-llama", "tiny-llama-shell")]
    paths = []
    for i in range(models):
        path = work / f"report-{i:04d}.json"
        path.write_text(texts[i % 2])
        paths.append(str(path))
    (work / "openscore.yaml").write_text(POLICY)
    policy = load_policy(work / "openscore.yaml")

    def baseline():
        for path in paths:
            AuditReport.model_validate_json(Path(path).read_bytes())

    def gate():
        result = run_gate(policy, paths)
        for render in RENDERERS.values():
            render(result)

    base, full = median_seconds(baseline, repeat), median_seconds(gate, repeat)
    print(f"gate    {models} models: parse reports {base * 1e3:8.1f} ms   gate + 6 formats {full * 1e3:8.1f} ms   "
          f"ratio {full / base:5.2f}   {full / models * 1e3:.2f} ms/model")


def bench_verify(work: Path, size_mib: int, repeat: int) -> None:
    from openscore.lock import lock_sources, verify
    from openscore.sources import local

    folder = work / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    chunk = hashlib.sha256(b"openscore").digest() * (1 << 15)  # 1 MiB of fixed bytes
    with open(weights, "wb") as fh:
        for _ in range(size_mib):
            fh.write(chunk)
    lock_sources([str(folder)], work / "openscore.lock")

    def baseline():
        with open(weights, "rb") as fh:
            hashlib.file_digest(fh, "sha256")

    def check():
        local._digest_cache.clear()  # measure hashing, not the per-process cache
        (result,) = verify(work / "openscore.lock", [str(folder)], offline=True)
        assert result.status == "ok"

    base, full = median_seconds(baseline, repeat), median_seconds(check, repeat)
    print(f"verify  {size_mib} MiB: sha256 {base * 1e3:8.1f} ms ({size_mib / base:6.0f} MiB/s)   "
          f"verify {full * 1e3:8.1f} ms ({size_mib / full:6.0f} MiB/s)   ratio {full / base:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_gate(Path(tmp), args.models, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        bench_verify(Path(tmp), args.size_mib, args.repeat)


if __name__ == "__main__":
    main()
