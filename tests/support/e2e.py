"""Helpers for the e2e tests: the browser's binaries, the emailed approval link, the end of a promotion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from promote_cli.control import ControlPlane

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FAILED = {"FAILED", "TIMED_OUT", "ABORTED"}
# Screenshots and other artifacts of the browser tests (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[2] / ".e2e-artifacts"


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
