"""Headless Chromium over a loopback HTTP server, shared by the browser tests, the screenshots and the page benchmark.

Debian's `chromium` and `chromedriver` (apt-get install chromium chromium-driver) driven by selenium;
nothing is downloaded. The server binds 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
MISSING = "chromium and chromedriver are needed for the browser tests (apt-get install chromium chromium-driver)"


def _binary(*candidates: str) -> str | None:
    return next((found for found in map(shutil.which, candidates) if found), None)


def binaries() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed, else None."""
    chromium, driver = _binary("chromium", "chromium-browser", "google-chrome"), _binary("chromedriver")
    return (chromium, driver) if chromium and driver else None


def chromium(profile: Path, *, width: int = 1400, height: int = 1000):
    """A headless Chromium driven by chromedriver, console log captured; raises RuntimeError without one."""
    found = binaries()
    if found is None:
        raise RuntimeError(MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(30)
    return driver


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def serve(folder: Path) -> tuple[str, ThreadingHTTPServer]:
    """(base URL, server) of a loopback HTTP server for `folder`; call server.shutdown() when done."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def set_width(driver, width: int, height: int) -> None:
    """Make the *viewport* (not the window) `width` x `height` CSS pixels."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700})
