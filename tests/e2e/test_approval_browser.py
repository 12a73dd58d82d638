"""End to end in a real browser: the emailed approval link, opened in headless Chromium, approves a promotion.

The local plane runs as ``promote local up`` in its own process; the test talks to it only over HTTP and
its AWS endpoint, as a person and CI would (fixtures in conftest.py).
"""

from __future__ import annotations

import secrets
from typing import Any

import boto3
import pytest

from promote_cli.control import ControlPlane, serving
from promote_cli.local import sample
from promote_cli.local.accounts import account_client
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.support.e2e import emailed_approve_link, wait_for_end

pytestmark = pytest.mark.e2e


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
