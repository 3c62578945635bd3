"""`--engine ray`: the same audits as Ray tasks on a local Ray instance (skipped only without ray)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from openscore.batch.state import DEFAULT_STATE
from openscore.cli import cli
from tests.fleet import serve_fleet, write_list

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory):
    """One local Ray for the session: two CPUs, no dashboard, its workers kept off the user's Hub cache."""
    home = tmp_path_factory.mktemp("ray-hf-home")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             _node_ip_address="127.0.0.1",  # loopback only: tests reach no other address
             runtime_env={"env_vars": {"HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
                                       "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}})
    yield ray
    ray.shutdown()


def test_ray_engine_runs_the_same_audits_with_the_same_state(local_ray, fake_hub, tmp_path):
    fleet = serve_fleet(fake_hub, tmp_path, 3, missing=1)
    reports = tmp_path / "reports"
    args = ["audit", "--from", str(write_list(tmp_path / "l", fleet.all)), "--engine", "ray", "--jobs", "2",
            "--no-weights", "--endpoint", fake_hub.endpoint, "--reports", str(reports)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 4, result.output
    assert "audited 2, unchanged 0, error: failed 1 (10 RepoNotFound: 1)" in result.stderr
    written = sorted(p.relative_to(reports).parent.as_posix() for p in reports.rglob("*.json"))
    assert written == fleet.healthy  # reports come back to the driver, which writes them
    records = [json.loads(line) for line in (reports / DEFAULT_STATE).read_text().splitlines()]
    assert [r["event"] for r in records] == ["start"] + ["model"] * 3 + ["end"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "audited 0, unchanged 2" in result.stderr
