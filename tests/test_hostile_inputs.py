"""Hostile and malformed checkpoints: each is one clear error and a non-zero exit; nothing runs, nothing crashes."""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import InvalidCheckpoint, UnsafePickle
from openscore.formats import assert_safe, read_checkpoint
from openscore.formats.safetensors_header import header_length, parse_header
from openscore.sources import open_source
from openscore.sources.hub import HubSource, RetryPolicy
from tests import checkpoint_builders as build


def _f32(name_offsets: dict[str, tuple[int, int]]) -> dict:
    return {n: {"dtype": "F32", "shape": [(e - b) // 4], "data_offsets": [b, e]} for n, (b, e) in name_offsets.items()}


def _valid_bytes() -> bytes:
    header = json.dumps(_f32({"a": (0, 8), "b": (8, 16)})).encode()
    return struct.pack("<Q", len(header)) + header + bytes(16)


#: name -> (function writing model.safetensors into a folder, expected message fragment)
CASES = {
    "header length 2^40": (lambda p: p.write_bytes(struct.pack("<Q", 1 << 40) + b"{}"), "exceeds"),
    "header longer than file": (lambda p: build.raw_safetensors(p, b"{}", header_len=5000), "runs past the end"),
    "shorter than 8 bytes": (lambda p: p.write_bytes(b"\x01\x02"), "too short"),
    "offsets out of range": (
        lambda p: build.raw_safetensors(p, _f32({"a": (0, 4000)}), bytes(16)), "truncated"),
    "offset not starting at 0": (
        lambda p: build.raw_safetensors(p, _f32({"a": (8, 16)}), bytes(16)), "gap"),
    "overlapping tensors": (
        lambda p: build.raw_safetensors(p, _f32({"a": (0, 8), "b": (4, 12)}), bytes(12)), "overlaps"),
    "trailing bytes": (
        lambda p: build.raw_safetensors(p, _f32({"a": (0, 8)}), bytes(8 + 100)), "100 trailing bytes"),
    "duplicate names": (
        lambda p: build.raw_safetensors(
            p, b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
               b'"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', bytes(16)), "duplicate key 'a'"),
    "non-JSON header": (lambda p: build.raw_safetensors(p, b"{this is not json}", bytes(8)), "not valid JSON"),
    "NaN in header": (lambda p: build.raw_safetensors(p, b'{"__metadata__":{"a":NaN}}'), "NaN"),
    "deeply nested": (lambda p: build.raw_safetensors(p, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
                      "nested too deeply"),
    "not an object": (lambda p: build.raw_safetensors(p, b"[1, 2]"), "does not start with '{'"),
    "truncated file": (lambda p: p.write_bytes(_valid_bytes()[:-5]), "truncated"),
    "dtype x shape mismatch": (
        lambda p: build.raw_safetensors(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),
        "offsets span 8 bytes"),
    "unknown dtype": (
        lambda p: build.raw_safetensors(p, {"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        "unknown dtype"),
    "negative dimension": (
        lambda p: build.raw_safetensors(p, {"a": {"dtype": "U8", "shape": [-8], "data_offsets": [0, 8]}}, bytes(8)),
        "non-negative"),
    "extra tensor keys": (
        lambda p: build.raw_safetensors(
            p, {"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8], "exec": "x"}}, bytes(8)), "exactly"),
    "metadata not str->str": (
        lambda p: build.raw_safetensors(p, {"__metadata__": {"n": 1}}), "__metadata__ must map strings"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_safetensors_library(tmp_path, case):
    write, message = CASES[case]
    write(tmp_path / "model.safetensors")
    with pytest.raises(InvalidCheckpoint, match=message) as info:
        read_checkpoint(open_source(str(tmp_path)))
    assert str(info.value).startswith("model.safetensors")
    assert "\n" not in str(info.value) and info.value.exit_code == 20


def test_valid_reference_file_passes(tmp_path):
    data = _valid_bytes()
    (tmp_path / "model.safetensors").write_bytes(data)
    headers = read_checkpoint(open_source(str(tmp_path)))
    end = len(data)
    assert [(t.name, t.start, t.end) for t in headers.tensors] == [("a", end - 16, end - 8), ("b", end - 8, end)]


def test_header_length_is_checked_before_reading_the_header():
    huge = struct.pack("<Q", 1 << 40)
    with pytest.raises(InvalidCheckpoint, match="exceeds"):
        header_length(huge, 1 << 41, "x.safetensors")  # the length alone is refused: nothing allocated
    with pytest.raises(InvalidCheckpoint, match="runs past"):
        header_length(struct.pack("<Q", 100), 50, "x.safetensors")


def test_zero_sized_tensors_are_valid():
    header = {"empty": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}, "b": {"dtype": "U8", "shape": [2],
              "data_offsets": [0, 2]}}
    raw = json.dumps(header).encode()
    parsed = parse_header(raw, 8 + len(raw) + 2, "m.safetensors")
    assert [t.name for t in parsed.tensors] == ["empty", "b"]


def test_hostile_header_through_the_hub_is_refused_after_a_small_read(fake_hub, tmp_path):
    build.write_config(tmp_path)
    build.raw_safetensors(tmp_path / "model.safetensors", _f32({"a": (0, 8), "b": (4, 12)}), bytes(4_000_000))
    fake_hub.add_repo("evil/overlap", tmp_path)
    source = HubSource("evil/overlap", endpoint=fake_hub.endpoint, token=False, retry=RetryPolicy(max_wait=0))
    with pytest.raises(InvalidCheckpoint, match="overlaps"):
        read_checkpoint(source)
    assert fake_hub.bytes_sent("model.safetensors") < 100_000


def test_bomb_header_through_the_hub(fake_hub, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + bytes(1000))
    fake_hub.add_repo("evil/bomb", tmp_path)
    with pytest.raises(InvalidCheckpoint, match="exceeds"):
        read_checkpoint(HubSource("evil/bomb", endpoint=fake_hub.endpoint, token=False))


def _gguf_bytes(n_tensors: int, kvs: bytes, n_kv: int, tail: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs + tail


def _gguf_string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


GGUF_CASES = {
    "bad magic": (b"GGML" + bytes(100), "bad magic"),
    "forged array length": (  # a reader would loop 2^40 times over an empty buffer
        _gguf_bytes(0, _gguf_string(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 1 << 40), 1, bytes(64)),
        "cannot fit"),
    "forged scalar array": (
        _gguf_bytes(0, _gguf_string(b"scores") + struct.pack("<IIQ", 9, 6, 1 << 40), 1, bytes(64)), "runs past"),
    "forged key count": (_gguf_bytes(0, b"", 1 << 50, bytes(64)), "cannot fit"),
    "string past the end": (_gguf_bytes(0, struct.pack("<Q", 1 << 30) + b"key", 1), "runs past the end"),
    "too many dimensions": (
        _gguf_bytes(1, b"", 0, _gguf_string(b"t") + struct.pack("<I", 9) + bytes(8 * 9 + 12)), "dimensions"),
    "truncated": (b"GGUF" + struct.pack("<I", 3), "runs past the end"),
}


@pytest.mark.parametrize("case", sorted(GGUF_CASES))
def test_hostile_gguf(tmp_path, case):
    data, message = GGUF_CASES[case]
    (tmp_path / "model.gguf").write_bytes(data)
    with pytest.raises(InvalidCheckpoint, match=message) as info:
        read_checkpoint(open_source(str(tmp_path)))
    assert str(info.value).startswith("model.gguf: ")


def test_gguf_tensor_past_the_end_of_the_file(tmp_path):
    path = tmp_path / "model.gguf"
    build.gguf_file(path)
    path.write_bytes(path.read_bytes()[:-100])  # header intact, last tensor's data cut
    with pytest.raises(InvalidCheckpoint, match="model.gguf"):
        read_checkpoint(open_source(str(tmp_path)))


def test_forged_gguf_through_the_hub_costs_one_small_read(fake_hub, tmp_path):
    data, _ = GGUF_CASES["forged array length"]
    (tmp_path / "model.gguf").write_bytes(data + bytes(3_000_000))
    fake_hub.add_repo("evil/gguf", tmp_path)
    with pytest.raises(InvalidCheckpoint, match="cannot fit"):
        read_checkpoint(HubSource("evil/gguf", endpoint=fake_hub.endpoint, token=False))
    assert fake_hub.bytes_sent("model.gguf") <= 1 << 20


def test_pickle_calling_os_system_is_never_run(tmp_path):
    marker = tmp_path / "marker"
    build.malicious_pickle(tmp_path / "repo" / "pytorch_model.bin", marker)
    with pytest.raises(UnsafePickle):
        assert_safe(read_checkpoint(open_source(str(tmp_path / "repo"))))
    assert not marker.exists()


# -- the same through the CLI ---------------------------------------------------------------------

def _inspect(folder):
    return CliRunner().invoke(cli, ["inspect", str(folder)])


@pytest.mark.parametrize("case", ["header length 2^40", "overlapping tensors", "trailing bytes", "duplicate names",
                                  "non-JSON header", "truncated file", "offsets out of range"])
def test_hostile_safetensors_cli(tmp_path, case):
    write, message = CASES[case]
    write(tmp_path / "model.safetensors")
    result = _inspect(tmp_path)
    assert result.exit_code == InvalidCheckpoint.exit_code, result.output
    assert result.stderr.startswith("openscore: error: model.safetensors") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_malicious_pickle_cli(tmp_path):
    marker = tmp_path / "marker"
    build.write_config(tmp_path / "repo")
    build.malicious_pickle(tmp_path / "repo" / "pytorch_model.bin", marker)
    result = _inspect(tmp_path / "repo")
    assert result.exit_code == UnsafePickle.exit_code, result.output
    assert "posix.system" in result.stderr and "pytorch_model.bin" in result.stderr
    assert not marker.exists()
