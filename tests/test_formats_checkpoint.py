"""read_checkpoint on small real checkpoints: safetensors, sharded, pickle, GGUF, adapters, mixed repos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from openscore.errors import InvalidCheckpoint, UnsafePickle
from openscore.formats import assert_safe, read_checkpoint
from openscore.sources import open_source
from tests import checkpoint_builders as build


def test_single_safetensors_offsets_point_at_the_tensor_bytes(tmp_path):
    tensors = build.single_safetensors(tmp_path)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["safetensors"]
    assert headers.config["model_type"] == "llama"
    assert headers.file_metadata == {"model.safetensors": {"format": "pt"}}
    assert not headers.weights_absent
    assert {t.name for t in headers.tensors} == set(tensors)
    data = (tmp_path / "model.safetensors").read_bytes()
    with safe_open(str(tmp_path / "model.safetensors"), framework="np") as reference:
        for record in headers.tensors:
            array = tensors[record.name]
            assert record.shape == array.shape
            assert record.dtype == {"float32": "F32", "float16": "F16"}[str(array.dtype)]
            assert data[record.start:record.end] == array.tobytes()
            assert reference.get_slice(record.name).get_shape() == list(array.shape)
    starts = [t.start for t in headers.tensors]
    assert starts == sorted(starts)  # file order
    assert headers.bytes_read == len(data)  # small file: one read covers it


def test_sharded_safetensors_follow_the_index(tmp_path):
    tensors = build.sharded_safetensors(tmp_path, 3)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert {t.name for t in headers.tensors} == set(tensors)
    assert {t.file for t in headers.tensors} == {f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)}
    assert headers.index == {t.name: t.file for t in headers.tensors}
    for record in headers.tensors:
        with open(tmp_path / record.file, "rb") as fh:
            fh.seek(record.start)
            assert fh.read(record.end - record.start) == tensors[record.name].tobytes()


def test_index_that_disagrees_with_a_shard_is_refused(tmp_path):
    build.sharded_safetensors(tmp_path, 2)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.layers.9.ghost.weight"] = "model-00001-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidCheckpoint, match="missing from the shard: model.layers.9.ghost.weight"):
        read_checkpoint(open_source(str(tmp_path)))


@pytest.mark.parametrize("weight_map", [[], {"a": 3}, {"a": "../../etc/passwd"}, {"a": "/abs.safetensors"}])
def test_malformed_index_is_refused(tmp_path, weight_map):
    build.write_config(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(InvalidCheckpoint, match="model.safetensors.index.json"):
        read_checkpoint(open_source(str(tmp_path)))


def test_pointer_only_shards_give_names_from_the_index(tmp_path):
    build.sharded_safetensors(tmp_path, 2)
    shard = tmp_path / "model-00002-of-00002.safetensors"
    size = shard.stat().st_size
    shard.unlink()
    build.lfs_pointer(shard, "c" * 64, size)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.weights_absent
    read = [t for t in headers.tensors if t.file.startswith("model-00001")]
    named = [t for t in headers.tensors if t.file.startswith("model-00002")]
    assert read and all(t.shape is not None for t in read)
    assert named and all(t.shape is None and t.start is None for t in named)


def test_repo_without_weights_or_index_still_reads(tmp_path):
    build.write_config(tmp_path)
    (tmp_path / "README.md").write_text("# card\n")
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.tensors == [] and headers.formats == [] and not headers.weights_absent
    assert headers.config is not None


def test_torch_bin_names_from_index_and_clean_scan(tmp_path):
    weight_map = build.torch_bin(tmp_path)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["pickle"]
    assert {t.name: t.file for t in headers.tensors} == weight_map
    assert all(t.shape is None for t in headers.tensors)
    assert len(headers.pickle_scans) == 2
    assert all(not s.dangerous and s.error is None for s in headers.pickle_scans)
    assert_safe(headers)


def test_safetensors_preferred_when_both_formats_exist(tmp_path):
    build.torch_bin(tmp_path)
    tensors = build.single_safetensors(tmp_path)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["safetensors", "pickle"]
    assert {t.name for t in headers.tensors} == set(tensors)
    assert len(headers.pickle_scans) == 2  # the other format's pickles are still scanned


def test_gguf_shapes_types_offsets_and_metadata(tmp_path):
    tensors = build.gguf_file(tmp_path / "tiny-Q8_0.gguf", vocab=500)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["gguf"]
    by_name = {t.name: t for t in headers.tensors}
    assert by_name["blk.0.ffn_up.weight"].shape == (64, 32)  # PyTorch order, like the numpy array written
    assert by_name["blk.0.ffn_up.weight"].dtype == "F16"
    assert by_name["blk.0.ffn_down.weight"].dtype == "Q8_0"
    assert by_name["blk.0.attn_norm.weight"].dtype == "F32"
    data = (tmp_path / "tiny-Q8_0.gguf").read_bytes()
    for name in ("blk.0.attn_norm.weight", "blk.0.ffn_up.weight"):
        record = by_name[name]
        assert data[record.start:record.end] == tensors[name].tobytes()
    q8 = by_name["blk.0.ffn_down.weight"]
    assert q8.end - q8.start == 8 * 64 // 32 * 34  # Q8_0: 34 bytes per 32 values
    meta = headers.gguf_metadata
    assert meta["general.architecture"] == "llama"
    assert meta["general.license"] == "apache-2.0"
    assert meta["tokenizer.ggml.tokens"] == {"array_length": 500}
    assert headers.bytes_read < len(data)


def test_gguf_repo_reads_the_largest_variant(tmp_path):
    build.gguf_file(tmp_path / "m-small.gguf", vocab=10)
    build.gguf_file(tmp_path / "m-large.gguf", vocab=2000)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert {t.file for t in headers.tensors} == {"m-large.gguf"}


def test_broken_gguf_is_invalid(tmp_path):
    path = tmp_path / "m.gguf"
    build.gguf_file(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InvalidCheckpoint, match="m.gguf"):
        read_checkpoint(open_source(str(tmp_path)))


def test_adapter_repo(tmp_path):
    tensors = build.adapter(tmp_path)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.adapter["peft_type"] == "LORA"
    assert headers.config is None
    assert {t.name for t in headers.tensors} == set(tensors)
    assert headers.tensors[0].file == "adapter_model.safetensors"


def test_malicious_pickle_is_found_not_run(tmp_path):
    marker = tmp_path / "pwned"
    build.write_config(tmp_path)
    build.malicious_pickle(tmp_path / "pytorch_model.bin", marker)
    headers = read_checkpoint(open_source(str(tmp_path)))
    (scan,) = headers.pickle_scans
    assert scan.file == "pytorch_model.bin" and "posix.system" in scan.dangerous
    with pytest.raises(UnsafePickle, match="posix.system"):
        assert_safe(headers)
    assert not marker.exists()


def test_unparseable_pickle_is_suspicious_not_clean(tmp_path):
    build.torch_bin(tmp_path, shards=1)
    path = tmp_path / "pytorch_model-00001-of-00001.bin"
    path.write_bytes(path.read_bytes()[:300])  # a torn zip
    headers = read_checkpoint(open_source(str(tmp_path)))
    (scan,) = headers.pickle_scans
    assert scan.error
    assert_safe(headers)  # not known dangerous...
    with pytest.raises(UnsafePickle, match="could not be verified"):
        assert_safe(headers, strict=True)  # ...but not known safe either


def test_training_args_pickle_is_scanned_but_not_a_weight_file(tmp_path):
    build.single_safetensors(tmp_path)
    build.malicious_pickle(tmp_path / "training_args.bin", tmp_path / "never")
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert headers.formats == ["safetensors"]
    assert [s.file for s in headers.pickle_scans] == ["training_args.bin"]
    with pytest.raises(UnsafePickle):
        assert_safe(headers)


def test_invalid_config_json_is_a_clear_error(tmp_path):
    build.single_safetensors(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": NaN}')
    with pytest.raises(InvalidCheckpoint, match="config.json: contains NaN"):
        read_checkpoint(open_source(str(tmp_path)))


def test_headers_are_deterministic(tmp_path):
    build.sharded_safetensors(tmp_path, 2)
    first = read_checkpoint(open_source(str(tmp_path)))
    second = read_checkpoint(open_source(str(tmp_path)))
    assert first == second
    assert np.all(np.diff([t.start for t in first.tensors if t.file == first.tensors[0].file]) > 0)


def test_split_gguf_parts_are_read_together(tmp_path):
    build.gguf_file(tmp_path / "m-Q8_0-00001-of-00002.gguf", vocab=10)
    build.gguf_file(tmp_path / "m-Q8_0-00002-of-00002.gguf", vocab=10)
    build.gguf_file(tmp_path / "m-Q4_0.gguf", vocab=10, rows=8)
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert sorted({t.file for t in headers.tensors}) == ["m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"]


def test_component_folders_without_root_weights(tmp_path):
    unet = build.single_safetensors(tmp_path / "unet")
    encoder = build.adapter(tmp_path / "text_encoder")
    (tmp_path / "text_encoder" / "adapter_model.safetensors").rename(tmp_path / "text_encoder" / "model.safetensors")
    headers = read_checkpoint(open_source(str(tmp_path)))
    assert {(t.file, t.name) for t in headers.tensors} == (
        {("unet/model.safetensors", n) for n in unet} | {("text_encoder/model.safetensors", n) for n in encoder}
    )
