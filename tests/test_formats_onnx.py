"""ONNX as a weight format (issue 15, point 6): initializers read by a bounded protobuf walk, named and
oriented through the graph, int8 weights dequantised; the real MiniLM ONNX files traced to their base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from openscore.errors import InvalidCheckpoint
from openscore.formats import read_checkpoint
from openscore.sources import open_source
from openscore.weights import compare
from openscore.weights.registry import Registry
from openscore.weights.spec import fingerprint_spec
from openscore.zoo.realmodels import MINILM

MINILM_ENTRY = "sentence-transformers/all-MiniLM-L6-v2"


# ------------------------------------------------------------------ a minimal protobuf writer (tests only)
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor(name: str, values: np.ndarray, *, external: dict | None = None) -> bytes:
    dtype = {np.float32: 1, np.int8: 3, np.uint8: 2}[values.dtype.type]
    out = b"".join(_field(1, d) for d in values.shape) + _field(2, dtype) + _field(8, name.encode())
    if external is None:
        return out + _field(9, values.tobytes())
    entries = b"".join(_field(13, _field(1, k.encode()) + _field(2, str(v).encode())) for k, v in external.items())
    return out + entries + _field(14, 1)


def _node(op: str, inputs: list[str], outputs: list[str]) -> bytes:
    return (b"".join(_field(1, i.encode()) for i in inputs) + b"".join(_field(2, o.encode()) for o in outputs)
            + _field(4, op.encode()))


def _model(initializers: list[bytes], nodes: list[bytes]) -> bytes:
    graph = b"".join(_field(1, n) for n in nodes) + b"".join(_field(5, t) for t in initializers)
    return _field(1, 8) + _field(2, b"test") + _field(7, graph)


def _linear_model(rng) -> tuple[bytes, np.ndarray, np.ndarray]:
    """An embedding and one linear layer as exporters write it: MatMul's B [in, out] named onnx::MatMul_7,
    its bias `layer.0.dense.bias`; the other linear int8-quantised (W_q + W_scale per column)."""
    embed = rng.normal(size=(64, 16)).astype(np.float32)
    weight = rng.normal(size=(32, 16)).astype(np.float32)  # [out, in]
    quant = rng.normal(size=(16, 32)).astype(np.float32)  # [out, in]
    scale = (np.abs(quant).max(1) / 127).astype(np.float32)  # per output column of B = quant.T
    q = np.round(quant.T / scale[None, :]).astype(np.int8)
    inits = [_tensor("embeddings.word_embeddings.weight", embed), _tensor("onnx::MatMul_7", weight.T.copy()),
             _tensor("layer.0.dense.bias", np.zeros(32, np.float32)), _tensor("val_9_q", q),
             _tensor("val_9_scale", scale[None, :]), _tensor("layer.0.out.bias", np.zeros(16, np.float32))]
    nodes = [_node("MatMul", ["x", "onnx::MatMul_7"], ["h"]), _node("Add", ["h", "layer.0.dense.bias"], ["h2"]),
             _node("Cast", ["val_9_q"], ["val_9_f"]), _node("Mul", ["val_9_f", "val_9_scale"], ["val_9"]),
             _node("MatMul", ["h2", "val_9"], ["o"]), _node("Add", ["o", "layer.0.out.bias"], ["y"])]
    return _model(inits, nodes), weight, (q.astype(np.float32) * scale[None, :]).T


def test_initializers_are_named_oriented_and_dequantised_through_the_graph(tmp_path):
    data, weight, dequantised = _linear_model(np.random.default_rng(1))
    (tmp_path / "model.onnx").write_bytes(data)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["onnx"]
    by_name = {t.name: t for t in headers.tensors}
    dense = by_name["layer.0.dense.weight"]  # named after its bias, stored [in, out]
    assert dense.transposed and dense.shape == (16, 32) and dense.dtype == "F32"
    out = by_name["layer.0.out.weight"]
    assert out.dtype == "I8" and out.transposed and out.dequant is not None and len(out.dequant.scale) == 16
    assert "val_9_scale" not in by_name  # folded into the weight's values
    fp = fingerprint_spec(str(tmp_path), device="cpu")
    t = next(t for t in fp.tensors if t.name == "layer.0.dense.weight")
    rows, cols = fp.array(t, "rows"), fp.array(t, "cols")
    assert t.transposed and np.array_equal(fp.array(t, "direct"), weight[np.ix_(rows, cols)])
    t = next(t for t in fp.tensors if t.name == "layer.0.out.weight")
    got = fp.array(t, "direct")
    assert np.allclose(got, dequantised[np.ix_(fp.array(t, "rows"), fp.array(t, "cols"))], atol=1e-6)


def test_external_data_is_read_from_the_model_folder_only(tmp_path):
    values = np.arange(64 * 16, dtype=np.float32).reshape(64, 16)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16 + values.tobytes())
    ext = {"location": "weights.bin", "offset": 16, "length": values.nbytes}
    (tmp_path / "model.onnx").write_bytes(_model([_tensor("embeddings.word_embeddings.weight", values, external=ext)], []))
    (record,) = read_checkpoint(open_source(str(tmp_path))).tensors
    assert (record.file, record.start, record.end) == ("weights.bin", 16, 16 + values.nbytes)

    for location in ("../weights.bin", "/etc/passwd", "sub/../../x"):
        bad = tmp_path / location.replace("/", "_").replace(".", "d")
        bad.mkdir()
        (bad / "model.onnx").write_bytes(_model([_tensor("w", values, external={**ext, "location": location})], []))
        with pytest.raises(InvalidCheckpoint, match="leaves the model folder"):
            read_checkpoint(open_source(str(bad)))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-7], "runs past|truncated"),  # cut inside the graph
    (lambda d: b"\x0b" + d[1:], "wire type"),  # a group wire type (deprecated, never in ONNX)
    (lambda d: _field(1, 8), "no graph"),
])
def test_malformed_onnx_is_refused_with_one_line(tmp_path, mutate, message):
    data, _, _ = _linear_model(np.random.default_rng(2))
    (tmp_path / "model.onnx").write_bytes(mutate(data))
    with pytest.raises(InvalidCheckpoint, match=message):
        read_checkpoint(open_source(str(tmp_path)))


def test_tensor_bytes_must_match_dims(tmp_path):
    values = np.zeros((4, 4), np.float32)
    bad = _field(1, 4) + _field(1, 5) + _field(2, 1) + _field(8, b"w") + _field(9, values.tobytes())
    (tmp_path / "model.onnx").write_bytes(_model([bad], []))
    with pytest.raises(InvalidCheckpoint, match="do not hold"):
        read_checkpoint(open_source(str(tmp_path)))


def _onnx_repo(tmp_path, onnx_file, layers: int, config: Path):
    """A repository folder as the Hub has them: the ONNX file beside the family's config.json."""
    folder = tmp_path / onnx_file.stem
    folder.mkdir()
    shutil.copyfile(onnx_file, folder / "model.onnx")  # a local source reads regular files only
    (folder / "config.json").write_text(json.dumps({**json.loads(config.read_text()), "num_hidden_layers": layers}))
    return folder


@pytest.fixture(scope="module")
def minilm():
    return Registry.load().fingerprint(MINILM_ENTRY)


def test_int8_onnx_export_is_a_recast_copy_of_all_minilm_l6_v2(real_weight, tmp_path, minilm, shared_path):
    config = shared_path("realmodels", MINILM, "config.json")
    folder = _onnx_repo(tmp_path, real_weight("all-minilm-l6-v2-int8-onnx"), 6, config)
    for sample in (False, True):
        result = compare(minilm, fingerprint_spec(str(folder), device="cpu", sample=sample))
        assert result.verdict == "recast-copy", result.reason
        assert "quantised to a 8-bit integer grid and dequantised" in result.transformations


def test_paraphrase_minilm_l3_onnx_is_related_but_never_a_copy(real_weight, tmp_path, minilm, shared_path):
    config = shared_path("realmodels", MINILM, "config.json")
    folder = _onnx_repo(tmp_path, real_weight("paraphrase-minilm-l3-v2-onnx"), 3, config)
    for sample in (False, True):
        result = compare(minilm, fingerprint_spec(str(folder), device="cpu", sample=sample))
        assert result.verdict in ("partially-derived", "inconclusive"), result.reason
        embeds = [m for m in result.tensors if m.role in ("embed", "pos_embed")]
        assert embeds and all(m.z >= 10 for m in embeds)
