"""Property-based tests of every reader of untrusted content (hypothesis).

Whatever the bytes, each reader either returns or raises an OpenscoreError with a documented exit code
and a one-line message: never another exception. Profiles: `ci` (the default: few examples, no example
database written), `dev` and `deep` (HYPOTHESIS_PROFILE=deep for a long local run).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from openscore.errors import OpenscoreError

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
               database=None, derandomize=True)
settings.register_profile("ci", max_examples=25, **_COMMON)
settings.register_profile("dev", max_examples=150, **_COMMON)
settings.register_profile("deep", max_examples=2000, **{**_COMMON, "derandomize": False})
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: every exit code the README documents for a refused input
DOCUMENTED = {2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22}


def refused_cleanly(exc: OpenscoreError) -> None:
    assert exc.exit_code in DOCUMENTED, (exc.exit_code, str(exc))
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text


def attempt(fn, *args, **kwargs):
    """fn(...) or None when it refused the input with a documented, one-line OpenscoreError."""
    try:
        return fn(*args, **kwargs)
    except OpenscoreError as exc:
        refused_cleanly(exc)
        return None


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="openscore-fuzz-") as tmp:
        yield Path(tmp)


def _folder(workdir: Path, files: dict[str, bytes]) -> Path:
    """A fresh model folder holding exactly `files`."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _read_and_fingerprint(folder: Path) -> None:
    """The header reader, then (when it accepts the checkpoint) the layout and the full fingerprint."""
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.sources import open_source
    from openscore.weights import compare, fingerprint

    source = open_source(str(folder))
    headers = attempt(read_checkpoint, source)
    if headers is None:
        return
    layout = build_layout(headers)
    fp = attempt(fingerprint, source, headers, layout, device="cpu")
    if fp is not None:
        assert compare(fp, fp).verdict in ("identical", "inconclusive", "architecture-clone")


# --- safetensors ------------------------------------------------------------------------------------

DTYPES = ["F32", "F16", "BF16", "I8", "U8", "I64", "F64", "BOOL", "F8_E4M3", "X9"]
_dims = st.lists(st.one_of(st.integers(0, 6), st.integers(-3, 2**40)), max_size=3)


@st.composite
def safetensors_files(draw) -> bytes:
    """A header that is nearly right (names, dtypes, shapes, offsets drawn near valid) and a data section."""
    count = draw(st.integers(0, 5))
    header, offset = {}, 0
    for i in range(count):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(_dims)
        size = draw(st.one_of(st.just(int(np.prod(shape or [1])) * 4 if all(d >= 0 for d in shape) else 0),
                              st.integers(0, 64)))
        end = offset + draw(st.one_of(st.just(size), st.integers(-4, 80)))
        name = draw(st.one_of(st.just(f"model.layers.{i}.mlp.up_proj.weight"), st.text(max_size=12)))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
        offset = max(end, 0)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5),
                                                                                       st.integers()), max_size=2))
    raw = json.dumps(header).encode()
    data = draw(st.binary(min_size=0, max_size=256)) if draw(st.booleans()) else bytes(min(offset, 4096))
    length = draw(st.one_of(st.just(len(raw)), st.integers(0, 2**64 - 1)))
    return length.to_bytes(8, "little") + raw + data


@given(safetensors_files())
def test_fuzz_safetensors_structured(workdir, data):
    _read_and_fingerprint(_folder(workdir, {"model.safetensors": data}))


@given(st.binary(max_size=512))
def test_fuzz_safetensors_raw_bytes(workdir, data):
    _read_and_fingerprint(_folder(workdir, {"model.safetensors": data}))


# --- GGUF -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gguf_bytes(workdir) -> bytes:
    from tests import checkpoint_builders as build

    path = workdir / "seed" / "model.gguf"
    build.gguf_file(path, vocab=8, rows=8)
    return path.read_bytes()


@given(st.data())
def test_fuzz_gguf_mutated(workdir, gguf_bytes, data):
    buf = bytearray(gguf_bytes)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(buf) - 1))
        kind = data.draw(st.sampled_from(["flip", "byte", "u64", "cut"]))
        if kind == "flip":
            buf[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "byte":
            buf[at] = data.draw(st.integers(0, 255))
        elif kind == "u64":
            buf[at:at + 8] = data.draw(st.sampled_from([0, 1, 2**31, 2**63, 2**64 - 1])).to_bytes(8, "little")
        else:
            del buf[at:]
            break
    _read_and_fingerprint(_folder(workdir, {"model.gguf": bytes(buf)}))


@pytest.fixture(scope="module")
def gguf_with_types(workdir) -> bytes:
    from tests import checkpoint_builders as build

    path = workdir / "seed-types" / "model.gguf"
    build.gguf_file(path, vocab=200, rows=8, token_types=True)  # 800 bytes of token types: stepped over
    return path.read_bytes()


@given(st.data())
def test_fuzz_gguf_header_by_ranged_reads_agrees_with_the_local_walk(workdir, gguf_with_types, monkeypatch, data):
    """The Hub's walk (Range reads sized by what it knows, long fixed-size arrays never fetched) gives the same
    headers, or the same refusal, as the walk over the whole local file."""
    from openscore.formats import read_checkpoint
    from openscore.sources.local import LocalSource

    class Ranged(LocalSource):
        def local_path(self, path):
            return None

    monkeypatch.setattr("openscore.formats.gguf_header.MIN_READ_BYTES", 64)
    buf = bytearray(gguf_with_types)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, min(len(buf), 4000) - 1))
        buf[at] = data.draw(st.integers(0, 255))
    folder = _folder(workdir, {"model.gguf": bytes(buf)})
    answers = []
    for source in (LocalSource(folder), Ranged(folder)):
        try:
            headers = read_checkpoint(source)
            answers.append((headers.tensors, headers.gguf_metadata))
        except OpenscoreError as exc:
            refused_cleanly(exc)
            answers.append(str(exc))
    assert answers[0] == answers[1]


# --- pickle scanner (the scanner only) --------------------------------------------------------------

@given(st.one_of(st.binary(max_size=512),
                 st.builds(lambda head, tail: b"PK\x03\x04" + head + tail, st.binary(max_size=64), st.binary(max_size=64)),
                 st.builds(lambda op, arg: b"\x80\x02" + op + arg + b".", st.binary(min_size=1, max_size=2),
                           st.binary(max_size=32))))
def test_fuzz_pickle_scanner(workdir, data):
    from openscore.formats.pickles import scan_path

    folder = _folder(workdir, {"pytorch_model.bin": data})
    scan = attempt(scan_path, folder / "pytorch_model.bin", "pytorch_model.bin")
    if scan is not None:
        assert scan.file == "pytorch_model.bin"


# --- cards and configs ------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                     st.text(max_size=20))
_json_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                            max_leaves=12)
CARD_KEYS = ["license", "license_name", "license_link", "base_model", "base_model_relation", "datasets", "tags",
             "pipeline_tag", "language", "library_name", "model-index", "co2_eq_emissions", "metrics", "model_type"]
CONFIG_KEYS = ["architectures", "model_type", "_name_or_path", "hidden_size", "num_hidden_layers",
               "num_attention_heads", "vocab_size", "intermediate_size", "torch_dtype", "tie_word_embeddings"]


def _collect(folder: Path):
    from openscore.evidence import collect
    from openscore.sources import open_source

    source = open_source(str(folder))
    return attempt(collect, source, source.inventory())


@given(st.dictionaries(st.sampled_from(CARD_KEYS), _json_values, max_size=5),
       st.text(max_size=300))
def test_fuzz_card_front_matter_and_body(workdir, front, body):
    try:
        fm = yaml.safe_dump(front, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    _collect(_folder(workdir, {"README.md": f"---\n{fm}---\n{body}".encode("utf-8", "surrogatepass")}))


@given(st.binary(max_size=400))
def test_fuzz_card_raw_bytes(workdir, data):
    _collect(_folder(workdir, {"README.md": data}))


@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), _json_values, max_size=6))
def test_fuzz_config(workdir, config):
    from tests import checkpoint_builders as build

    folder = _folder(workdir, {})
    build.single_safetensors(folder)
    (folder / "config.json").write_text(json.dumps(config))  # NaN/Infinity stay in: json writes them
    _collect(folder)
    _read_and_fingerprint(folder)


# --- policy, lock, report ---------------------------------------------------------------------------

POLICY_KEYS = ["version", "models", "rubrics", "licence", "provenance", "waivers"]


@given(st.one_of(st.dictionaries(st.sampled_from(POLICY_KEYS), _json_values, max_size=4),
                 st.builds(lambda w: {"version": 1, "waivers": [w]},
                           st.dictionaries(st.sampled_from(["model", "rules", "reason", "expires"]),
                                           st.one_of(_scalars, st.dates()), max_size=4))),
       st.text(max_size=40))
def test_fuzz_policy(workdir, doc, tail):
    from openscore.gate import load_policy

    try:
        text = yaml.safe_dump(doc, allow_unicode=True) + tail
    except yaml.YAMLError:
        assume(False)
    path = _folder(workdir, {}) / "openscore.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    attempt(load_policy, path)


@given(st.dictionaries(st.sampled_from(["lock_version", "models"]),
                       st.one_of(_json_values, st.lists(st.fixed_dictionaries(
                           {"source": st.text(max_size=8), "kind": st.sampled_from(["local", "hub", "x"]),
                            "repo_id": st.text(max_size=8), "sha": st.text(max_size=8),
                            "path": st.one_of(st.none(), st.sampled_from(["..", "../..", "/etc", "a/../..", "m", "."]),
                                              st.text(max_size=8)),
                            "files": st.lists(st.fixed_dictionaries(
                                {"path": st.text(max_size=12), "size": st.integers(-2, 10),
                                 "sha256": st.just("0" * 64)}), max_size=2)}), max_size=2)), max_size=2))
def test_fuzz_lock(workdir, doc):
    from openscore.lock import verify

    folder = _folder(workdir, {})
    (folder / "openscore.lock").write_text(json.dumps(doc))
    checks = attempt(verify, folder / "openscore.lock", offline=True)
    for check in checks or []:  # a checked folder is always inside the lock's folder
        assert check.status == "skipped" or Path(check.target).resolve().is_relative_to(folder.resolve())


@pytest.fixture(scope="module")
def report_doc() -> dict:
    from test_gate import make_report

    return json.loads(make_report("acme/m").to_json())


def _paths(doc, prefix=()):
    yield prefix
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


@given(st.data())
def test_fuzz_report(workdir, report_doc, data):
    from openscore.report import load_report

    doc = json.loads(json.dumps(report_doc))
    paths = list(_paths(doc))[1:]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = data.draw(_json_values)
        except (KeyError, IndexError, TypeError):
            continue
    file = _folder(workdir, {}) / "r.json"
    file.write_text(json.dumps(doc))  # NaN and Infinity are written as such
    report = attempt(load_report, file)
    if report is not None:  # accepted: every score finite, in [0, 1]
        for rubric in report.rubrics.values():
            assert all(s is None or (math.isfinite(s) and 0 <= s <= 1) for s in rubric.scores.values())
