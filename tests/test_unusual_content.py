"""Unusual but valid content: zero-element tensors, oddly typed card and config fields.

Each is either used or recorded as evidence of what was found; none is a traceback.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openscore.audit import audit
from openscore.weights import compare
from test_weights_support import family, fingerprint_of, write_model
from tests import checkpoint_builders as build


@pytest.mark.parametrize("sample", [False, True])
def test_zero_element_1d_and_2d_tensors_fingerprint_and_compare_in_safetensors(tmp_path, sample):
    state = {**family()["base"], "extra.bias": torch.zeros(0), "extra.no_rows.weight": torch.zeros(0, 8)}
    folder = write_model(tmp_path / "m", state)
    fp = fingerprint_of(folder, sample=sample)
    empty = {t.name: t for t in fp.tensors if t.name.startswith("extra.")}
    assert set(empty) == {"extra.bias", "extra.no_rows.weight"}
    assert all(not t.sketch for t in empty.values())  # no values: nothing to sketch, no signal
    assert compare(fp, fp).verdict == "identical"


def test_zero_element_tensor_in_gguf_fingerprints_and_compares(tmp_path):
    import gguf

    path = tmp_path / "g" / "model.gguf"
    path.parent.mkdir()
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float32))
    writer.add_tensor("blk.0.ffn_up.weight", np.random.default_rng(0).standard_normal((64, 32)).astype(np.float16))
    writer.add_tensor("blk.0.attn_q.bias", np.zeros(0, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    fp = fingerprint_of(path.parent)
    bias = next(t for t in fp.tensors if t.name == "blk.0.attn_q.bias")
    assert bias.constant and not bias.sketch
    assert compare(fp, fp).verdict == "identical"


def _observations(report, kind):
    return [o for col in report.evidence.values() for o in col.get("observations", []) if o["kind"] == kind]


def test_oddly_typed_card_and_config_fields_become_evidence_not_tracebacks(tmp_path):
    folder = tmp_path / "m"
    build.single_safetensors(folder)
    (folder / "config.json").write_text(json.dumps({**build.CONFIG, "architectures": 5, "model_type": ["x"]}))
    (folder / "README.md").write_text("---\nbase_model: 12\ndatasets: 7\ntags: 3\n---\n# Model\n")
    report = audit(str(folder), weights=False)
    invalid = {o["value"]["field"]: o for o in _observations(report, "card.invalid-field")}
    assert set(invalid) == {"base_model", "datasets"}
    assert invalid["base_model"]["value"]["found"] == "12 (int)"
    assert invalid["base_model"]["evidence"]["locator"] == "L2"
    assert invalid["datasets"]["evidence"]["locator"] == "L3"
    assert "card `datasets:` is 7 (int), not a dataset id or a list of ids: ignored" in \
        report.evidence["datasets"]["not_checked"]
    assert [o["value"] for o in _observations(report, "config.architectures")] == [5]  # what was found, kept
    assert not _observations(report, "base.declared") and not _observations(report, "dataset")
    grades = {(rid, g.dimension): g for rid, r in report.rubrics.items() for g in r.grades}
    for key in [("osai-v3", "datasources_endmodel"), ("mof", "datasets"), ("osaid", "data-information")]:
        assert grades[key].grade == "unknown", key  # not "named" (partial), not "absent" (closed)
        assert [e.snippet for e in grades[key].evidence] == ["datasets: 7 (int)"]
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source

    assert build_layout(read_checkpoint(open_source(str(folder)))).family == "llama"  # from the tensor names


def test_dataset_ids_are_sorted_and_reports_identical_across_hash_seeds(tmp_path):
    """Dataset ids come from a set (card list | linked datasets): a report must not carry set order."""
    import subprocess
    import sys

    folder = tmp_path / "m"
    build.single_safetensors(folder)
    names = ["zeta/d", "alpha/d", "mid/d", "beta/d", "omega/d", "gamma/d"]
    (folder / "README.md").write_text(
        "---\ndatasets: [" + ", ".join(names[:4]) + "]\n---\n# Model\n\n## Training data\n"
        + "".join(f"We trained on [{n}](https://huggingface.co/datasets/{n}).\n" for n in names[3:]))
    script = ("import sys; from openscore.audit import audit; "
              "sys.stdout.write(audit(sys.argv[1], weights=False).to_json())")
    outputs = set()
    for seed in ("0", "1", "2", "3"):
        done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed})
        outputs.add(done.stdout)
    assert len(outputs) == 1
    report = json.loads(outputs.pop())
    ids = [o["value"]["id"] for o in report["evidence"]["datasets"]["observations"]]
    assert ids == sorted(names)


@pytest.mark.parametrize("dtype", ["F8_E4M3", "F8_E5M2"])
@pytest.mark.parametrize("shape", [[], [4], [4, 4]], ids=str)
def test_fp8_scalars_vectors_and_matrices_fingerprint(tmp_path, dtype, shape):
    """Found by the fuzz suite: torch has no aminmax for float8, which 0-D and 1-D tensors used."""
    count = int(np.prod(shape))
    build.raw_safetensors(tmp_path / "m" / "model.safetensors",
                          {"model.layers.0.mlp.up_proj.weight": {"dtype": dtype, "shape": shape,
                                                                 "data_offsets": [0, count]}}, bytes(range(count)))
    (tprint,) = fingerprint_of(tmp_path / "m").tensors
    assert tprint.dtype == dtype and tprint.constant == (count == 1)
