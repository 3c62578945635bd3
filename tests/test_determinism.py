"""Byte-identical outputs across processes with different PYTHONHASHSEED.

Set and dict-of-set iteration order changes with the hash seed, so an id list built from a set (dataset
ids, tags, licences) passes every in-process test yet differs between two CI runs. Each seed runs the
CLI in its own process over the same inputs: reports, inspect JSON, gate outputs and the lock file must
be equal byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = ("0", "1", "4242")

#: a card with many unordered-looking collections: datasets, languages, tags, base models, links
CARD = """---
license: apache-2.0
language: [en, fr, de, es, it, nl, pt, pl]
datasets:
- allenai/c4
- wikipedia
- bigcode/the-stack
- HuggingFaceFW/fineweb
- togethercomputer/RedPajama-Data-1T
- EleutherAI/pile
- openscore/tiny-corpus
- tatsu-lab/alpaca
base_model:
- openscore-samples/tiny-llama
- meta-llama/Llama-2-7b-hf
tags: [llama, text-generation, arxiv:2401.00001, arxiv:2302.13971, code, chat, multilingual]
---

# many-collections

Trained on C4, Wikipedia, The Stack and FineWeb; code at https://github.com/openscore/tiny-llama and
https://github.com/example/train; papers https://arxiv.org/abs/2302.13971 and https://arxiv.org/abs/2401.00001.
"""

#: what each seed's process runs, in-process through the Click group (one interpreter per seed)
DRIVER = r"""
import sys
from openscore.cli import cli

folder, policy = sys.argv[1:3]  # outputs are relative: the run's folder is its working directory
runs = [
    ["audit", "sample:tiny-llama", "sample:tiny-llama-shell", "--reports", "reports", "-o", "summary.txt"],
    ["audit", folder, "--no-weights", "--reports", "reports", "--format", "json", "-o", "folder.json"],
    ["inspect", "sample:tiny-llama-shell", "--format", "json", "-o", "inspect.json"],
    ["gate", "sample:tiny-llama", "sample:tiny-llama-shell", folder, "--no-weights", "--policy", policy,
     "--today", "2026-01-01", "--format", "json:gate.json", "--format", "sarif:gate.sarif",
     "--format", "junit:gate.xml", "--format", "markdown:gate.md"],
    ["lock", "sample:tiny-llama", "sample:tiny-llama-shell", folder, "-o", "openscore.lock"],
]
codes = []
for args in runs:
    try:
        codes.append(cli.main(args, prog_name="openscore", standalone_mode=False) or 0)
    except SystemExit as exc:
        codes.append(exc.code)
print("exit codes:", *codes)
"""


def _run(seed: str, out: Path, folder: Path, policy: Path) -> dict[str, bytes]:
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(folder), str(policy)], cwd=out, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "exit codes: 0 0 0 1 0", proc.stdout + proc.stderr  # gate: violations
    # the batch run state (reports/.openscore/) is a log with timings and run ids, not an output
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".openscore" not in p.relative_to(out).parts}


def test_outputs_are_byte_identical_across_hash_seeds(tmp_path: Path):
    folder = tmp_path / "many-collections"
    folder.mkdir()
    (folder / "README.md").write_text(CARD, encoding="utf-8")
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}\n')
    policy = REPO / "examples" / "openscore.yaml"
    runs = {seed: _run(seed, tmp_path / f"seed-{seed}", folder, policy) for seed in SEEDS}
    first = runs[SEEDS[0]]
    expected = {"summary.txt", "folder.json", "inspect.json", "gate.json", "gate.sarif", "gate.xml", "gate.md",
                "openscore.lock"}
    assert expected <= set(first), sorted(first)
    assert sum(name.startswith("reports/") for name in first) == 3  # two samples and the folder
    datasets = first["folder.json"].decode()
    assert "HuggingFaceFW/fineweb" in datasets and "togethercomputer/RedPajama-Data-1T" in datasets
    for seed in SEEDS[1:]:
        assert runs[seed].keys() == first.keys()
        differing = [name for name in first if runs[seed][name] != first[name]]
        assert differing == [], f"PYTHONHASHSEED={seed} changed {differing}"
