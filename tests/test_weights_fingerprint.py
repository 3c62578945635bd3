"""fingerprint(): deterministic, safe file format, bounded reads, clean failure on truncated shards."""

from __future__ import annotations

import importlib

import pytest
import torch

from openscore.errors import InvalidCheckpoint
from openscore.weights import Fingerprint, compare
from test_weights_support import GEOMETRY, config, family, fingerprint_of, init_state, write_model


def test_same_checkpoint_gives_a_byte_identical_fingerprint_file(tmp_path):
    folder = write_model(tmp_path / "m", family()["base"], shards=2)
    one, two = fingerprint_of(folder), fingerprint_of(folder)
    one.save(tmp_path / "a.osfp")
    two.save(tmp_path / "b.osfp")
    assert (tmp_path / "a.osfp").read_bytes() == (tmp_path / "b.osfp").read_bytes()
    back = Fingerprint.load(tmp_path / "a.osfp")
    assert back.to_bytes() == one.to_bytes()
    assert compare(back, one).verdict == "identical"
    assert back.bytes_read == back.bytes_total  # the full pass read every tensor byte once


def test_a_non_fingerprint_file_is_refused(tmp_path):
    bad = tmp_path / "x.osfp"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}       ")
    with pytest.raises(InvalidCheckpoint):
        Fingerprint.load(bad)


def test_truncated_shard_raises_invalid_checkpoint(tmp_path):
    folder = write_model(tmp_path / "m", family()["base"], shards=2)
    shard = folder / "model-00002-of-00002.safetensors"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 4096])
    with pytest.raises(InvalidCheckpoint):
        fingerprint_of(folder)


def test_sample_mode_reads_a_small_fraction_and_reaches_the_same_verdict(tmp_path):
    g = dict(hidden=256, inter=768, layers=2, vocab=2048, heads=4, kv_heads=2)
    base = init_state(11, g)
    noisy = {k: v + 0.02 * torch.randn(v.shape, generator=torch.Generator().manual_seed(1)) if v.ndim == 2 else v
             for k, v in base.items()}
    ref = fingerprint_of(write_model(tmp_path / "base", base, cfg=config(g)))
    cand_folder = write_model(tmp_path / "cand", noisy, cfg=config(g))
    full, sampled = fingerprint_of(cand_folder), fingerprint_of(cand_folder, sample=True)
    assert sampled.sample and sampled.bytes_read < 0.10 * sampled.bytes_total
    assert all(t.content is None for t in sampled.tensors)
    assert compare(ref, full).verdict == compare(ref, sampled).verdict == "derived"
    # a sampled copy still comes out as a copy
    assert compare(ref, fingerprint_of(tmp_path / "base", sample=True)).verdict == "identical"


def test_fingerprint_is_small_against_the_checkpoint(tmp_path):
    folder = write_model(tmp_path / "m", family()["base"])
    fp = fingerprint_of(folder)
    # every matrix of this 0.7 MB model is under SKETCH_ALL_BELOW values: sketched whole (the Grams come from
    # the block at compare time), so the fingerprint holds about the model's matrices and little else
    matrices = sum(4 * t.shape[0] * t.shape[1] for t in fp.tensors if len(t.shape) == 2)
    assert all(set(t.sketch) == {"direct"} for t in fp.tensors if len(t.shape) == 2)
    assert len(fp.to_bytes()) < 1.1 * matrices
    assert {t.role for t in fp.tensors} >= {"embed", "attn_q", "mlp_down", "lm_head", "final_norm"}
    assert len(fp.tensors) == 3 + 9 * GEOMETRY["layers"]


def test_sampled_gguf_q4_reads_rows_by_range_and_is_a_recast_copy(tmp_path):
    from test_weights_support import write_gguf

    g = dict(hidden=256, inter=768, layers=2, vocab=2048, heads=4, kv_heads=2)
    base = init_state(11, g)
    ref = fingerprint_of(write_model(tmp_path / "base", base, cfg=config(g)))
    folder = tmp_path / "gguf"
    folder.mkdir()
    write_gguf(folder / "model.gguf", base, "Q4_0", g)
    sampled = fingerprint_of(folder, sample=True)
    assert sampled.bytes_read < 0.15 * sampled.bytes_total
    result = compare(ref, sampled)
    assert result.verdict == "recast-copy" and "cast F32->Q4_0" in result.transformations


@pytest.mark.parametrize("qtype", ["Q4_0", "Q8_0", "F16"])
def test_sampled_reads_fetch_each_byte_once_and_only_the_sketched_column_span(tmp_path, qtype):
    """A sampled pass reads a run of rows from the block of the first sketched column of its first row to that of
    the last column of its last row, never a byte twice (a GGUF q/k row wanted in both row orders is read once),
    and its values are the full pass's at the same rows and columns."""
    import numpy as np

    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources.local import LocalSource
    from openscore.weights import fingerprint
    from openscore.weights.decode import col_span
    from test_weights_support import write_gguf

    g = dict(hidden=256, inter=768, layers=1, vocab=512, heads=4, kv_heads=2)
    folder = tmp_path / "gguf"
    folder.mkdir()
    write_gguf(folder / "model.gguf", init_state(11, g), qtype, g)
    reads = []

    class Ranged(LocalSource):  # the Hub's code path: no local file, every tensor byte by a ranged read
        def local_path(self, path):
            return None

        def read_range(self, path, start, length):
            reads.append((start, start + length))
            return super().read_range(path, start, length)

    source = Ranged(folder)
    headers = read_checkpoint(source)
    reads.clear()
    sampled = fingerprint(source, headers, build_layout(headers), sample=True)
    full = fingerprint_of(folder)
    spans = sorted(reads)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))  # disjoint
    assert sampled.bytes_read == sum(end - start for start, end in spans)
    trimmed, whole = 0, []
    for tp in sampled.tensors:
        if "direct" not in tp.sketch:
            continue
        ref = next(t for t in full.tensors if t.name == tp.name)
        rows, cols = sampled.array(tp, "rows"), sampled.array(tp, "cols")
        assert np.array_equal(cols, full.array(ref, "cols"))
        at = np.searchsorted(full.array(ref, "rows"), rows)
        assert np.array_equal(full.array(ref, "rows")[at], rows)
        for kind in tp.sketch:  # direct, and direct_alt for q/k; responses: the full pass's (the same units)
            if kind == "responses":
                for k in ("responses", "response_units"):
                    assert np.array_equal(sampled.array(tp, k), full.array(ref, k)), (tp.name, k)
            else:
                assert np.array_equal(sampled.array(tp, kind), full.array(ref, kind)[at]), (tp.name, kind)
        rec = next(t for t in headers.tensors if t.name == tp.name)
        stride = (rec.end - rec.start) // tp.shape[0]
        lo, hi = col_span(rec.dtype, int(cols[0]), int(cols[-1]) + 1)
        mine = [(a, b) for a, b in spans if rec.start <= a < rec.end]
        assert mine and all(b <= rec.end for _, b in mine)
        if "responses" in tp.sketch:  # read whole for its token responses (version 10): one read
            assert mine == [(rec.start, rec.end)] and tp.role == "attn_k", tp.name
            whole.append(tp.layer)
            continue
        if tp.role == "embed":  # the probe rows of the token responses: runs of whole rows, each token once
            probes = [(a, b) for a, b in mine if (a - rec.start) % stride == 0 == (b - rec.start) % stride]
            tokens = [t for a, b in probes for t in range((a - rec.start) // stride, (b - rec.start) // stride)]
            assert tokens == sampled.response_tokens
            mine = [m for m in mine if m not in probes]
        # each read: from the first sketched column's block of a row to the last one's block of a later row
        assert all((a - rec.start - lo) % stride == 0 and (b - rec.start - hi) % stride == 0 for a, b in mine), tp.name
        trimmed += (lo, hi) != (0, stride)
    assert trimmed  # some matrix's sketched columns leave blocks out at either end of its rows
    assert whole == [0]  # one layer: its first and last


def test_a_fingerprint_missing_its_arrays_is_refused(tmp_path):
    fp = fingerprint_of(write_model(tmp_path / "m", family()["base"]))
    fp.arrays = {k: v for k, v in fp.arrays.items() if not k.endswith(".direct")}
    fp.save(tmp_path / "broken.osfp")
    with pytest.raises(InvalidCheckpoint, match="arrays missing"):
        Fingerprint.load(tmp_path / "broken.osfp")


def test_hashes_are_xxh3_of_the_whole_tensor_and_of_its_grid_rows_rounded(tmp_path):
    """The content hash is that of the whole tensor's bytes, and the grid hashes those of rows 0, 32, 64, ...
    (CAST_ROW_STRIDE) rounded (a matrix above CAST_ALL_ROWS_BELOW, with a row count no multiple of the stride)."""
    from xxhash import xxh3_128

    fp_module = importlib.import_module("openscore.weights.fingerprint")  # the package exports a function of that name
    state = family()["base"]
    big = torch.randn(1237, 1001, generator=torch.Generator().manual_seed(5))
    assert big.numel() > fp_module.CAST_ALL_ROWS_BELOW and 1237 % fp_module.CAST_ROW_STRIDE
    folder = write_model(tmp_path / "m", {**state, "model.embed_tokens.weight": big})
    got = {t.name: t for t in fingerprint_of(folder).tensors}["model.embed_tokens.weight"]
    assert got.content == xxh3_128(big.numpy().tobytes()).hexdigest()
    rows = big[:: fp_module.CAST_ROW_STRIDE]
    assert got.bf16 == xxh3_128(rows.to(torch.bfloat16).view(torch.int16).numpy().tobytes()).hexdigest()
    assert got.fp16 == xxh3_128(rows.to(torch.float16).view(torch.int16).numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("stored", [torch.bfloat16, torch.float16])
def test_16_bit_tensors_hash_their_own_rows_and_the_other_grid_exactly(tmp_path, stored):
    """A BF16 / F16 tensor's own grid hash covers its stored bytes of rows 0, 32, 64, ...; the other grid's
    equals torch's direct cast of those rows, also for values the other grid cannot hold (overflow,
    underflow, a NaN payload: rounding through float32 would keep an F16 NaN payload a direct cast drops)."""
    from xxhash import xxh3_128

    fp_module = importlib.import_module("openscore.weights.fingerprint")
    big = torch.randn(1237, 1001, generator=torch.Generator().manual_seed(6)).to(stored)
    assert big.numel() > fp_module.CAST_ALL_ROWS_BELOW
    bits = big.view(torch.int16)
    bits[0, :4] = torch.tensor([0x7F81, 0x0001, 0x4700 if stored == torch.bfloat16 else 0x7BFF, -1], dtype=torch.int16)
    state = {**family()["base"], "model.embed_tokens.weight": big}
    folder = write_model(tmp_path / "m", state, dtype=stored)
    got = {t.name: t for t in fingerprint_of(folder).tensors}["model.embed_tokens.weight"]
    rows = big[:: fp_module.CAST_ROW_STRIDE]
    other = torch.float16 if stored == torch.bfloat16 else torch.bfloat16
    own, cast = (got.bf16, got.fp16) if stored == torch.bfloat16 else (got.fp16, got.bf16)
    assert own == xxh3_128(rows.contiguous().view(torch.int16).numpy().tobytes()).hexdigest()
    assert cast == xxh3_128(rows.to(other).view(torch.int16).numpy().tobytes()).hexdigest()
    assert got.content == xxh3_128(big.view(torch.int16).numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("stored", [torch.float32, torch.bfloat16])
def test_empty_tensors_hash_as_no_bytes(tmp_path, stored):
    """A tensor with a zero dimension (either axis) has content and grid hashes of no bytes at all."""
    from xxhash import xxh3_128

    state = {**family()["base"], "extra.no_rows.weight": torch.zeros(0, 8), "extra.no_cols.weight": torch.zeros(4, 0)}
    got = {t.name: t for t in fingerprint_of(write_model(tmp_path / "m", state, dtype=stored)).tensors}
    nothing = xxh3_128(b"").hexdigest()
    for name in ("extra.no_rows.weight", "extra.no_cols.weight"):
        assert (got[name].content, got[name].bf16, got[name].fp16) == (nothing, nothing, nothing)


def test_an_older_fingerprint_version_is_refused_with_a_hint(tmp_path):
    import json

    from safetensors.numpy import load, save

    from openscore.weights.fingerprint import METADATA_KEY

    fresh = fingerprint_of(write_model(tmp_path / "m", family()["base"]))
    data = fresh.to_bytes()
    doc = json.loads(Fingerprint.from_bytes(data).model_dump_json())
    doc.update(version=3, hash_algorithm="blake3")
    old = tmp_path / "old.osfp"
    old.write_bytes(save(load(data), metadata={METADATA_KEY: json.dumps(doc)}))
    with pytest.raises(InvalidCheckpoint, match="version 3 .BLAKE3 tensor hashes.*fingerprint the checkpoint again"):
        Fingerprint.load(old)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grams_are_the_normalised_unit_sums_over_their_stored_indices(tmp_path, dtype, monkeypatch):
    """Each stored Gram equals sum_i u_i u_i^T / |u_i|^2 / n recomputed in float64 from the checkpoint, at
    its stored indices: aligned runs of 8 for the column Gram over residual dimensions (gathered as runs),
    hash-chosen single indices for Grams over units. (These matrices are small enough to be sketched
    whole, without stored Grams: the threshold is lowered so they get them.)"""
    import numpy as np

    import sys

    from openscore.weights import sampling

    monkeypatch.setattr(sys.modules["openscore.weights.fingerprint"], "SKETCH_ALL_BELOW", 0)

    state = init_state(3)
    folder = write_model(tmp_path / "m", state, dtype=dtype)
    fp = fingerprint_of(folder)
    checked = set()
    for t in fp.tensors:
        if t.layer != 0 or "gram_r" not in t.sketch:
            continue
        x = state[t.name].to(dtype).double().numpy()
        for kind in ("gram_r", "gram_c"):
            if kind not in t.sketch:
                continue
            ids = fp.array(t, f"{kind}_ids")
            units = x[:, ids] if kind == "gram_r" else x[ids, :].T
            units = units / np.linalg.norm(units, axis=1, keepdims=True)
            expected = (units.T @ units / len(units))[np.triu_indices(len(ids), 1)]
            got = fp.array(t, kind).astype(np.float64)
            assert np.abs(got - expected).max() <= 1e-3 * np.abs(expected).max(), (t.name, kind)
            runs = kind == "gram_r" == t.residual_gram
            length = x.shape[0 if kind == "gram_c" else 1]
            assert np.array_equal(ids, sampling.pick_gram(t.role, kind, length, 48, sampling.GRAM_RUN if runs else 1))
            checked.add((t.role, kind, runs))
    # residual column Grams (q, k, v, gate, up) come in runs; o/down column Grams and every row Gram do not
    assert ("attn_q", "gram_r", True) in checked and ("attn_o", "gram_r", False) in checked
    # attn_k / attn_v (32 x 64) fit in one direct block: sketched whole, their Grams come from it at compare time
    assert ("mlp_down", "gram_c", False) in checked and len(checked) == 10
    assert all(set(t.sketch) == {"direct"} for t in fp.tensors if t.role in ("attn_k", "attn_v"))


def test_small_tensors_fingerprinted_in_chunks_give_what_one_by_one_gives(tmp_path):
    """The chunked pass over small tensors (_small_prints: one cast per dtype, hashes by slice) gives the very
    print and arrays of the tensor-by-tensor pass (_full_print) for every kind of small tensor: each float
    dtype, scalars, vectors, matrices stored transposed, 3-D, zero-element, constant ones (an F64 vector
    whose values only float32 confuses is not), and values at the grids' edges (overflow, subnormals,
    infinities, signed zeros; a tensor holding a NaN goes the one-by-one way)."""
    fp_module = importlib.import_module("openscore.weights.fingerprint")
    from openscore.formats.records import TensorRecord

    gen = torch.Generator().manual_seed(3)
    specials = torch.tensor([70000.0, -1e-42, 1e-8, float("inf"), -0.0, 0.0, 3.3895e38, 65520.0, float("nan")],
                            dtype=torch.float64)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2"}
    items = []
    for i in range(240):
        dtype = list(names)[i % len(names)]
        shape = [(), (5,), (3, 7), (16, 16), (2, 3, 4), (128, 128), (0,), (0, 3), (7,)][i % 9]
        values = torch.randn(shape, generator=gen, dtype=torch.float64) * 10.0 ** (i % 9 - 4)
        flat = values.view(-1)
        if i % 4 == 1 and flat.numel():
            flat[i % flat.numel()] = specials[i % len(specials)]
        if i % 7 == 0:
            values.fill_(0.5)
        if (i % 11 == 3 or i >= 230) and flat.numel() > 1:  # two doubles float32 cannot tell apart
            flat[:] = 1.0
            flat[0] = 1.0 + 2.0 ** -40
            dtype = torch.float64 if i >= 230 else dtype
        data = memoryview(values.to(dtype).contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        record = TensorRecord(name=f"t{i}", file="f", dtype=names[dtype], shape=tuple(shape), start=0, end=len(data))
        item = fp_module._Placed(record, ("mlp_up", "attn_o", "embed")[i % 3], i, transposed=len(shape) == 2 and i % 5 == 0)
        assert fp_module._is_small(item, fp_module._check_size(item), {})
        items.append((item, f"t{i:05d}", data))
    results = fp_module._small_prints(items, "cpu", {})
    assert all(len(prints) == 1 for prints, _ in results)  # a small tensor is never split into parts
    chunked = [(prints[0], arrays) for prints, arrays in results]
    assert any(t.constant for t, _ in chunked) and any("direct" in t.sketch for t, _ in chunked)
    f64 = {len(t.shape): t.constant for t, _ in chunked[230:] if t.shape and t.shape[0] > 1}
    assert f64 == {1: False, 2: True, 3: True}  # a vector compared as doubles, a matrix as its float32 sketch
    for (item, key, data), (tp, arrays) in zip(items, chunked):
        (one_tp,), one_arrays = fp_module._full_print(data, item, key, "cpu", {})
        assert tp.model_dump() == one_tp.model_dump(), item.record
        assert sorted(arrays) == sorted(one_arrays)
        for name, array in arrays.items():
            assert array.dtype == one_arrays[name].dtype and array.tobytes() == one_arrays[name].tobytes()


def test_many_tiny_tensors_are_fingerprinted_a_chunk_per_worker_call(tmp_path, monkeypatch):
    """A checkpoint of many tiny tensors costs one worker call per chunk, not one per tensor (torch calls per
    tensor made 300k tiny tensors take minutes: bench/hostile.py), and still every tensor is fingerprinted."""
    fp_module = importlib.import_module("openscore.weights.fingerprint")
    import numpy as np
    from safetensors.numpy import save_file

    from checkpoint_builders import write_config
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source

    count = 3 * fp_module._CHUNK_TENSORS + 5
    write_config(tmp_path)
    save_file({f"model.layers.{i // 3}.mlp.{('up', 'down', 'gate')[i % 3]}_proj.weight":
               np.full((2, 2), i % 7, np.float32) + np.eye(2, dtype=np.float32) * (i % 2) for i in range(count)},
              str(tmp_path / "model.safetensors"))
    calls = {"chunks": 0, "one": 0}
    small, full = fp_module._small_prints, fp_module._full_print

    def counted_small(chunk, *args):
        calls["chunks"] += 1
        return small(chunk, *args)

    def counted_full(*args):
        calls["one"] += 1
        return full(*args)

    monkeypatch.setattr(fp_module, "_small_prints", counted_small)
    monkeypatch.setattr(fp_module, "_full_print", counted_full)
    source = open_source(str(tmp_path))
    headers = read_checkpoint(source)
    fp = fp_module.fingerprint(source, headers, build_layout(headers), device="cpu")
    assert len(fp.tensors) == count and fp.bytes_read == fp.bytes_total == 16 * count
    assert calls == {"chunks": 4, "one": 0}
    assert sum(1 for t in fp.tensors if "direct" in t.sketch) == sum(1 for t in fp.tensors if not t.constant) > 0


def test_a_fingerprint_too_large_for_its_file_is_a_one_line_error_and_a_hub_audit_goes_on_uncached(
        tmp_path, monkeypatch):
    """Past about 300k tensors a fingerprint's header exceeds the 100 MB safetensors allows: writing it is
    InvalidCheckpoint (exit 20, one line, no file), and the fingerprint of a Hub commit is then used uncached."""
    from types import SimpleNamespace

    from openscore.sources import open_source
    from openscore.weights import cache as cache_module
    from openscore.weights.fingerprint import TensorPrint

    huge = Fingerprint(source="org/m@" + "0" * 40, tensors=[
        TensorPrint(key="t00000", name="x" * 100_000_001, file="f", role="mlp_up", shape=[1], dtype="F32")])
    with pytest.raises(InvalidCheckpoint) as err:
        huge.save(tmp_path / "huge.osfp")
    assert "fingerprint of 1 tensors cannot be written" in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 20 and not list(tmp_path.iterdir())

    local = open_source(str(write_model(tmp_path / "m", family()["base"])))

    class HubCommit:  # the local checkpoint, seen as a Hub commit (whose fingerprints are cached)
        ref = SimpleNamespace(kind="hub", repo_id="org/m", sha="0" * 40, key="org/m@" + "0" * 40)

        def __getattr__(self, name):
            return getattr(local, name)

    def too_large(*_):
        raise InvalidCheckpoint("org/m: the fingerprint of 300,000 tensors cannot be written")

    store = cache_module.FingerprintCache(tmp_path / "cache")
    monkeypatch.setattr(store, "put", too_large)
    fp = cache_module.fingerprint_source(HubCommit(), device="cpu", cache=store)
    assert fp.tensors and store.get("org/m", "0" * 40, sample=False) is None
