"""Headless Chromium over a loopback HTTP server: the fixtures the browser tests share (bench/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import browser as chrome
from openscore.site import build_site
from test_site_reports import write_fixture_reports


@pytest.fixture(scope="session")
def serve() -> Iterator:
    """serve(folder) -> base URL of a loopback HTTP server for that folder (stopped at the end)."""
    servers = []

    def start(folder) -> str:
        url, server = chrome.serve(folder)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Chromium driven by chromedriver, with the console log captured; skipped without one."""
    if chrome.binaries() is None:
        pytest.skip(chrome.MISSING)
    driver = chrome.chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def base_url(tmp_path_factory, serve) -> str:
    """The fixture reports' site (tests/test_site_reports.py), served on loopback."""
    root = tmp_path_factory.mktemp("browser-site")
    build_site(write_fixture_reports(root / "reports"), root / "site")
    return serve(root / "site")
