"""The e2e suite's local plane (``promote local up`` in its own process) and headless Chromium.

Chromium and chromedriver are Debian's packages (``make e2e-setup``); Selenium drives them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promote_cli.local.demo import LocalPlaneProcess
from tests.support.e2e import CHROMEDRIVER, CHROMIUM


@pytest.fixture(scope="package")
def ready() -> Iterator[dict[str, Any]]:
    """One local plane for the suite; the tests reach it only over HTTP and its AWS endpoint."""
    with tempfile.TemporaryDirectory(prefix="promote-e2e-") as state_dir:
        process = LocalPlaneProcess(Path(state_dir))
        try:
            yield process.wait_ready()
        finally:
            process.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        assert binary.exists(), f"{binary} missing: Debian's chromium and chromium-driver, 'make e2e-setup'"
    with tempfile.TemporaryDirectory(prefix="promote-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1600,1400",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        # The page's console messages (CSP violations among them) for driver.get_log("browser").
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()
