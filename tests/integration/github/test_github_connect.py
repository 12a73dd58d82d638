"""``promote github connect``: the repository's webhook created through GitHub's API (the local plane's
stand-in), pinged, and answered by the control plane; updated, not duplicated, when run again; the manual
steps when there is no token; a refused secret reported."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import requests

from promote_cli.local.plane import LocalControlPlane
from tests.support.operator_cli import promote

PIPELINE = "sentiment-service"
REPO = "example-org/sentiment-service"


def _hooks(plane: LocalControlPlane, token: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{plane.github.url}/repos/{REPO}/hooks", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    answer.raise_for_status()
    return list(answer.json())


def connect(plane: LocalControlPlane, token: str) -> subprocess.CompletedProcess[str]:
    """``promote --local github connect`` for the sample pipeline, with ``token`` in $GITHUB_TOKEN."""
    return promote(
        plane, "github", "connect", "--pipeline", PIPELINE, local=True, variables={"GITHUB_TOKEN": token}
    )


@pytest.fixture
def admin_token(plane: LocalControlPlane) -> str:
    """A token GitHub (the stand-in) accepts, as a repository admin's would be."""
    token = "ghp_" + "c0ffee" * 6
    plane.github.accept_token(token)
    return token


def test_connect_creates_the_webhook_github_pings_and_a_second_run_updates_it(
    plane: LocalControlPlane, admin_token: str
) -> None:
    webhook_url = plane.webhook_url(PIPELINE)
    for hook in _hooks(plane, admin_token):
        assert hook["config"]["url"] != webhook_url, "the package's plane already has this webhook"

    # When an operator connects the pipeline with a token
    first = connect(plane, admin_token)

    # Then the repository has one webhook to the pipeline's URL, for finished builds, signed with the
    # stack's secret: GitHub's ping verified and was answered
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    created, ping = first.stdout.splitlines()
    assert created.startswith("created webhook ")
    assert created.endswith(f"of {REPO}: {webhook_url} (events: workflow_run)")
    assert ping.startswith("ping answered 200: ")
    assert "pong" in ping
    (hook,) = [hook for hook in _hooks(plane, admin_token) if hook["config"]["url"] == webhook_url]
    assert hook["events"] == ["workflow_run"]
    assert hook["config"]["content_type"] == "json"
    assert hook["config"]["secret"] == "********"  # GitHub never shows it back
    assert hook["active"] is True

    # When it runs again (a rotated secret, say), the same webhook is updated and pinged again
    second = connect(plane, admin_token)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0].startswith(f"updated webhook {hook['id']} of {REPO}")
    assert "ping answered 200" in second.stdout
    assert len([h for h in _hooks(plane, admin_token) if h["config"]["url"] == webhook_url]) == 1


def test_a_webhook_whose_secret_drifted_is_put_right(plane: LocalControlPlane, admin_token: str) -> None:
    # Given the webhook exists with a secret the control plane does not hold: GitHub's ping is refused
    webhook_url = plane.webhook_url(PIPELINE)
    headers = {"Authorization": f"Bearer {admin_token}"}
    existing = [hook for hook in _hooks(plane, admin_token) if hook["config"]["url"] == webhook_url]
    wrong = {
        "config": {"url": webhook_url, "content_type": "json", "secret": "x" * 40},
        "events": ["workflow_run"],
    }
    if existing:
        hook_id = existing[0]["id"]
        requests.patch(
            f"{plane.github.url}/repos/{REPO}/hooks/{hook_id}", json=wrong, headers=headers, timeout=10
        )
    else:
        hook_id = requests.post(
            f"{plane.github.url}/repos/{REPO}/hooks", json=wrong, headers=headers, timeout=10
        ).json()["id"]
    requests.post(f"{plane.github.url}/repos/{REPO}/hooks/{hook_id}/pings", headers=headers, timeout=10)
    assert (
        requests.get(f"{plane.github.url}/repos/{REPO}/hooks/{hook_id}", headers=headers, timeout=10).json()[
            "last_response"
        ]["code"]
        == 401
    )

    # When connect runs, it puts the stack's secret back and the ping verifies again
    fixed = connect(plane, admin_token)
    assert fixed.returncode == 0, fixed.stderr
    assert "ping answered 200" in fixed.stdout


def test_without_a_token_it_prints_the_steps_and_changes_nothing(
    plane: LocalControlPlane, admin_token: str
) -> None:
    before = _hooks(plane, admin_token)
    shown = promote(plane, "github", "connect", "--pipeline", PIPELINE, "--print-steps", local=True)
    assert (shown.returncode, shown.stderr) == (0, "")
    steps = shown.stdout
    assert steps.splitlines()[0] == f"Add the webhook of {REPO} by hand:"
    assert f"Open {plane.github.url}/{REPO}/settings/hooks/new" in steps  # the stand-in is the GitHub here
    assert f"Payload URL: {plane.webhook_url(PIPELINE)}" in steps
    assert "Content type: application/json" in steps
    assert (
        f"aws secretsmanager get-secret-value --secret-id {plane.options.stack_name}/github/webhook/default"
        in steps
    )
    assert "Workflow runs (nothing else)" in steps
    assert _hooks(plane, admin_token) == before


def test_an_unknown_pipeline_is_one_line_and_exit_2(plane: LocalControlPlane) -> None:
    answer = promote(plane, "github", "connect", "--pipeline", "nope", local=True)
    assert (answer.returncode, answer.stdout) == (2, "")
    assert answer.stderr.splitlines() == [
        f"promote: unknown pipeline 'nope' (no SSM parameter /{plane.options.stack_name}/pipelines/nope)"
    ]


def test_a_ping_the_control_plane_refuses_is_one_line_and_exit_2(
    plane: LocalControlPlane, admin_token: str
) -> None:
    # A webhook URL that reaches no pipeline route (a mistyped --api-url): GitHub's ping gets a 404
    wrong_api = f"{plane.api_url}/not-the-api"
    answer = promote(
        plane,
        "github",
        "connect",
        "--pipeline",
        PIPELINE,
        "--api-url",
        wrong_api,
        local=True,
        variables={"GITHUB_TOKEN": admin_token},
    )
    assert answer.returncode == 2
    assert answer.stdout.splitlines()[0].startswith("created webhook ")
    assert answer.stdout.splitlines()[1].startswith("ping answered 404")
    assert answer.stderr.splitlines() == [
        f"promote: the control plane refused GitHub's ping (404): check the secret "
        f"{plane.options.stack_name}/github/webhook/default and the URL"
    ]
