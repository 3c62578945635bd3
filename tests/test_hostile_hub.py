"""A hostile or broken Hub (issue 19), through the real client session against tests/fakehub.py: every
field validated (exit 16), 5xx after retries (exit 17), every request bounded in time, rate and bytes
(exit 18), every 206 checked against its Content-Range, nothing written outside --reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import DeadlineExceeded, HubServerError, InvalidHubResponse
from openscore.formats import read_checkpoint
from openscore.sources.hub import HubSource, RetryPolicy
from openscore.sources.limits import Limits
from tests import checkpoint_builders as build

FAST = RetryPolicy(tries=2, base_wait=0.0, max_wait=0.0)
QUICK = Limits(timeout=0.5, file_deadline=5, deadline=10, min_rate=0, rate_window=60)


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    build.single_safetensors(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# small\n")
    return folder


def _hub(fake_hub, repo_id: str = "org/m", limits: Limits = QUICK) -> HubSource:
    return HubSource(repo_id, endpoint=fake_hub.endpoint, token=False, retry=FAST, limits=limits)


def _sibling(doc: dict, name: str) -> dict:
    return next(s for s in doc["siblings"] if s["rfilename"] == name)


def _set(key, value):
    return lambda doc: {**doc, key: value}


def _sib(name, key, value):
    def rewrite(doc):
        _sibling(doc, name)[key] = value
        return doc
    return rewrite


def _add_sibling(name):
    return lambda doc: {**doc, "siblings": [*doc["siblings"], {"rfilename": name, "size": 1}]}


#: case -> (model info rewrite, expected message fragment)
HOSTILE_INFO = {
    "sha ../../x": (_set("sha", "../../x"), "sha '../../x' is not a 40-hex commit sha"),
    "sha absolute": (_set("sha", "/tmp/openscore-escape"), "sha '/tmp/openscore-escape' is not a 40-hex commit sha"),
    "sha missing": (lambda d: {k: v for k, v in d.items() if k != "sha"}, "sha is missing"),
    "sha short": (_set("sha", "a" * 39), "is not a 40-hex commit sha"),
    "sha number": (_set("sha", 12), "sha '12' is not a 40-hex commit sha"),
    "negative size": (_sib("model.safetensors", "size", -5), "].size is -5, not a non-negative integer"),
    "size a string": (_sib("README.md", "size", "12"), "size is '12', not a non-negative integer"),
    "size a float": (_sib("README.md", "size", 1.5), "size is 1.5, not a non-negative integer"),
    "lfs size negative": (
        lambda d: (_sibling(d, "model.safetensors")["lfs"].update(size=-1), d)[1], "lfs.size is -1"),
    "lfs sha256 bad": (
        lambda d: (_sibling(d, "model.safetensors")["lfs"].update(sha256="zz"), d)[1], "is not a 64-hex sha256"),
    "lastModified not a date": (_set("lastModified", "yesterday"), "lastModified 'yesterday' is not an ISO 8601 date"),
    "lastModified a number": (_set("lastModified", 5), "lastModified '5' is not a date"),
    "cardData a list": (_set("cardData", ["license", "mit"]), "cardData is a JSON list, not an object"),
    "cardData a string": (_set("cardData", "mit"), "cardData is a JSON str, not an object"),
    "gated odd": (_set("gated", "yes"), "gated is 'yes'"),
    "siblings not a list": (_set("siblings", {"a": 1}), "siblings is not a list of files"),
    "name ..": (_add_sibling("../../etc/passwd"), "'../../etc/passwd' is not a clean relative path"),
    "name absolute": (_add_sibling("/etc/passwd"), "'/etc/passwd' is not a clean relative path"),
    "name empty part": (_add_sibling("a//b"), "'a//b' is not a clean relative path"),
    "name backslash": (_add_sibling("a\\..\\b"), "is not a clean relative path"),
    "name control char": (_add_sibling("a\nb"), "is not a clean relative path"),
    "name not a string": (_add_sibling(7), "7 is not a file name"),
    "name twice": (_add_sibling("README.md"), "repeats the file name 'README.md'"),
    "body a list": (lambda d: [d], "the body is a JSON list, not an object"),
    "body not JSON": (lambda d: b"<html>502 Bad Gateway</html>", "the Hub's answer is not JSON"),
    "body truncated JSON": (lambda d: b'{"sha": "', "the Hub's answer is not JSON"),
    "body not UTF-8": (lambda d: b"\xff\xfe{}", "the Hub's answer is not JSON"),
    "body nested deeply": (lambda d: b"[" * 100_000 + b"]" * 100_000, "the Hub's answer is not JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_INFO))
def test_hostile_model_info_is_refused_with_exit_16(fake_hub, small_repo, case):
    rewrite, message = HOSTILE_INFO[case]
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.hostile_info("org/m", rewrite)
    with pytest.raises(InvalidHubResponse) as info:
        _hub(fake_hub).inventory()
    assert message in str(info.value)
    assert str(info.value).startswith("org/m: model info: ")
    assert info.value.exit_code == 16 and "\n" not in str(info.value)


def test_a_hostile_sha_through_the_cli_writes_nothing_anywhere(fake_hub, small_repo, tmp_path):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.hostile_info("org/m", _set("sha", "../../../escaped"))
    work = tmp_path / "work"
    result = CliRunner().invoke(cli, ["audit", "org/m", "--endpoint", fake_hub.endpoint, "--no-weights",
                                      "--reports", str(work / "reports")], catch_exceptions=False)
    assert result.exit_code == 16, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "openscore: error: org/m: model info: invalid answer from the Hub: sha '../../../escaped' is not a 40-hex commit sha")
    state = work / "reports" / ".openscore"  # the batch run state records the failure; nothing else is written
    assert [p for p in tmp_path.rglob("*") if p.is_file() and state not in p.parents] == []


def test_a_valid_answer_still_audits(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo, last_modified="2024-05-01T10:00:00.000Z")
    source = _hub(fake_hub)
    assert source.ref.committed_at == "2024-05-01T10:00:00+00:00"
    assert [f.path for f in source.inventory().files] == ["README.md", "config.json", "model.safetensors"]
    assert read_checkpoint(source).tensors


def test_json_bodies_are_capped(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.hostile_info("org/m", _set("cardData", {"padding": "x" * 50_000}))
    with pytest.raises(InvalidHubResponse, match="model info: the answer is larger than the 10,000-byte limit"):
        _hub(fake_hub, limits=Limits(max_json_bytes=10_000)).inventory()


# -- time ---------------------------------------------------------------------------------------------

def test_a_hub_that_never_answers_times_out_with_exit_18(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.stall_next(5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="org/m: model info: no answer from .* within the timeout") as info:
        _hub(fake_hub).inventory()
    assert time.monotonic() - started < 3  # two tries of 0.5 s at most... a timeout is not retried
    assert info.value.exit_code == 18


def test_a_trickling_body_is_too_slow(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    source = _hub(fake_hub, limits=Limits(timeout=2, min_rate=1000, rate_window=0.3))
    source.inventory()
    fake_hub.trickle = 20  # bytes per second, each well within the read timeout
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"org/m: read model.safetensors: transfer too slow \(\d+ bytes/s"):
        source.read_range("model.safetensors", 0, 200)
    assert time.monotonic() - started < 2


def _one_deadline(which: str, seconds: float, *, timeout: float) -> Limits:
    """Limits where only the `which` deadline ("per-file" or "per-audit") is near."""
    return Limits(timeout=timeout, min_rate=0, file_deadline=seconds if which == "per-file" else 60,
                  deadline=60 if which == "per-file" else seconds)


@pytest.mark.parametrize("which", ["per-file", "per-audit"])
def test_deadlines_end_a_slow_transfer(fake_hub, small_repo, which):
    fake_hub.add_repo("org/m", small_repo)
    source = _hub(fake_hub, limits=_one_deadline(which, 0.4 if which == "per-file" else 0.6, timeout=2))
    source.inventory()
    fake_hub.trickle = 20
    with pytest.raises(DeadlineExceeded, match=f"read model.safetensors: over the {which} deadline"):
        source.read_range("model.safetensors", 0, 200)


@pytest.mark.parametrize("which", ["per-file", "per-audit"])
def test_a_trickle_of_headers_ends_at_the_deadline(fake_hub, small_repo, which):
    """One header byte every 50 ms is never a read timeout (0.5 s): only a watch on the whole request ends it."""
    fake_hub.add_repo("org/m", small_repo)
    source = _hub(fake_hub, limits=_one_deadline(which, 1.0, timeout=0.5))
    fake_hub.header_trickle_next(1, rate=20, size=200)  # 10 s of headers, then a valid answer
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=f"^org/m: model info: over the {which} deadline of 1 s$"):
        source.inventory()
    assert time.monotonic() - started < 3


def test_a_header_trickle_on_a_later_request_is_bounded_too(fake_hub, small_repo):
    """The first answers come quickly (a connection a client would keep alive), then a range read trickles."""
    fake_hub.add_repo("org/m", small_repo)
    source = _hub(fake_hub, limits=Limits(timeout=0.5, file_deadline=1.0, min_rate=0))
    source.inventory()
    fake_hub.header_trickle_next(1, rate=20, size=200)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="read model.safetensors: over the per-file deadline"):
        source.read_range("model.safetensors", 0, 8)
    assert time.monotonic() - started < 3  # not once the 10 s of headers are in


def test_headers_that_do_end_in_time_are_read(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.header_trickle_next(1, rate=200, size=20)  # 0.1 s of slow headers
    assert _hub(fake_hub).inventory().get("model.safetensors") is not None


def test_a_header_trickle_through_the_cli_is_exit_18(fake_hub, small_repo, tmp_path):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.header_trickle_next(1, rate=20, size=200)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["inspect", "org/m", "--endpoint", fake_hub.endpoint, "--timeout", "0.5",
                                      "--deadline", "1"])
    assert result.exit_code == 18, result.output
    assert result.stderr.splitlines() == ["openscore: error: org/m: model info: over the per-audit deadline of 1 s"]
    assert time.monotonic() - started < 3


def test_the_audit_deadline_shows_in_the_cli(fake_hub, small_repo, tmp_path):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.stall_next(1)
    result = CliRunner().invoke(cli, ["audit", "org/m", "--endpoint", fake_hub.endpoint, "--no-weights",
                                      "--reports", str(tmp_path), "--timeout", "0.3"], catch_exceptions=False)
    assert result.exit_code == 18 and "within the timeout" in result.stderr


@pytest.mark.parametrize("command", ["audit", "inspect", "fingerprint", "gate", "lock", "verify", "compare"])
def test_the_bounds_are_options_with_defaults(command):
    text = CliRunner().invoke(cli, [command, "--help"]).output
    for option in ("--timeout SECONDS", "--file-deadline SECONDS", "--deadline SECONDS", "--min-rate BYTES/S"):
        assert option in text, (command, option)
    assert "[default: 3600.0" in text


# -- bytes: Content-Range and servers ignoring Range ---------------------------------------------------

def test_a_206_from_the_wrong_offset_is_refused(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.range_from_zero = True
    source = _hub(fake_hub)
    assert source.read_range("model.safetensors", 0, 8)  # from offset 0 the answer is right
    with pytest.raises(InvalidHubResponse, match=r"read model.safetensors: a 206 answer with Content-Range "
                                                 r"'bytes 0-49/\d+', not the range asked for \(bytes 100-149\)"):
        source.read_range("model.safetensors", 100, 50)


def test_a_proxy_answering_from_offset_0_cannot_change_a_verdict(fake_hub, tmp_path):
    """The weights are read at their offsets: bytes from offset 0 would fingerprint something else."""
    from openscore.audit import audit
    from openscore.samples import materialize

    fake_hub.add_repo("org/shell", materialize("tiny-llama-shell"))
    fake_hub.range_from_zero = True
    with pytest.raises(InvalidHubResponse, match="not the range asked for") as info:
        audit("org/shell", endpoint=fake_hub.endpoint, token=False, rubrics=["osai-v3"])
    assert info.value.exit_code == 16


@pytest.fixture(scope="module")
def sixteen_mb(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sixteen")
    build.single_safetensors(folder, {"big": np.ones((4096, 1024), dtype=np.float32)})  # 16 MiB of data
    return folder


def test_a_server_ignoring_range_sends_little_more_than_asked(fake_hub, sixteen_mb):
    """Kills "read on after enough bytes": 16.8 MB would be transferred instead of ~64 KB."""
    fake_hub.add_repo("org/big", sixteen_mb)
    fake_hub.honour_range = False
    source = _hub(fake_hub, "org/big")
    size = source.inventory().get("model.safetensors").size
    assert size > 16_000_000
    data = source.read_range("model.safetensors", 0, 64 * 1024)
    assert data == (sixteen_mb / "model.safetensors").read_bytes()[: 64 * 1024]
    assert source.bytes_transferred <= 64 * 1024 + 64 * 1024  # what was asked, and at most one more chunk
    source.bytes_transferred = 0
    headers = read_checkpoint(source)
    assert [t.name for t in headers.tensors] == ["big"]
    assert source.bytes_transferred < 256 * 1024


def test_server_errors_after_retries_are_exit_17(fake_hub, small_repo, tmp_path, monkeypatch):
    fake_hub.add_repo("org/m", small_repo)
    source = _hub(fake_hub)
    source.inventory()
    fake_hub.fail_next(10, 502, message="Bad Gateway")
    with pytest.raises(HubServerError, match="read model.safetensors: HTTP 502 .* after 2 tries") as info:
        source.read_range("model.safetensors", 0, 8)
    assert info.value.exit_code == 17
    monkeypatch.setenv("OPENSCORE_HUB_TRIES", "2")
    monkeypatch.setenv("OPENSCORE_HUB_MAX_WAIT", "0")
    fake_hub.fail_next(10, 500)
    result = CliRunner().invoke(cli, ["audit", "org/m", "--endpoint", fake_hub.endpoint, "--no-weights",
                                      "--reports", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 17 and "HTTP 500" in result.stderr


def test_a_whole_file_longer_than_its_inventory_size_is_refused(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.hostile_info("org/m", _sib("README.md", "size", 10))
    with pytest.raises(InvalidHubResponse, match="download README.md: the answer is larger than the 10-byte limit"):
        _hub(fake_hub).read_text("README.md")


def test_the_gate_maps_hostile_answers_to_could_not_evaluate(fake_hub, small_repo, tmp_path):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.hostile_info("org/m", _set("siblings", [{"rfilename": "../../x", "size": 1}]))
    (tmp_path / "openscore.yaml").write_text("rubrics: {}\n")
    args = ["gate", "org/m", "--endpoint", fake_hub.endpoint, "--no-weights", "--policy",
            str(tmp_path / "openscore.yaml")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 3, result.output
    assert "'../../x' is not a clean relative path" in result.stderr


def test_tree_pages_are_followed_on_the_endpoint_only(fake_hub, tmp_path):
    build.torch_bin(tmp_path, shards=2)
    verdict = {"status": "unsafe", "pickleImportScan": {
        "imports": [{"module": "posix", "name": "system", "safety": "dangerous"}]}}
    shard = "pytorch_model-00002-of-00002.bin"  # not on the first page (one entry per page)
    fake_hub.add_repo("org/p", tmp_path, security={shard: verdict})
    sha = fake_hub.repos["org/p"].revisions["main"].sha
    fake_hub.tree_next = f"{fake_hub.endpoint}/api/models/org/p/tree/{sha}?recursive=true&expand=true&cursor=2"
    assert _hub(fake_hub, "org/p").hub_pickle_scan(shard).dangerous == ("posix.system",)
    fake_hub.tree_next = "http://elsewhere.invalid/api/models/org/p/tree/x?cursor=2"  # would carry our token
    fake_hub.reset_counters()
    assert _hub(fake_hub, "org/p").hub_pickle_scan(shard) is None
    assert [r["path"] for r in fake_hub.requests if "/tree/" in r["path"]] == [f"/api/models/org/p/tree/{sha}"]


# -- listings: `audit --org/--search` -------------------------------------------------------------------

def _listing(fake_hub, *args: str):
    """`audit ARGS` against the fake Hub, where no listing here gets as far as writing a report."""
    return CliRunner().invoke(cli, ["audit", *args, "--endpoint", fake_hub.endpoint, "--no-weights",
                                    "--reports", os.devnull, "--timeout", "0.5", "--deadline", "3"])


def _one_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("openscore: error: "), result.output
    return lines[0]


def _ids(*names: str):
    return lambda found: [{"id": name} for name in names]


@pytest.mark.parametrize(("body", "fragment"), [
    (_ids("org/ok", "../../x"), "a model id '../../x' is not a repo id"),
    (_ids("/etc/passwd"), "a model id '/etc/passwd' is not a repo id"),
    (_ids("org/m@main"), "a model id 'org/m@main' is not a repo id"),
    (lambda found: [{"id": 5}], "a model id '5' is not a repo id"),
    (lambda found: ["org/m"], "a model id 'None' is not a repo id"),
    (lambda found: {"models": found}, "the body is not a list"),
    (lambda found: b"<html>not json", "the Hub's answer is not JSON"),
])
def test_a_hostile_listing_is_exit_16(fake_hub, body, fragment):
    fake_hub.list_hook = body
    result = _listing(fake_hub, "--org", "org")
    assert result.exit_code == 16, result.output
    assert fragment in _one_line(result)
    assert [r["path"] for r in fake_hub.requests] == ["/api/models"]  # nothing audited


def test_a_listing_of_a_million_models_is_refused_by_size(fake_hub):
    million = b"[" + b",".join(b'{"id":"org/m%d"}' % i for i in range(1_000_000)) + b"]"  # 20 MB
    fake_hub.list_hook = lambda found: million
    started = time.monotonic()
    result = _listing(fake_hub, "--search", "m")
    assert result.exit_code == 16, result.output
    assert _one_line(result).endswith("list models: the answer is larger than the 16,777,216-byte limit")
    assert time.monotonic() - started < 15


def test_a_listing_of_more_than_10000_models_needs_a_limit(fake_hub):
    many = _ids(*(f"org/m{i}" for i in range(10_001)))
    fake_hub.list_hook = many
    result = _listing(fake_hub, "--search", "m")
    assert result.exit_code == 2, result.output
    assert _one_line(result) == ("openscore: error: listing --search 'm': more than 10,000 models; narrow the "
                                 "listing or pass --limit")
    from openscore.batch import hub_listing

    jobs = hub_listing(search="m", limit=10_000, endpoint=fake_hub.endpoint, token=False)  # with --limit: the first N
    assert len(jobs) == 10_000 and jobs[-1].spec == "org/m9999"


def test_a_listing_ignoring_its_limit_gives_no_more(fake_hub, small_repo):
    fake_hub.list_hook = _ids(*(f"org/m{i}" for i in range(50)))
    from openscore.batch import hub_listing

    assert [j.spec for j in hub_listing(org="org", limit=3, endpoint=fake_hub.endpoint, token=False)] == \
        ["org/m0", "org/m1", "org/m2"]


def test_listing_pages_are_followed_within_bounds(fake_hub, small_repo):
    from openscore.batch import hub_listing

    for i in range(7):
        fake_hub.add_repo(f"org/m{i}", small_repo)
    fake_hub.list_page = 2
    jobs = hub_listing(org="org", endpoint=fake_hub.endpoint, token=False)
    assert [j.spec for j in jobs] == [f"org/m{i}" for i in range(7)]
    assert [r["path"] for r in fake_hub.requests] == ["/api/models"] * 4
    fake_hub.reset_counters()
    assert [j.spec for j in hub_listing(org="org", limit=3, endpoint=fake_hub.endpoint, token=False)] == \
        ["org/m0", "org/m1", "org/m2"]
    assert len(fake_hub.requests) == 2  # two pages of 2 hold the 3 asked for: no third page is read


def test_a_listing_of_too_many_pages_is_refused(fake_hub, small_repo):
    from openscore.sources.hub import MAX_PAGES, HubClient

    for i in range(MAX_PAGES + 1):
        fake_hub.add_repo(f"org/m{i:03d}", small_repo)
    fake_hub.list_page = 1  # a server handing out one model per page
    client = HubClient("listing --org org", endpoint=fake_hub.endpoint, token=False, retry=FAST, limits=QUICK)
    with pytest.raises(InvalidHubResponse, match=r"^listing --org org: list models: more than 100 pages$"):
        client.list_model_ids(author="org")
    assert len(fake_hub.requests) == MAX_PAGES


def test_a_next_page_on_another_host_is_refused(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.add_repo("org/n", small_repo)
    fake_hub.list_page = 1
    fake_hub.list_next_base = "http://elsewhere.invalid"
    result = _listing(fake_hub, "--org", "org")
    assert result.exit_code == 16, result.output
    assert "list models: next page 'http://elsewhere.invalid/api/models?" in _one_line(result)


def test_a_stalled_or_trickling_listing_is_exit_18(fake_hub, small_repo):
    fake_hub.add_repo("org/m", small_repo)
    fake_hub.stall_next(1)
    result = _listing(fake_hub, "--org", "org")
    assert result.exit_code == 18 and "list models: no answer from" in _one_line(result)
    fake_hub.header_trickle_next(1, rate=20, size=200)
    started = time.monotonic()
    result = _listing(fake_hub, "--org", "org")
    assert result.exit_code == 18
    assert _one_line(result) == "openscore: error: listing --org org: list models: over the per-audit deadline of 3 s"
    assert time.monotonic() - started < 6
