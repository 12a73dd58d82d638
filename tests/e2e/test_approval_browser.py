"""End to end in a real browser: the emailed approval link, opened in headless Chromium, approves a promotion.

The local plane runs as ``promote local up`` in its own process; the test talks to it only over HTTP and
its AWS endpoint, as a person and CI would. Chromium and chromedriver are Debian's packages (``make
e2e-setup``); Selenium drives them.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from promote_cli.control import ControlPlane, serving
from promote_cli.local import sample
from promote_cli.local.accounts import account_client
from promote_cli.local.demo import LocalPlaneProcess
from promotion.pipeline.artifacts import lambda_code_sha256

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FAILED = {"FAILED", "TIMED_OUT", "ABORTED"}


@pytest.fixture(scope="module")
def ready() -> Iterator[dict[str, Any]]:
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
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def emailed_approve_link(outbox_url: str, sha: str, control: ControlPlane, execution_arn: str) -> str:
    """The Approve link of the approval email for ``sha``; fails fast if the promotion ends first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for message in requests.get(outbox_url, timeout=5).json():
            if message["channel"] == "email" and sha[:12] in message["subject"]:
                found = [
                    link for link in message["links"] if "/approvals/" in link and "intent=approve" in link
                ]
                if found:
                    return str(found[0])
        status = control.sfn.describe_execution(executionArn=execution_arn)["status"]
        if status != "RUNNING":
            raise AssertionError(f"promotion ended {status} before the approval email arrived")
        time.sleep(0.2)
    raise AssertionError("no approval email within 60s")


def wait_for_end(control: ControlPlane, execution_arn: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = dict(control.sfn.describe_execution(executionArn=execution_arn))
        if described["status"] in FAILED:
            raise AssertionError(f"promotion ended {described['status']}: {described.get('error')}")
        if described["status"] == "SUCCEEDED":
            return described
        time.sleep(0.25)
    raise AssertionError(f"promotion still running after {timeout}s")


def test_the_emailed_link_opened_in_chromium_approves_and_the_promotion_reaches_prod(
    ready: dict[str, Any], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    # Given a build published as CI would, and its promotion started
    endpoint = {"endpoint_url": ready["aws_endpoint_url"], "region_name": ready["region"]}
    control = ControlPlane(
        ready["stack_name"], boto3.client("stepfunctions", **endpoint), boto3.client("ssm", **endpoint)
    )
    config = control.pipeline(ready["pipeline"])
    sha = secrets.token_hex(20)
    build = sample.publish_build(
        boto3.client("s3", **endpoint),
        bucket=config.artifacts.bucket,
        prefix=config.artifacts.prefix,
        repo=config.repo,
        sha=sha,
        variant="good",
    )
    started = control.start(config.name, sha, requested_by="e2e")
    link = emailed_approve_link(ready["outbox_url"], sha, control, started["execution_arn"])

    # When the approver opens the emailed link in a real browser
    browser.get(link)

    # Then they see the confirmation page, and opening it decided nothing
    assert browser.title == f"Promote {config.repo} to prod?"
    assert sha in browser.find_element(By.TAG_NAME, "body").text
    assert control.sfn.describe_execution(executionArn=started["execution_arn"])["status"] == "RUNNING"

    # When they add a comment and click Approve
    browser.find_element(By.ID, "reason").send_keys("checked in the browser")
    browser.find_element(By.ID, "approve").click()
    WebDriverWait(browser, 20).until(expected_conditions.title_contains("Approved by"))

    # Then the page names them, and the promotion reaches prod with exactly the published bytes
    assert browser.title == "Approved by release-manager@example.com"
    wait_for_end(control, started["execution_arn"])
    # Prod lives in an account of its own (the ready line names it), as it may on AWS.
    prod_lambda = account_client(
        "lambda", ready["accounts"]["prod"], region=ready["region"], endpoint_url=ready["aws_endpoint_url"]
    )
    prod = serving(prod_lambda, config, "prod")
    expected = lambda_code_sha256(build.sha256)
    assert {function["code_sha256"] for function in prod.values()} == {expected}
