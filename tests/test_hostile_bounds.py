"""Files and answers read whole outside the Hub source (issue 19): the registry index (a user folder's, or
one being pulled from a folder or a URL), the GitHub step summary the gate appends to, a batch list file,
the run journal, the fingerprint cache. Each is a regular file read up to a cap (safeio), YAML aliases
are checked before they expand, and a URL's answer is bounded by the pull's deadline headers included."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import ConfigError, DeadlineExceeded, UsageError
from openscore.weights import publish
from openscore.weights.registry import INDEX_FILE, Registry
from test_gate import make_report, save

ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]" for prev, name in zip("abcdefgh", "bcdefghi")]
) + "\n"


def _fast(fn, error, match: str):
    started = time.monotonic()
    with pytest.raises(error, match=match) as info:
        fn()
    assert time.monotonic() - started < 5
    assert "\n" not in str(info.value)


# -- the registry index ---------------------------------------------------------------------------------

def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _dev_zero(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


@pytest.mark.parametrize(("make", "match"), [
    (_fifo, "index.yaml: cannot read the registry index: a FIFO, not a regular file"),
    (_dev_zero, "index.yaml: cannot read the registry index: a character device, not a regular file"),
    (lambda p: (p.parent.mkdir(parents=True), p.write_bytes(b"#" * (9 << 20))),
     "index.yaml: the registry index is larger than the 8,388,608-byte limit"),
    (lambda p: (p.parent.mkdir(parents=True), p.write_text(ALIAS_BOMB)), "aliases expand to more than 1,000,000"),
    (lambda p: (p.parent.mkdir(parents=True), p.write_bytes(b"entries: [\xff]")), "invalid registry index"),
    (lambda p: (p.parent.mkdir(parents=True),
                p.write_text("entries:\n- {id: acme/x, fingerprint: ../../x.osfp, source: acme/x@1}\n")),
     r"entries\.0\.fingerprint: fingerprint '\.\./\.\./x\.osfp' is not a file name beside the index"),
])
def test_a_hostile_user_registry_index_is_refused(tmp_path, make, match):
    make(tmp_path / "registry" / INDEX_FILE)
    _fast(lambda: Registry.load(tmp_path / "registry"), ConfigError, match)


def test_an_index_naming_a_file_outside_cannot_make_remove_delete_it(tmp_path, monkeypatch):
    victim = tmp_path / "victim.osfp"
    victim.write_text("keep me")
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / INDEX_FILE).write_text(
        "entries:\n- {id: acme/x, fingerprint: ../victim.osfp, source: acme/x@1}\n")
    monkeypatch.setenv("OPENSCORE_REGISTRY", str(tmp_path / "registry"))
    result = CliRunner().invoke(cli, ["registry", "remove", "acme/x"])
    assert result.exit_code == 2 and "is not a file name beside the index" in result.stderr
    assert victim.read_text() == "keep me"


def test_registry_pull_from_a_folder_refuses_fifos_and_devices(tmp_path):
    target = Registry([], tmp_path / "target")
    _fifo(tmp_path / "fifo" / INDEX_FILE)
    _fast(lambda: publish.pull(str(tmp_path / "fifo"), target), ConfigError, "a FIFO, not a regular file")
    _dev_zero(tmp_path / "zero" / INDEX_FILE)
    _fast(lambda: publish.pull(str(tmp_path / "zero"), target), ConfigError, "a character device")
    (tmp_path / "bomb").mkdir()
    (tmp_path / "bomb" / INDEX_FILE).write_text(ALIAS_BOMB)
    _fast(lambda: publish.pull(str(tmp_path / "bomb"), target), ConfigError, "an alias bomb")
    (tmp_path / "entry").mkdir()
    (tmp_path / "entry" / INDEX_FILE).write_text(
        "entries:\n- {id: acme/x, fingerprint: x.osfp, source: acme/x@1, sha256: '" + "0" * 64 + "'}\n")
    _fifo(tmp_path / "entry" / "x.osfp")
    _fast(lambda: publish.pull(str(tmp_path / "entry"), target), ConfigError, "x.osfp: cannot read the registry file: "
                                                                               "a FIFO")
    assert not (tmp_path / "target").exists()


def test_registry_pull_from_a_url_whose_headers_trickle_ends_at_its_deadline(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "PULL_DEADLINE_S", 1.0)
    fake_hub.header_trickle_next(1, rate=20, size=400)  # 20 s of headers, each byte well within the read timeout
    _fast(lambda: publish.pull(fake_hub.endpoint + "/registry/", Registry([], tmp_path / "target")),
          DeadlineExceeded, r"^GET http://127\.0\.0\.1:\d+/registry/index\.yaml: over the registry pull "
                            r"deadline of 1 s$")


def test_registry_pull_from_a_url_refuses_a_large_index_as_it_arrives(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "MAX_INDEX_BYTES", 16)  # the fake's 404 answer is longer than that
    fake_hub.fail_next(1, 200, message="x" * 1000)
    with pytest.raises(ConfigError, match=r"index\.yaml: the registry file is larger than the 16-byte limit"):
        publish.pull(fake_hub.endpoint + "/registry/", Registry([], tmp_path / "target"))


# -- the GitHub step summary ----------------------------------------------------------------------------

def _gate_github(tmp_path: Path, summary: Path):
    save(tmp_path, make_report("acme/good"), "good.json")
    (tmp_path / "openscore.yaml").write_text("version: 1\n")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["gate", str(tmp_path / "good.json"), "--policy", str(tmp_path / "openscore.yaml"),
                                      "--format", "github", "--format", f"json:{tmp_path / 'gate.json'}"],
                                env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert time.monotonic() - started < 10
    return result


@pytest.mark.parametrize(("make", "match"), [
    (_fifo, "a FIFO, not a regular file"),
    (_dev_zero, "a character device, not a regular file"),
    (lambda p: open(p, "wb").truncate(2 << 30), "is larger than the 1,048,576-byte limit"),  # 2 GB, sparse
])
def test_a_hostile_step_summary_is_refused_and_left_alone(tmp_path, make, match):
    summary = tmp_path / "summary.md"
    make(summary)
    kind = summary.lstat().st_mode
    result = _gate_github(tmp_path, summary)
    assert result.exit_code == 2, result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith("openscore: error: ") and "step summary ($GITHUB_STEP_SUMMARY)" in last and match in last
    assert summary.lstat().st_mode == kind  # not replaced by a regular file
    assert (tmp_path / "gate.json").is_file()  # the outputs before it are written


def test_a_step_summary_is_appended_to(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step")
    assert _gate_github(tmp_path, summary).exit_code == 0
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "acme/good" in text
    (tmp_path / "absent").mkdir()
    assert _gate_github(tmp_path, tmp_path / "absent" / "new.md").exit_code == 0
    assert "acme/good" in (tmp_path / "absent" / "new.md").read_text()


# -- batch inputs and state -----------------------------------------------------------------------------

def test_a_list_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = _fifo(tmp_path / "models.list")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["audit", "--from", str(fifo), "--reports", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"openscore: error: {fifo}: cannot read the list of models: a FIFO, "
                                              "not a regular file")
    assert time.monotonic() - started < 5


def test_a_run_journal_that_is_a_fifo_is_refused_at_once(tmp_path):
    from openscore.batch.state import DEFAULT_STATE, RunState

    journal = _fifo(tmp_path / DEFAULT_STATE)
    _fast(lambda: RunState(journal).begin("digest", 1), UsageError, "run journal: a FIFO")


def test_a_fifo_in_the_fingerprint_cache_is_a_miss(tmp_path):
    from openscore.weights.cache import FingerprintCache

    started = time.monotonic()
    assert FingerprintCache._load(_fifo(tmp_path / "x.osfp")) is None
    assert time.monotonic() - started < 5


# -- linked sources (GitHub, arXiv, Crossref): the same bounded GET ------------------------------------

@pytest.mark.parametrize("slow", ["headers", "body"])
def test_a_linked_source_trickling_ends_at_the_file_deadline(fake_hub, tmp_path, slow):
    from openscore.evidence import linked
    from openscore.sources.limits import Limits, use_limits
    from tests import checkpoint_builders as build

    build.single_safetensors(tmp_path / "repo")
    fake_hub.add_repo("org/m", tmp_path / "repo")
    if slow == "headers":
        fake_hub.header_trickle_next(1, rate=20, size=400)  # 20 s of headers
    else:
        fake_hub.trickle = 20  # a body of thousands of bytes at 20 bytes/s
    cfg = linked.LinkedConfig(cache_dir=tmp_path / "cache", timeout_s=0.5)
    with use_limits(Limits(file_deadline=1.0)):
        _fast(lambda: linked.fetch_linked(f"{fake_hub.endpoint}/org/m/resolve/main/model.safetensors", cfg),
              linked.LinkedError, r"^unreachable \(DeadlineExceeded\)$")
