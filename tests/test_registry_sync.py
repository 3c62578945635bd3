"""Popular bases through the fake Hub: registry sync, the fingerprint cache, the declared-base check,
lineage roots, self-exclusion, candidate selection, remove, export and pull (folder and loopback HTTP)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import ConfigError, InvalidCheckpoint, UsageError
from openscore.evidence.known_bases import KnownRepo
from openscore.weights.cache import FingerprintCache, cache_root
from openscore.weights.registry import Registry
from openscore.weights.spec import fingerprint_spec
from openscore.weights.sync import sync
from test_weights_support import family, train, write_model


def _repo(folder: Path, state, base_model: str | None = None) -> Path:
    write_model(folder, state)
    card = f"---\nlicense: apache-2.0\nbase_model: {base_model}\n---\n# model\n" if base_model else "# model\n"
    (folder / "README.md").write_text(card)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Folders: a base, a base derived from it (v2), an independent one, and derivatives of v2."""
    root = tmp_path_factory.mktemp("popular")
    states = family()
    grandchild = train(states["finetune"], steps=20, seed=9, lr=1e-3)
    return {
        "base": _repo(root / "base", states["base"]),
        "v2": _repo(root / "v2", states["finetune"], "acme/base"),
        "other": _repo(root / "other", states["other"]),
        "derivative": _repo(root / "derivative", grandchild, "acme/base-v2"),
        "liar": _repo(root / "liar", grandchild, "acme/other"),
        "gated-claim": _repo(root / "gated-claim", grandchild, "acme/gated"),
        "absent-claim": _repo(root / "absent-claim", grandchild, "acme/nowhere"),
    }


@pytest.fixture
def hub(fake_hub, models):
    for name, repo in [("base", "acme/base"), ("v2", "acme/base-v2"), ("other", "acme/other")]:
        fake_hub.add_repo(repo, models[name])
    fake_hub.add_repo("acme/gated", models["base"], gated=True)
    for name in ("derivative", "liar", "gated-claim", "absent-claim"):
        fake_hub.add_repo(f"org/{name}", models[name])
    return fake_hub


CURATED = [
    KnownRepo(id="acme/base", family="acme", licence="apache-2.0"),
    KnownRepo(id="acme/base-v2", family="acme", licence="apache-2.0", parent="acme/base"),
    KnownRepo(id="acme/gated", family="acme", licence="apache-2.0"),
    KnownRepo(id="acme/nowhere", family="acme", licence="apache-2.0"),
]


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENSCORE_CACHE", str(tmp_path / "cache"))  # a cache of its own per test
    monkeypatch.setenv("OPENSCORE_REGISTRY", str(tmp_path / "registry"))
    return Registry.load()


def _analyse(hub, repo: str) -> dict:
    """provenance.analyse of a fake-Hub repo, sampled (the audit's provenance step without the grading)."""
    from openscore.formats import read_checkpoint
    from openscore.layout import build_layout
    from openscore.provenance import analyse
    from openscore.sources import open_source

    source = open_source(repo, endpoint=hub.endpoint)
    headers = read_checkpoint(source)
    return analyse(source, headers, build_layout(headers), sample=True).model_dump(mode="json")


def _audit(hub, repo: str, sample: bool = True) -> dict:
    res = CliRunner().invoke(cli, ["audit", repo, "--endpoint", hub.endpoint, "--format", "json",
                                   "--reports", str(Path(os.environ["OPENSCORE_CACHE"]) / "reports")]
                             + (["--sparse"] if sample else []))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_sync_fingerprints_by_sampled_reads_and_resumes(hub, registry):
    seen = []
    outcome = sync(registry, CURATED, endpoint=hub.endpoint, report=lambda *a: seen.append(a))
    assert {k: v[0] for k, v in outcome.status.items()} == {
        "acme/base": "added", "acme/base-v2": "added", "acme/gated": "gated", "acme/nowhere": "absent"}
    assert [s[0] for s in seen] == [r.id for r in CURATED]
    entry = Registry.load().get("acme/base-v2")
    assert entry.sample and entry.parent == "acme/base" and entry.meta["base_family"] == "acme"
    assert entry.width == 64 and "attn_q:64x64" in entry.shapes
    weights = sum(os.path.getsize(p) for p in Path(hub.repos["acme/base"].revisions["main"].files[
        "model.safetensors"].disk).parent.glob("*.safetensors"))
    assert 0 < outcome.bytes_read < 2 * weights  # two bases, sampled rows (headers included)
    # a second sync finds both at the Hub's current commit: nothing read
    hub.reset_counters()
    again = sync(Registry.load(), CURATED[:2], endpoint=hub.endpoint)
    assert {v[0] for v in again.status.values()} == {"up-to-date"} and hub.bytes_sent() == 0


def test_sync_cli_with_the_curated_list_and_progress(fake_hub, models, registry):
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M", models["base"])
    res = CliRunner().invoke(cli, ["registry", "sync", "--family", "smollm-2", "--endpoint", fake_hub.endpoint])
    assert res.exit_code == 0, res.output
    assert "] HuggingFaceTB/SmolLM2-135M: added" in res.stderr and "HuggingFaceTB/SmolLM2-360M: absent" in res.stderr
    assert "[3/3] " in res.stderr
    assert "synced 3 bases" in res.stdout and "1 added, 2 absent" in res.stdout and "MiB read from the Hub" in res.stdout
    assert Registry.load().get("HuggingFaceTB/SmolLM2-135M").licence == "apache-2.0"
    assert CliRunner().invoke(cli, ["registry", "sync", "--only", "nobody/nothing"]).exit_code == 2


def test_audit_names_the_root_base_and_checks_the_declared_one(hub, registry):
    sync(registry, CURATED, endpoint=hub.endpoint)
    prov = _analyse(hub, "org/derivative")
    assert prov["verdict"] == "derived" and prov["base"] == "acme/base"
    assert prov["details"]["lineage"] == ["acme/base", "acme/base-v2"] and prov["details"]["nearest"] == "acme/base-v2"
    check = prov["declared_base_check"]
    assert check["status"] == "confirmed" and check["base"] == "acme/base-v2" and check["matched"] == "acme/base-v2"
    assert "registry entry acme/base-v2" in check["reason"]


def test_a_contradicted_declaration_names_what_the_weights_match_and_is_a_finding(hub, registry):
    sync(registry, CURATED[:2], endpoint=hub.endpoint)
    report = _audit(hub, "org/liar")
    check = report["provenance"]["declared_base_check"]
    assert check["status"] == "contradicted" and check["base"] == "acme/other" and check["matched"] == "acme/base"
    assert "not from acme/other" in check["reason"]
    finding = [f for f in report["findings"] if f["id"] == "declared-base-contradicted"]
    assert finding and finding[0]["severity"] == "error" and "acme/other" in finding[0]["message"]
    # acme/other was fetched by sampled reads and cached for the next audit
    assert FingerprintCache().latest("acme/other", sample=True) is not None


def test_gated_and_absent_declared_bases_are_not_checkable_with_the_reason(hub, registry):
    sync(registry, CURATED[:2], endpoint=hub.endpoint)
    gated = _analyse(hub, "org/gated-claim")["declared_base_check"]
    assert gated["status"] == "not-checkable" and "gated" in gated["reason"]
    absent = _analyse(hub, "org/absent-claim")["declared_base_check"]
    assert absent["status"] == "not-checkable" and "absent from the Hub" in absent["reason"]


def test_offline_the_declared_base_comes_from_the_cache_or_is_not_checkable(hub, registry, monkeypatch):
    from openscore.declared_base import declared_fingerprint

    online, _ = declared_fingerprint("acme/other", registry, endpoint=hub.endpoint)
    assert online is not None and online.sample
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.reset_counters()
    cached, origin = declared_fingerprint("acme/other", registry, endpoint=hub.endpoint)
    assert cached is not None and cached.to_bytes() == online.to_bytes() and origin == "fingerprint cache"
    missing, why = declared_fingerprint("acme/base", registry, endpoint=hub.endpoint)
    assert missing is None and "offline (HF_HUB_OFFLINE)" in why
    assert hub.requests == []


def test_the_cache_serves_compare_and_audit_without_rereading(hub, registry, monkeypatch):
    first = fingerprint_spec("acme/other", endpoint=hub.endpoint)
    path = FingerprintCache().path("acme/other", hub.repos["acme/other"].revisions["main"].sha, sample=False)
    assert path.is_file() and path.is_relative_to(cache_root())
    hub.reset_counters()
    assert fingerprint_spec("acme/other", endpoint=hub.endpoint).to_bytes() == first.to_bytes()
    assert hub.bytes_sent() == 0  # model info only: no weight byte
    sampled = fingerprint_spec("acme/other", endpoint=hub.endpoint, sample=True)  # its own kind: read once
    assert sampled.sample and 0 < hub.bytes_sent() < first.bytes_total / 2
    hub.reset_counters()
    assert fingerprint_spec("acme/other", endpoint=hub.endpoint, sample=True).to_bytes() == sampled.to_bytes()
    assert hub.bytes_sent() == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fingerprint_spec("acme/other", endpoint=hub.endpoint).to_bytes() == first.to_bytes()


def test_cache_location_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENSCORE_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert cache_root() == tmp_path / "hf" / "openscore"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "openscore"
    monkeypatch.setenv("OPENSCORE_CACHE", str(tmp_path / "os"))
    assert cache_root() == tmp_path / "os" and FingerprintCache().root == tmp_path / "os" / "fingerprints"
    with pytest.raises(ValueError):
        FingerprintCache().path("acme/x", "../../etc", sample=False)
    assert FingerprintCache().path("../../x", "a" * 40, sample=True).parent.parent == tmp_path / "os" / "fingerprints"


#: a writer process: FingerprintCache.put's write (openscore.atomic.write_bytes) of alternating versions,
#: without importing torch, so that four of them start fast
_WRITER = """
import sys
from pathlib import Path
from openscore.atomic import write_bytes
versions = [Path(p).read_bytes() for p in sys.argv[2:]]
for i in range(16):
    write_bytes(sys.argv[1], versions[i % len(versions)])
"""


def test_concurrent_processes_never_leave_a_torn_cache_entry(models, tmp_path):
    versions = []
    for i, name in enumerate(("base", "other")):
        fp = fingerprint_spec(str(models[name]))
        fp.save(tmp_path / f"{i}.osfp")
        versions.append(fp.to_bytes())
    root = tmp_path / "cache"
    target = FingerprintCache(root).path("acme/shared", "a" * 40, sample=False)
    cmd = [sys.executable, "-c", _WRITER, str(target), str(tmp_path / "0.osfp"), str(tmp_path / "1.osfp")]
    writers = [subprocess.Popen(cmd) for _ in range(4)]
    cache, seen = FingerprintCache(root), set()
    while any(w.poll() is None for w in writers):
        got = cache.get("acme/shared", "a" * 40, sample=False)
        if got is not None:
            assert got.to_bytes() in versions  # whole files only, never a mix or a truncation
            seen.add(got.to_bytes())
    assert all(w.wait() == 0 for w in writers)
    assert cache.get("acme/shared", "a" * 40, sample=False).to_bytes() in versions and seen
    assert not [p for p in (root / "acme__shared").iterdir() if p.name.endswith(".tmp")]


def test_a_model_is_never_matched_with_its_own_entry_or_its_descendants(hub, registry):
    sync(registry, CURATED[:2], endpoint=hub.endpoint)
    v2 = _analyse(hub, "acme/base-v2")
    assert v2["base"] == "acme/base" and v2["verdict"] == "derived"
    base = _analyse(hub, "acme/base")
    assert base["base"] is None and base["details"]["entries_compared"] == 1  # only the shipped tiny-llama


def test_candidates_come_from_shapes_first(models, registry, tmp_path):
    registry.add(fingerprint_spec(str(models["base"])), "acme/base")
    registry.add(fingerprint_spec(str(models["other"])), "acme/other")
    fresh = Registry.load()
    derivative = fingerprint_spec(str(models["derivative"]))
    (probed, unprobed, wider), skipped = fresh.candidates(derivative)
    # acme/base's probe rows correlate with its derivative's; the independent acme/other's do not
    assert probed == ["acme/base"] and unprobed == ["acme/other"]
    assert "sentence-transformers/all-MiniLM-L6-v2" not in probed + unprobed + wider and skipped >= 1
    matches, compared, skipped = fresh.match_counted(derivative, top=5)
    assert [m.id for m in matches] == ["acme/base"] and compared == 1 and skipped >= 2
    # without probes (an index written before them) every same-shape entry is compared
    for entry_id in ("acme/base", "acme/other"):
        fresh.get(entry_id).probes.clear()
    assert fresh.candidates(derivative)[0][0] == ["acme/base", "acme/other"]
    assert "sentence-transformers/all-MiniLM-L6-v2" not in fresh._loaded  # never loaded


def test_remove_deletes_user_entries_only(models, registry):
    entry = registry.add(fingerprint_spec(str(models["base"])), "acme/base")
    res = CliRunner().invoke(cli, ["registry", "remove", "acme/base"])
    assert res.exit_code == 0 and "removed acme/base" in res.output
    assert Registry.load().get("acme/base") is None and not (registry.user_dir / entry.fingerprint).exists()
    assert CliRunner().invoke(cli, ["registry", "remove", "acme/base"]).exit_code == 2
    assert CliRunner().invoke(cli, ["registry", "remove", "openscore-samples/tiny-llama"]).exit_code == 2


def _serve(folder: Path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_export_then_pull_over_http_and_from_a_folder(models, registry, tmp_path, monkeypatch):
    registry.add(fingerprint_spec(str(models["base"])), "acme/base", licence="apache-2.0", parent=None)
    registry.add(fingerprint_spec(str(models["v2"]), sample=True), "acme/base-v2", parent="acme/base",
                 allow_sample=True)
    listed = CliRunner().invoke(cli, ["registry", "list"]).stdout.splitlines()
    assert any(line.startswith("acme/base-v2\t") and line.endswith("\tacme/base\tsampled") for line in listed)
    out = tmp_path / "published"
    assert CliRunner().invoke(cli, ["registry", "export", str(out)]).exit_code == 0
    index = (out / "index.yaml").read_text()
    assert "sha256:" in index and "parent: acme/base" in index
    server = _serve(out)
    try:
        monkeypatch.setenv("OPENSCORE_REGISTRY", str(tmp_path / "ci-job"))
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        res = CliRunner().invoke(cli, ["registry", "pull", url])
        assert res.exit_code == 0, res.output
        pulled = Registry.load()
        assert pulled.lineage("acme/base-v2") == ["acme/base", "acme/base-v2"]
        assert pulled.fingerprint("acme/base").to_bytes() == registry.fingerprint("acme/base").to_bytes()
        monkeypatch.setenv("OPENSCORE_REGISTRY", str(tmp_path / "from-folder"))
        assert CliRunner().invoke(cli, ["registry", "pull", str(out)]).exit_code == 0
        assert Registry.load().get("acme/base-v2").sample
    finally:
        server.shutdown()
        server.server_close()


def test_pull_verifies_before_writing_anything(models, registry, tmp_path, monkeypatch):
    from openscore.weights import publish

    registry.add(fingerprint_spec(str(models["base"])), "acme/base")
    out = tmp_path / "published"
    publish.export(Registry.load(), out)
    target = Registry([], tmp_path / "target")
    tampered = out / "acme__base.osfp"
    data = tampered.read_bytes()
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ConfigError, match="sha256"):
        publish.pull(str(out), target)
    assert not (tmp_path / "target").exists()
    # an index naming a path outside the folder is refused
    (out / "index.yaml").write_text((out / "index.yaml").read_text().replace(
        "fingerprint: acme__base.osfp", "fingerprint: ../acme__base.osfp"))
    with pytest.raises(ConfigError, match=r"entries\.0\.fingerprint: fingerprint '\.\./acme__base\.osfp' is not a "
                                          "file name beside the index"):
        publish.pull(str(out), target)
    with pytest.raises(UsageError):
        publish.pull("ftp://example.org/registry", target)
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "x.osfp").write_bytes(b"not a fingerprint")
    import hashlib

    (bogus / "index.yaml").write_text(
        "entries:\n- id: acme/x\n  fingerprint: x.osfp\n  source: acme/x@1\n"
        f"  sha256: {hashlib.sha256(b'not a fingerprint').hexdigest()}\n")
    with pytest.raises(InvalidCheckpoint):
        publish.pull(str(bogus), target)
    monkeypatch.setattr(publish, "MAX_INDEX_BYTES", 64)
    with pytest.raises(ConfigError, match="index.yaml: the registry file is larger than the 64-byte limit"):
        publish.pull(str(out), target)
    assert not (tmp_path / "target").exists()


def test_site_build_publishes_the_registry_for_pull(tmp_path, registry, models):
    registry.add(fingerprint_spec(str(models["base"])), "acme/base")
    from test_site_reports import write_fixture_reports

    reports = write_fixture_reports(tmp_path / "reports")
    res = CliRunner().invoke(cli, ["site", "build", "--reports", str(reports), "--out", str(tmp_path / "site")])
    assert res.exit_code == 0 and "site/registry: 3 registry entries" in res.output, res.output
    from openscore.weights.publish import pull

    pulled = pull(str(tmp_path / "site" / "registry"), Registry([], tmp_path / "elsewhere"))
    assert "acme/base" in {e.id for e in pulled}
    res = CliRunner().invoke(cli, ["site", "build", "--reports", str(reports), "--out", str(tmp_path / "bare"),
                                   "--no-registry"])
    assert res.exit_code == 0 and not (tmp_path / "bare" / "registry").exists()


def test_sync_offline_fetches_nothing_and_says_so(hub, registry, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = []
    outcome = sync(registry, CURATED, endpoint=hub.endpoint, report=lambda *a: seen.append(a))
    assert {v[0] for v in outcome.status.values()} == {"not-reached"} and len(outcome.status) == len(CURATED)
    assert seen == [("acme/base", "not-reached", "offline (HF_HUB_OFFLINE): nothing fetched")]
    assert hub.requests == [] and registry.entries() == Registry.load().entries()
