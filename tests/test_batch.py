"""Batch audits (openscore.batch, `openscore audit --from/--org/--search/--jobs`) against the fake Hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.batch import BatchOptions, Job, RateLimiter, RunState, make_engine, read_list, run_batch
from openscore.batch.state import DEFAULT_STATE, Outcome
from openscore.cli import cli
from openscore.errors import UsageError
from openscore.site.store import load_reports
from openscore.sources.hub import retry_delay
from tests.fleet import model_folder, serve_fleet, write_list

ROOT = Path(__file__).resolve().parents[1]


def _audit(args: list[str], reports: Path):
    return CliRunner().invoke(cli, ["audit", "--reports", str(reports), *args], catch_exceptions=False)


def _state(reports: Path) -> list[dict]:
    return [json.loads(line) for line in (reports / DEFAULT_STATE).read_text().splitlines()]


def _model_infos(hub) -> int:
    return sum(1 for r in hub.requests if r["path"].startswith("/api/models/") and r["path"].count("/") == 4)


# -- inputs -------------------------------------------------------------------------------------------
def test_list_file_reads_sources_ids_and_comments(tmp_path):
    (tmp_path / "models" / "falcon").mkdir(parents=True)
    listed = tmp_path / "models.list"
    listed.write_text("# a comment\n\norg/a@v1   # trailing comment\nmodels/falcon tiiuae/falcon-40b\nsample:tiny-llama\n")
    assert read_list(listed) == [Job("org/a@v1"), Job(str(tmp_path / "models" / "falcon"), "tiiuae/falcon-40b"),
                                 Job("sample:tiny-llama")]


@pytest.mark.parametrize("line, message", [
    ("a b c", "models.list:2: expected `SRC [ID]`, got 3 fields"),
    ("org/a not-an-id", "models.list:2: --id 'not-an-id' is not a repo id `org/name[@revision]`"),
    ("org/a org/b", "models.list:2: an ID names a local folder; 'org/a' is not one"),
])
def test_a_bad_list_line_is_a_usage_error_at_its_line(tmp_path, line, message):
    listed = tmp_path / "models.list"
    listed.write_text(f"# header\n{line}\n")
    with pytest.raises(UsageError) as err:
        read_list(listed)
    assert str(err.value) == f"{listed.parent}/{message}"


def test_org_and_search_list_models_through_the_hub_api(fake_hub, tmp_path):
    serve_fleet(fake_hub, tmp_path, 5)
    fake_hub.add_repo("other/model-x", tmp_path / "good")
    reports = tmp_path / "reports"
    result = _audit(["--org", "fleet", "--limit", "3", "--endpoint", fake_hub.endpoint, "--no-weights"], reports)
    assert result.exit_code == 0, result.output
    assert sorted(p.parent.name for p in reports.rglob("*.json")) == ["model-000", "model-001", "model-002"]
    result = _audit(["--search", "model-x", "--endpoint", fake_hub.endpoint, "--no-weights"], reports)
    assert result.exit_code == 0 and (reports / "other" / "model-x").is_dir()


# -- failure isolation, tally, exit code --------------------------------------------------------------
def test_failures_are_isolated_classified_and_tallied(fake_hub, tmp_path):
    fleet = serve_fleet(fake_hub, tmp_path, 8, hostile=1, gated=1, missing=1)
    reports = tmp_path / "reports"
    listed = write_list(tmp_path / "fleet.list", fleet.all)
    result = _audit(["--from", str(listed), "--jobs", "4", "--endpoint", fake_hub.endpoint], reports)
    assert result.exit_code == 4
    assert result.stderr.strip().splitlines()[-1] == (
        "openscore: error: 2 of 8 models could not be audited (10 RepoNotFound: 1, 20 InvalidCheckpoint: 1)")
    tally = [line for line in result.stderr.splitlines() if line.startswith("8 models: ")]
    assert len(tally) == 1 and "audited 6, unchanged 0, error: failed 2 (10 RepoNotFound: 1, " \
        "20 InvalidCheckpoint: 1)" in tally[0] and "models/min" in tally[0]
    per_model = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(per_model) == 8  # one line per model outside a terminal
    assert any(f"{fleet.missing[0]}: error RepoNotFound (exit 10)" in line for line in per_model)
    records = {r["key"]: r for r in _state(reports) if r["event"] == "model"}
    assert records[fleet.hostile[0]]["error_class"] == "InvalidCheckpoint" and records[fleet.hostile[0]]["exit_code"] == 20
    assert records[fleet.gated[0]]["status"] == "audited"  # gated: audited with what the API shows
    assert len(list(reports.rglob("*.json"))) == 6


def test_a_lone_model_keeps_its_own_exit_code(fake_hub, tmp_path):
    result = _audit(["org/missing", "--endpoint", fake_hub.endpoint], tmp_path / "reports")
    assert result.exit_code == 10
    assert result.stderr.strip().splitlines()[-1].startswith("openscore: error: org/missing: repository not found")


# -- incremental ---------------------------------------------------------------------------------------
def test_unchanged_shas_cost_one_call_and_a_new_sha_writes_a_report_beside_the_old(fake_hub, tmp_path):
    fleet = serve_fleet(fake_hub, tmp_path, 4, hostile=1)
    reports = tmp_path / "reports"
    args = ["--from", str(write_list(tmp_path / "l", fleet.all)), "--jobs", "2", "--endpoint", fake_hub.endpoint]
    assert _audit(args, reports).exit_code == 4
    fake_hub.reset_counters()
    result = _audit(args, reports)
    assert result.exit_code == 4 and "audited 0, unchanged 3" in result.stderr
    assert len(fake_hub.requests) == 4 == _model_infos(fake_hub)  # the hostile one's failure is remembered by sha
    changed = fleet.healthy[0]
    fake_hub.add_repo(changed, model_folder(tmp_path / "v2", seed=1))
    fake_hub.reset_counters()
    result = _audit(args, reports)
    assert "audited 1, unchanged 2" in result.stderr
    history = {m.repo_id: m for m in load_reports(reports)}[changed].history
    assert len(history) == 2  # both commits' reports: the site shows the history
    result = _audit([*args, "--force"], reports)
    assert "audited 3, unchanged 0" in result.stderr


# -- resumable -----------------------------------------------------------------------------------------
def test_a_batch_killed_midway_resumes_with_only_what_is_left(fake_hub, tmp_path):
    fleet = serve_fleet(fake_hub, tmp_path, 24)
    fake_hub.latency = 0.05
    reports = tmp_path / "reports"
    args = ["--from", str(write_list(tmp_path / "l", fleet.all)), "--jobs", "2", "--no-weights",
            "--endpoint", fake_hub.endpoint, "--reports", str(reports)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "openscore", "audit", *args], cwd=Path.cwd(), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = reports / DEFAULT_STATE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and state.read_text().count('"event": "model"') >= 6:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {r["key"] for r in _state(reports) if r.get("event") == "model"}
    assert 6 <= len(done) < len(fleet.all), "the kill came too late to test anything"
    fake_hub.reset_counters()
    result = _audit(args[:-2], reports)
    assert result.exit_code == 0, result.output
    assert f"resuming an interrupted run: {len(done)} models already done, {len(fleet.all) - len(done)} left" \
        in result.stderr
    asked = {r["path"].split("/", 3)[3] for r in fake_hub.requests if r["path"].startswith("/api/models/")}
    assert not asked & done  # nothing already done is even looked up
    models = load_reports(reports)  # every report whole and valid (the site reads them all)
    assert sorted(m.repo_id for m in models) == fleet.all


def test_a_torn_last_state_line_is_skipped_and_the_next_line_starts_fresh(tmp_path):
    state = RunState(tmp_path / "state.jsonl")
    state.begin("digest", 2)
    state.record(Outcome("org/a", "audited", "org/a", "1" * 40, "org/a/x.json"))
    with open(state.path, "ab") as fh:
        fh.write(b'{"run": "x", "event": "mod')  # a kill in the middle of a line
    again = RunState(state.path)
    assert again.begin("digest", 2) == {"org/a"} and again.resumed
    again.record(Outcome("org/b", "audited", "org/b", "2" * 40, "org/b/x.json"))
    assert RunState(state.path).begin("digest", 2) == {"org/a", "org/b"}
    assert RunState(state.path).begin("other inputs", 2) == set()  # other jobs or options: a new run


# -- rate limiting -------------------------------------------------------------------------------------
def test_retry_delay_reads_retry_after_then_the_ratelimit_reset():
    assert retry_delay({"Retry-After": "7"}, 1.0) == 7.0
    assert retry_delay({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.0) == 0.0  # a date in the past
    assert retry_delay({"RateLimit": '"api";r=0;t=12', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'},
                       1.0) == 12.0
    assert retry_delay({}, 2.5) == 2.5


def test_one_pause_holds_every_caller_and_the_pace_spaces_requests():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(per_second=2, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    limiter.acquire()  # the pace: half a second after the first
    assert slept == [0.5]
    limiter.pause(3)
    limiter.acquire()
    assert slept == [0.5, 3.0] and now[0] == 3.5


def test_a_429_pauses_the_shared_limiter_and_the_batch_goes_on(fake_hub, tmp_path):
    fleet = serve_fleet(fake_hub, tmp_path, 3)
    fake_hub.fail_next(1, 429, message="slow down", headers={"Retry-After": "1"})
    started = time.monotonic()
    result = run_batch([Job(n) for n in fleet.all], BatchOptions(endpoint=fake_hub.endpoint, token=False,
                                                                 weights=False),
                       tmp_path / "reports", engine=make_engine("threads", 3))
    assert result.count("audited") == 3 and time.monotonic() - started >= 1.0
    statuses = [r["status"] for r in fake_hub.requests]
    assert statuses.count(429) == 1


# -- identity of local snapshots -----------------------------------------------------------------------
def test_a_hub_cache_snapshot_is_its_repo_at_its_commit(tmp_path):
    repo = tmp_path / "hub" / "models--tiiuae--falcon-40b"
    sha = "a" * 40
    model_folder(repo / "blobs-src")
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for file in (repo / "blobs-src").iterdir():  # the cache's layout: snapshot files link into ../../blobs
        blob = repo / "blobs" / file.name
        file.rename(blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    reports = tmp_path / "reports"
    result = _audit([str(snapshot)], reports)
    assert result.exit_code == 0, result.output
    report = json.loads((reports / "tiiuae" / "falcon-40b" / f"{sha}.json").read_text())
    assert report["source"]["repo_id"] == "tiiuae/falcon-40b" and report["source"]["revision"] == sha
    assert {f["path"] for f in report["inventory"]["files"]} == {"README.md", "config.json", "model.safetensors"}


def test_id_names_any_folder_and_only_a_folder(tmp_path):
    folder = model_folder(tmp_path / "falcon")
    reports = tmp_path / "reports"
    result = _audit([str(folder), "--id", "tiiuae/falcon-7b@v1", "--no-weights"], reports)
    assert result.exit_code == 0, result.output
    (written,) = reports.rglob("*.json")
    assert written.parent == reports / "tiiuae" / "falcon-7b"
    assert json.loads(written.read_text())["source"]["revision"] == "v1"
    result = _audit(["org/name", "--id", "tiiuae/falcon-7b"], reports)
    assert result.exit_code == 2 and "--id names a local folder; 'org/name' is not one" in result.stderr


# -- the id in the gate and the lineage ------------------------------------------------------------------
GATE_POLICY = """
version: 1
models:
  - {entry}
licence:
  deny: [apache-2.0]
waivers:
  - model: tiiuae/falcon-7b
    rules: [licence.deny]
    reason: reviewed by legal (ticket 12)
    expires: 2099-01-01
"""


def test_gate_warns_about_a_waiver_matching_no_model_and_the_id_makes_it_match(realcards, tmp_path):
    import shutil

    shutil.copytree(realcards / "tiiuae__falcon-7b", tmp_path / "falcon")
    policy = tmp_path / "openscore.yaml"
    policy.write_text(GATE_POLICY.format(entry="source: falcon"))
    runner = CliRunner()
    args = ["gate", "--policy", str(policy), "--no-weights", "--format", "json"]
    with __import__("contextlib").chdir(tmp_path):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 1
        warnings = json.loads(result.stdout)["warnings"]
        assert warnings == [{"file": "openscore.yaml", "line": 8, "message": "waiver for 'tiiuae/falcon-7b' matches "
                             "no model gated (local/falcon); is the model named by its repo id?"}]
        assert "warning: openscore.yaml:8: waiver for 'tiiuae/falcon-7b' matches no model" in result.stderr
        policy.write_text(GATE_POLICY.format(entry="{source: falcon, id: tiiuae/falcon-7b}"))
        result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["warnings"] == [] and doc["models"][0]["repo_id"] == "tiiuae/falcon-7b"
    assert [c["status"] for c in doc["models"][0]["checks"] if c["rule"] == "licence.deny"] == ["waived"]


def test_realcards_with_their_real_ids_join_declared_bases_in_the_lineage(realcards, tmp_path):
    """examples/realcards.list names each realcard folder by its Hub repo: zephyr's declared base then is
    the Mistral model audited beside it, not a name without a page."""
    from openscore.site.lineage import families

    shipped = (ROOT / "examples" / "realcards.list").read_text().splitlines()
    entries = [line.split() for line in shipped if line.strip() and not line.startswith("#")]
    folders = {Path(fields[0]).name for fields in entries}
    assert folders == {p.name for p in realcards.iterdir() if p.is_dir()}  # every realcard is listed
    listed = tmp_path / "realcards.list"  # the same mapping, pointed at this checkout's realcards
    listed.write_text("".join(f"{realcards / Path(f[0]).name} {' '.join(f[1:])}\n" for f in entries))
    reports = tmp_path / "reports"
    result = _audit(["--from", str(listed), "--no-weights", "--jobs", "2"], reports)
    assert result.exit_code == 0, result.output
    joined = [[(n.id, n.page is not None) for n in family.nodes] for family in families(load_reports(reports))
              if all(n.page for n in family.nodes)]
    assert [("mistralai/Mistral-7B-v0.1", True), ("HuggingFaceH4/zephyr-7b-beta", True)] in joined


def test_ray_engine_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"--engine ray needs Ray: pip install 'openscore\[ray\]'"):
        make_engine("ray", 2)
