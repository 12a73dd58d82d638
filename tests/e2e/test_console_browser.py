"""End to end in a real browser: the local console shows a promotion as its graph while it runs, and the
path it took once it has ended.

The console page is opened from ``promote start``'s link during the promotion; the approval is made from the
emailed link in a second tab, as a person would; the console tab refreshes by itself. Screenshots of both
moments are kept in ``.e2e-artifacts/``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests

from promote_cli.control import ControlPlane
from promote_cli.local import sample
from tests.support.e2e import ARTIFACTS, FAILED, emailed_approve_link

pytestmark = pytest.mark.e2e


def node_status(browser: Any, state: str) -> str | None:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, f'#graph-svg g.node[data-state="{state}"]')
    return found[0].get_attribute("data-status") if found else None


def until(browser: Any, control: ControlPlane, execution_arn: str, condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds on the page; fails fast if the promotion fails meanwhile."""
    from selenium.webdriver.support.ui import WebDriverWait

    def check(_: Any) -> bool:
        status = control.sfn.describe_execution(executionArn=execution_arn)["status"]
        if status in FAILED:
            raise AssertionError(f"promotion ended {status} while the console was watched")
        return condition()

    WebDriverWait(browser, 90, poll_frequency=0.5).until(check)


def test_the_console_shows_the_running_graph_then_the_promoted_path(
    ready: dict[str, Any], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    # Given a build published as CI would, and its promotion started from the CLI's control plane
    endpoint = {"endpoint_url": ready["aws_endpoint_url"], "region_name": ready["region"]}
    control = ControlPlane(
        ready["stack_name"],
        boto3.client("stepfunctions", **endpoint),
        boto3.client("ssm", **endpoint),
        console_base=ready["console_url"],
    )
    config = control.pipeline(ready["pipeline"])
    sha = secrets.token_hex(20)
    sample.publish_build(
        boto3.client("s3", **endpoint),
        bucket=config.artifacts.bucket,
        prefix=config.artifacts.prefix,
        repo=config.repo,
        sha=sha,
        variant="good",
    )
    started = control.start(config.name, sha, requested_by="e2e")
    arn = started["execution_arn"]
    assert started["console_url"].startswith(ready["console_url"] + "/executions/")

    # When someone opens the promotion's console page while it waits for the approval
    browser.get(started["console_url"])
    console_tab = browser.current_window_handle

    # Then the graph shows the approval state running, and the panel who is asked
    until(browser, control, arn, lambda: node_status(browser, "Wait for approval") == "running")
    assert node_status(browser, "Load pipeline config") == "succeeded"
    assert node_status(browser, "Deploy to prod") == "not_reached"
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "approval"), config.approval.approvers[0])
    )
    assert browser.find_element(By.ID, "console").get_attribute("data-done") == "false"
    browser.save_screenshot(str(ARTIFACTS / "console-waiting-for-approval.png"))

    # When the approver approves from the emailed link, in another tab
    link = emailed_approve_link(ready["outbox_url"], sha, control, arn)
    browser.switch_to.new_window("tab")
    browser.get(link)
    browser.find_element(By.ID, "approve").click()
    WebDriverWait(browser, 20).until(expected_conditions.title_contains("Approved by"))
    browser.switch_to.window(console_tab)

    # Then the console tab, refreshing by itself, ends on the promoted graph
    console = browser.find_element(By.ID, "console")
    until(browser, control, arn, lambda: console.get_attribute("data-done") == "true")
    assert browser.find_element(By.ID, "execution-status").text == "SUCCEEDED"
    path = requests.get(
        f"{ready['console_url']}/api/executions/{started['console_url'].rsplit('/', 1)[1]}", timeout=10
    ).json()["path"]
    on_path = {state for step in path for state in step}
    assert {"Wait for approval", "Deploy to prod", "Promoted"} <= on_path
    drawn = {
        node.get_attribute("data-state"): node.get_attribute("data-status")
        for node in browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.node")
    }
    # every state of the path succeeded; every other state was never reached
    assert {drawn[state] for state in on_path} == {"succeeded"}
    assert {status for state, status in drawn.items() if state not in on_path} == {"not_reached"}
    taken = browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.edge.taken")
    assert len(taken) == len({tuple(step) for step in path})
    assert "100" in browser.find_element(By.ID, "traffic").text
    # and the panel lists preprod's integration checks and prod's canary checks, each case passed
    checks = {
        section.get_attribute("data-suite"): section.text
        for section in browser.find_elements(By.CSS_SELECTOR, "section.checks")
    }
    assert set(checks) == {"integration", "canary"}
    assert "health" in checks["integration"]
    assert "failed" not in checks["integration"] + checks["canary"]
    browser.save_screenshot(str(ARTIFACTS / "console-promoted.png"))
    # And the page broke none of its Content-Security-Policy (nothing inline, nothing from elsewhere)
    assert [
        entry for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
    ] == []

    # When they go back to the list of promotions
    browser.find_element(By.LINK_TEXT, "Promotions").click()

    # Then the promotion is listed as succeeded, and its name leads back to its page
    row = WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f'#executions tr[data-arn="{arn}"]')
        )
    )
    assert "SUCCEEDED" in row.text
    assert config.name in row.text
    assert sha[:12] in row.text
    assert row.find_element(By.TAG_NAME, "a").get_attribute("href") == started["console_url"]
    browser.save_screenshot(str(ARTIFACTS / "console-list.png"))
