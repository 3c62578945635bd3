"""Hostile and faulty local input (issue 19): writes kept inside their folder and atomic, files read
whole bounded and regular, YAML alias bombs, pickle scans bounded in bytes and opcodes, never silent."""

from __future__ import annotations

import os
import pickle
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from openscore import atomic
from openscore.audit import audit, report_path, write_report
from openscore.errors import ConfigError, InvalidCheckpoint, InvalidReport, UsageError
from openscore.formats import read_checkpoint
from openscore.formats import pickles
from openscore.formats.pickles import MAX_OPCODES, MAX_PICKLE_BYTES, scan_path
from openscore.gate.engine import load_report
from openscore.lock import load_lock
from openscore.safeio import contained, read_bounded
from openscore.sources import open_source
from openscore.yamlconfig import read_yaml
from tests import checkpoint_builders as build


@pytest.fixture(scope="module")
def sample_report():
    return audit("sample:tiny-llama", weights=False)


# -- writes stay inside the folder the user gave ----------------------------------------------------

@pytest.mark.parametrize("sha", ["../../x", "../escape", "{tmp}/absolute", "a/../../b", "..", "a\\b", ""])
def test_a_hostile_sha_never_files_a_report_outside_reports(tmp_path, sample_report, sha):
    sha = sha.format(tmp=tmp_path)  # an absolute path, inside the test's own folder
    report = sample_report.model_copy(update={"source": sample_report.source.model_copy(update={"sha": sha})})
    reports = tmp_path / "deep" / "reports"
    with pytest.raises(UsageError, match="cannot file a report|outside") as info:
        write_report(report, reports)
    assert info.value.exit_code == 2
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "nothing written anywhere"


def test_reports_folder_symlinked_out_is_refused(tmp_path, sample_report):
    reports = tmp_path / "reports"
    outside = tmp_path / "outside"
    outside.mkdir()
    (reports / "openscore-samples").mkdir(parents=True)
    (reports / "openscore-samples" / "tiny-llama").symlink_to(outside)
    with pytest.raises(UsageError, match="resolves outside"):
        write_report(sample_report, reports)
    assert list(outside.iterdir()) == []


def test_contained_is_the_one_check(tmp_path):
    assert contained(tmp_path, "a/b.json") == tmp_path.resolve() / "a" / "b.json"
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(UsageError, match="outside"):
            contained(tmp_path, bad)
    with pytest.raises(UsageError, match="outside"):
        atomic.write_text(tmp_path.parent / "elsewhere.txt", "x", under=tmp_path)


def test_report_path_is_unchanged_for_a_clean_sha(tmp_path, sample_report):
    path = report_path(sample_report, tmp_path)
    assert path == tmp_path / "openscore-samples" / "tiny-llama" / f"{sample_report.source.sha}.json"


# -- atomic writes: a failure midway leaves the old file and no temp file (kills "write in place") -----

@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_a_failing_report_write_leaves_the_old_report_and_no_temp(tmp_path, sample_report, monkeypatch, fail_at):
    first = write_report(sample_report, tmp_path)
    old = first.read_bytes()
    changed = sample_report.model_copy(update={"tool": "openscore@changed"})

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    if fail_at == "write":  # the disk fills after half the bytes
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                self.fh.flush()
                disk_full()

            def __getattr__(self, name):
                return getattr(self.fh, name)

        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: HalfFile(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(atomic.os, fail_at, disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(changed, tmp_path)
    assert first.read_bytes() == old
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name], "no temp file left behind"


# -- files read whole: bounded, regular files only ---------------------------------------------------

def test_a_fifo_policy_is_refused_at_once(tmp_path):
    fifo = tmp_path / "policy.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="a FIFO, not a regular file"):
        read_yaml(fifo)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("reader, error", [
    (lambda p: read_yaml(p), ConfigError),
    (lambda p: load_lock(p), ConfigError),
    (lambda p: load_report(p), InvalidReport),
])
def test_a_symlink_to_dev_zero_is_refused(tmp_path, reader, error):
    link = tmp_path / "file.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(error, match="a character device, not a regular file") as info:
        reader(link)
    assert "\n" not in str(info.value)


def test_an_oversized_file_is_refused_on_what_is_read(tmp_path):
    big = tmp_path / "policy.yaml"
    big.write_bytes(b"#" * 5_000_000)
    with pytest.raises(ConfigError, match="larger than the 4,000,000-byte limit"):
        read_yaml(big)
    assert read_bounded(big, 5_000_000) == b"#" * 5_000_000


def test_a_card_that_is_a_fifo_is_not_read(tmp_path):
    build.single_safetensors(tmp_path)
    os.mkfifo(tmp_path / "README.md")
    source = open_source(str(tmp_path))
    assert source.read_text("README.md") is None  # not a regular file: not part of the inventory


def test_yaml_alias_bomb_is_refused_fast(tmp_path):
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "policy.yaml"
    bomb.write_text("\n".join(levels) + "\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias bomb"):
        read_yaml(bomb)
    assert time.monotonic() - started < 2
    from openscore.anchors import mot, osai

    for reader in (mot.load, osai.load):  # OSAI and MOT files come from outside too
        with pytest.raises(ConfigError, match="alias bomb"):
            reader(bomb)
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("a: &a\n  - *a\n")
    with pytest.raises(ConfigError, match="refers to itself"):
        read_yaml(recursive)


# -- pickles: bounded, suspicious globals and unscannable files are findings -------------------------

def _zip_pickle(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("archive/data.pkl", payload)
    return path


def test_zip_bomb_pickle_is_a_finding_in_bounded_memory(tmp_path):
    # 64 MiB of pickle bytes (one BINBYTES8 claiming all of it) in a ~65 KB .bin
    payload = b"\x80\x04\x8e" + struct.pack("<Q", 64 << 20) + bytes(64 << 20) + b"."
    path = _zip_pickle(tmp_path / "pytorch_model.bin", payload)
    del payload
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    scan = scan_path(path, "pytorch_model.bin")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert scan.error == f"not fully scanned: more than {MAX_PICKLE_BYTES:,} bytes of pickle data (after decompression)"
    assert peak < 2 * MAX_PICKLE_BYTES + (8 << 20)  # the capped read and zipfile's buffer, never 64 MiB more


def test_opcode_flood_stops_at_the_opcode_cap(tmp_path):
    path = _zip_pickle(tmp_path / "pytorch_model.bin", b"\x80\x02" + b"N0" * (MAX_OPCODES // 2 + 10) + b"N.")
    scan = scan_path(path, "pytorch_model.bin")
    assert scan.error == f"not fully scanned: more than {MAX_OPCODES:,} pickle opcodes"


def test_opcodes_are_walked_not_collected(tmp_path, monkeypatch):
    monkeypatch.setattr(pickles, "MAX_OPCODES", 200_000)
    path = _zip_pickle(tmp_path / "pytorch_model.bin", b"\x80\x02" + b"N0" * 100_010 + b"N.")
    tracemalloc.start()
    scan = scan_path(path, "pytorch_model.bin")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert scan.error == "not fully scanned: more than 200,000 pickle opcodes"
    assert peak < 4 << 20  # 200k collected opcode tuples would take tens of MB


def test_globals_before_a_cap_are_still_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(pickles, "MAX_OPCODES", 10_000)
    dangerous = pickle.dumps(os.system, protocol=2)[:-1]  # no STOP: the flood follows
    path = _zip_pickle(tmp_path / "model.bin", dangerous + b"N0" * 10_000)
    scan = scan_path(path, "model.bin")
    assert scan.dangerous == ("posix.system",) and scan.error.startswith("not fully scanned")


def _audit_findings(folder: Path) -> dict[str, list[str]]:
    report = audit(str(folder), weights=True, rubrics=["osai-v3"])
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f.id, []).append(f"{f.severity}: {f.message}")
    return out


def test_suspicious_globals_are_a_warning_finding(tmp_path):
    import code
    import importlib

    build.single_safetensors(tmp_path)
    (tmp_path / "training_args.bin").write_bytes(
        pickle.dumps({"a": importlib.import_module, "b": code.InteractiveInterpreter}, protocol=2))
    findings = _audit_findings(tmp_path)
    assert findings["suspicious-pickle"] == [
        "warning: training_args.bin imports globals that are not known safe: code.InteractiveInterpreter, "
        "importlib.import_module; never load it with torch.load or pickle"]
    assert "unsafe-pickle" not in findings and "unscannable-pickle" not in findings


@pytest.mark.parametrize("content", [b"garbage" * 10, b"", b"\x80\x02}q\x00"], ids=["garbage", "empty", "torn"])
def test_a_pickle_that_cannot_be_parsed_is_unscannable_never_clean(tmp_path, content):
    build.single_safetensors(tmp_path)
    (tmp_path / "optimizer.pt").write_bytes(content)
    findings = _audit_findings(tmp_path)
    (message,) = findings["unscannable-pickle"]
    assert message.startswith("warning: optimizer.pt could not be verified by the static scanner (")


def test_torch_files_scan_clean_zip_and_legacy(tmp_path):
    import torch

    torch.save({"w": torch.ones(3)}, tmp_path / "new.bin")
    torch.save({"w": torch.ones(3)}, tmp_path / "old.bin", _use_new_zipfile_serialization=False)
    for name in ("new.bin", "old.bin"):
        scan = scan_path(tmp_path / name, name)
        assert (scan.dangerous, scan.suspicious, scan.error) == ((), (), None), name


def test_a_pickle_that_is_a_fifo_is_unscannable(tmp_path):
    os.mkfifo(tmp_path / "x.bin")
    scan = scan_path(tmp_path / "x.bin", "x.bin")
    assert scan.error == f"{tmp_path / 'x.bin'}: cannot read the pickle file: a FIFO, not a regular file"


def test_read_checkpoint_of_an_unscannable_bin_reports_it(tmp_path):
    build.write_config(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x00" * 100)
    headers = read_checkpoint(open_source(str(tmp_path)))
    (scan,) = headers.pickle_scans
    assert scan.error and not scan.dangerous


def test_text_file_over_the_cap_is_refused(tmp_path):
    build.single_safetensors(tmp_path)
    (tmp_path / "README.md").write_bytes(b"x" * 100)
    with pytest.raises(InvalidCheckpoint, match="over the 10-byte limit"):
        open_source(str(tmp_path)).read_text("README.md", max_bytes=10)


# -- hashing a large local file: progress, and the deadline --------------------------------------------

def test_a_40_gb_sparse_file_does_not_hash_for_ever(tmp_path):
    from openscore.errors import DeadlineExceeded
    from openscore.sources.limits import Limits, use_limits

    build.single_safetensors(tmp_path)
    with open(tmp_path / "huge.bin", "wb") as fh:
        fh.truncate(40 << 30)  # 40 GB of holes: costs no disk, would take minutes to hash
    started = time.monotonic()
    with use_limits(Limits(file_deadline=0.5)):  # as `--file-deadline 0.5` sets them
        with pytest.raises(DeadlineExceeded, match="hashing huge.bin: over the per-file deadline of 0.5 s") as info:
            open_source(str(tmp_path)).inventory()
    assert time.monotonic() - started < 5
    assert info.value.exit_code == 18
    with use_limits(Limits(file_deadline=60, deadline=0.5)):
        with pytest.raises(DeadlineExceeded, match="over the per-audit deadline of 0.5 s"):
            open_source(str(tmp_path)).inventory()


def test_hashing_a_large_folder_shows_progress(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from openscore.sources import local
    from openscore.sources.limits import Limits

    monkeypatch.setattr(local, "HASH_PROGRESS_MIN_BYTES", 1 << 20)
    (tmp_path / "a.bin").write_bytes(bytes(3 << 20))
    (tmp_path / "b.bin").write_bytes(bytes(2 << 20))
    seen = []

    @contextmanager
    def bar(label, total):
        seen.append((label, total))

        class Bar:
            def update(self, done):
                seen.append(done)

        yield Bar()

    local.LocalSource(tmp_path, limits=Limits(progress=bar)).inventory()
    assert seen[0] == ("hashing local files", 5 << 20)
    assert seen[-1] == 5 << 20 and seen[1:] == sorted(seen[1:])


def test_hashing_progress_goes_through_the_cli_console(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from openscore.cli import cli
    from openscore.sources import local

    monkeypatch.setattr(local, "HASH_PROGRESS_MIN_BYTES", 1 << 20)
    build.single_safetensors(tmp_path / "m")
    (tmp_path / "m" / "big.dat").write_bytes(bytes(3 << 20))
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "m")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "hashing local files: 3.0 of 3.0 MiB" in result.stderr


def test_the_audit_deadline_is_checked_while_fingerprinting(tmp_path, monkeypatch):
    from openscore.errors import DeadlineExceeded
    from openscore.sources.limits import Deadline

    real_check = Deadline.check

    def check(self, doing):  # the deadline passes once the weights are being fingerprinted
        if doing == "fingerprinting weights":
            raise DeadlineExceeded(f"{doing}: over the {self.what} deadline of {self.seconds:g} s")
        real_check(self, doing)

    monkeypatch.setattr(Deadline, "check", check)
    build.single_safetensors(tmp_path)
    with pytest.raises(DeadlineExceeded, match="fingerprinting weights: over the per-audit deadline"):
        audit(str(tmp_path), rubrics=["osai-v3"])
