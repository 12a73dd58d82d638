"""GitHub deployments and statuses as a promotion moves; GitHub failures never reach the promotion."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.metrics import MetricUnit
from moto import mock_aws

from promote_cli.local.github_stub import GitHubStub
from promotion.console import execution_console_url
from promotion.github.client import GitHubClient
from promotion.github.deployment_status import (
    DEPLOYMENT_TASK,
    ExecutionRef,
    GitHubDeploymentReporter,
    RunningExecutionLocator,
)
from promotion.models.config import PipelineConfig
from promotion.naming import execution_name
from tests.support.github import SAMPLE_REPO, new_sha
from tests.support.pipelines import sample_config_with_github as sample_config

TOKEN = "ghp_status_token"
EXECUTION_ARN_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:release-promotion-promotion:"


class RecordedMetrics:
    def __init__(self) -> None:
        self.added: list[tuple[str, MetricUnit, float]] = []

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        self.added.append((name, unit, value))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.added]


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStub]:
    stub = GitHubStub()
    stub.accept_token(TOKEN)
    stub.start()
    yield stub
    stub.stop()


class Promotion:
    def __init__(self, github: GitHubStub, *, token: str | None = TOKEN, api_url: str | None = None) -> None:
        self.github = github
        self.sha = new_sha()
        self.config: PipelineConfig = sample_config(api_url=api_url or github.url)
        name = execution_name(self.config.name, self.sha, 1)
        self.execution = ExecutionRef(arn=EXECUTION_ARN_PREFIX + name, name=name)
        self.metrics = RecordedMetrics()
        self.token = token
        self.session = requests.Session()

    def clients(self, config: PipelineConfig) -> GitHubClient | None:
        if self.token is None:
            return None
        return GitHubClient(config.github.api_url, self.token, self.session, timeout=(0.5, 0.5))

    def reporter(self, console_base: str | None = None) -> GitHubDeploymentReporter:
        """A new reporter per step invocation, as the handlers make them."""
        return GitHubDeploymentReporter(
            self.clients,
            self.metrics,
            locate_execution=lambda config, sha: self.execution,
            console_base=console_base,
        )

    def deployments(self) -> dict[str, dict[str, Any]]:
        found = self.github.deployments(SAMPLE_REPO, self.sha)
        by_environment = {d["environment"]: d for d in found}
        assert len(by_environment) == len(found), "one deployment per environment"
        return by_environment

    def states(self) -> dict[str, list[str]]:
        return {env: [s["state"] for s in d["statuses"]] for env, d in self.deployments().items()}


def test_a_promoted_promotion_reports_each_environment(github: GitHubStub) -> None:
    # Given a promotion moving through its deploy steps, one reporter per step as the handlers make them
    promotion = Promotion(github)

    # When preprod deploys
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    # Then preprod is in progress and prod is queued behind the checks and the approval
    assert promotion.states() == {"preprod": ["in_progress"], "prod": ["queued"]}

    promotion.reporter().deployed(promotion.config, "preprod", promotion.sha)
    reporter = promotion.reporter()
    reporter.deploying(promotion.config, "prod", promotion.sha)
    reporter.deployed(promotion.config, "prod", promotion.sha)  # prod's success waits for the bake
    assert promotion.states() == {"preprod": ["in_progress", "success"], "prod": ["queued", "in_progress"]}

    # When it is promoted
    promotion.reporter().finished(promotion.config, promotion.sha, promotion.execution, promoted=True)

    # Then prod succeeds; every status links to the execution and the environment
    assert promotion.states() == {
        "preprod": ["in_progress", "success"],
        "prod": ["queued", "in_progress", "success"],
    }
    deployments = promotion.deployments()
    console = execution_console_url(promotion.execution.arn)
    for environment, deployment in deployments.items():
        assert deployment["task"] == DEPLOYMENT_TASK
        assert deployment["sha"] == promotion.sha
        assert deployment["payload"] == {
            "pipeline": promotion.config.name,
            "execution_name": promotion.execution.name,
        }
        assert deployment["production_environment"] is (environment == "prod")
        target = promotion.config.environments.target(environment)  # type: ignore[arg-type]
        for status in deployment["statuses"]:
            assert status["log_url"] == console
            assert status["environment_url"] == target.base_url
    assert promotion.metrics.added == []


def test_a_preprod_only_run_never_reports_prod_as_deployed(github: GitHubStub) -> None:
    # Given an operator's preprod-only redeploy: preprod deploys (and queues prod, as every run does)
    promotion = Promotion(github)
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    promotion.reporter().deployed(promotion.config, "preprod", promotion.sha)

    # When it ends successfully after preprod
    promotion.reporter().finished(
        promotion.config, promotion.sha, promotion.execution, promoted=True, target="preprod"
    )

    # Then preprod succeeded and prod's queued deployment is closed as never run, not as a success
    assert promotion.states() == {"preprod": ["in_progress", "success"], "prod": ["queued", "inactive"]}
    (closed,) = promotion.deployments()["prod"]["statuses"][-1:]
    assert closed["description"] == f"preprod-only run: {promotion.sha[:12]} was not deployed to prod"


def test_integration_tests_failing_marks_preprod_and_the_queued_prod_failed(github: GitHubStub) -> None:
    promotion = Promotion(github)
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    promotion.reporter().deployed(promotion.config, "preprod", promotion.sha)

    promotion.reporter().finished(
        promotion.config,
        promotion.sha,
        promotion.execution,
        promoted=False,
        error="IntegrationTestsFailed",
        cause="1/3 integration checks failed",
    )

    assert promotion.states() == {
        "preprod": ["in_progress", "success", "failure"],
        "prod": ["queued", "failure"],
    }
    failure = promotion.deployments()["prod"]["statuses"][-1]
    assert failure["description"] == "IntegrationTestsFailed: 1/3 integration checks failed"


def test_a_failure_in_prod_leaves_preprods_success_alone(github: GitHubStub) -> None:
    promotion = Promotion(github)
    for environment in ("preprod", "prod"):
        promotion.reporter().deploying(promotion.config, environment, promotion.sha)  # type: ignore[arg-type]
        promotion.reporter().deployed(promotion.config, environment, promotion.sha)  # type: ignore[arg-type]
    promotion.reporter().finished(
        promotion.config, promotion.sha, promotion.execution, promoted=False, error="CanaryFailed", cause="x"
    )
    assert promotion.states() == {
        "preprod": ["in_progress", "success"],
        "prod": ["queued", "in_progress", "failure"],
    }


def test_a_retried_deploy_step_reuses_its_deployments(github: GitHubStub) -> None:
    promotion = Promotion(github)
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    assert promotion.states() == {"preprod": ["in_progress", "in_progress"], "prod": ["queued", "queued"]}


def test_another_executions_deployment_of_the_same_commit_is_not_touched(github: GitHubStub) -> None:
    first = Promotion(github)
    first.reporter().deploying(first.config, "preprod", first.sha)
    second = Promotion(github)
    second.sha = first.sha
    name = execution_name(second.config.name, second.sha, 2)
    second.execution = ExecutionRef(EXECUTION_ARN_PREFIX + name, name)
    second.reporter().deploying(second.config, "preprod", second.sha)
    found = github.deployments(SAMPLE_REPO, first.sha)
    assert sorted(d["payload"]["execution_name"] for d in found) == sorted([first.execution.name, name] * 2)


def test_github_down_never_raises_and_is_counted_then_skipped(github: GitHubStub) -> None:
    # Given GitHub answering 503 to everything
    promotion = Promotion(github)
    github.set_outage(503)
    try:
        # When one step reports three times
        reporter = promotion.reporter()
        reporter.deploying(promotion.config, "preprod", promotion.sha)
        reporter.deployed(promotion.config, "preprod", promotion.sha)
        reporter.finished(promotion.config, promotion.sha, promotion.execution, promoted=True)
    finally:
        github.set_outage(None)

    # Then nothing raised, the failure was counted once, and the rest of the step skipped GitHub
    assert promotion.metrics.names() == ["GitHubStatusFailed", "GitHubStatusSkipped", "GitHubStatusSkipped"]
    assert promotion.deployments() == {}


def test_a_hanging_github_costs_one_timeout_per_step(github: GitHubStub) -> None:
    # Given a GitHub that accepts connections and never answers
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = listener.getsockname()
    promotion = Promotion(github, api_url=f"http://{host}:{port}")
    try:
        reporter = promotion.reporter()
        reporter.deploying(promotion.config, "preprod", promotion.sha)
        reporter.deployed(promotion.config, "preprod", promotion.sha)
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    # One request went out and timed out; the second report did not try again
    assert len(accepted) == 1
    assert promotion.metrics.names() == ["GitHubStatusFailed", "GitHubStatusSkipped"]


def test_no_token_posts_nothing_and_counts_nothing(github: GitHubStub) -> None:
    promotion = Promotion(github, token=None)
    promotion.reporter().deploying(promotion.config, "preprod", promotion.sha)
    promotion.reporter().finished(promotion.config, promotion.sha, promotion.execution, promoted=True)
    assert promotion.deployments() == {}
    assert promotion.metrics.added == []


def test_a_failing_execution_lookup_still_posts_unlinked_statuses(github: GitHubStub) -> None:
    promotion = Promotion(github)

    def broken(config: PipelineConfig, sha: str) -> ExecutionRef | None:
        raise RuntimeError("states:ListExecutions denied")

    GitHubDeploymentReporter(promotion.clients, promotion.metrics, locate_execution=broken).deploying(
        promotion.config, "preprod", promotion.sha
    )
    statuses = promotion.deployments()["preprod"]["statuses"]
    assert [s["state"] for s in statuses] == ["in_progress"]
    assert statuses[0]["log_url"] is None
    assert promotion.metrics.added == []


def test_the_running_execution_of_the_commit_is_found() -> None:
    config = sample_config()
    sha = new_sha()
    # Executions must stay RUNNING here: moto's execute_state_machine setting is process-wide, and a local
    # plane started earlier in the same test session turns it on.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="release-promotion-promotion",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        for name in (execution_name(config.name, new_sha(), 1), execution_name("other-pipeline", sha, 1)):
            sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
        locate = RunningExecutionLocator(sfn, machine)
        assert locate(config, sha) is None
        started = sfn.start_execution(
            stateMachineArn=machine, name=execution_name(config.name, sha, 3), input="{}"
        )
        found = locate(config, sha)
        assert found == ExecutionRef(arn=started["executionArn"], name=execution_name(config.name, sha, 3))
        assert RunningExecutionLocator(sfn, None)(config, sha) is None


def test_statuses_link_to_the_control_planes_own_console_when_it_has_one(github: GitHubStub) -> None:
    promotion = Promotion(github)
    console_base = "http://127.0.0.1:8123/_local/console"

    promotion.reporter(console_base).deploying(promotion.config, "preprod", promotion.sha)

    statuses = [s for d in promotion.deployments().values() for s in d["statuses"]]
    assert statuses
    assert {s["log_url"] for s in statuses} == {execution_console_url(promotion.execution.arn, console_base)}
    assert all(s["log_url"].startswith(console_base + "/executions/") for s in statuses)


def test_an_emergency_rollback_is_its_own_successful_prod_deployment_no_promotion_takes_for_its_own(
    github: GitHubStub,
) -> None:
    # Given a commit that was promoted to prod earlier
    promotion = Promotion(github)
    promotion.reporter().deploying(promotion.config, "prod", promotion.sha)

    # When an emergency rollback puts prod back on it
    promotion.reporter().restored(
        promotion.config,
        "prod",
        promotion.sha,
        description="emergency rollback by on-call: errors",
        name="emergency_rollback-sentiment-service-1",
    )

    # Then prod has a second deployment of the commit, at once successful, owned by the rollback
    prod = [d for d in github.deployments(SAMPLE_REPO, promotion.sha) if d["environment"] == "prod"]
    rollback = next(
        d for d in prod if d["payload"]["execution_name"] == "emergency_rollback-sentiment-service-1"
    )
    assert [s["state"] for s in rollback["statuses"]] == ["success"]
    assert rollback["statuses"][0]["description"] == "emergency rollback by on-call: errors"
    assert rollback["production_environment"] is True
    # and the promotion's own prod deployment is still the one its reporter finds and finishes
    promotion.reporter().finished(promotion.config, promotion.sha, promotion.execution, promoted=True)
    states = {
        d["payload"]["execution_name"]: [s["state"] for s in d["statuses"]]
        for d in github.deployments(SAMPLE_REPO, promotion.sha)
        if d["environment"] == "prod"
    }
    assert states == {
        promotion.execution.name: ["in_progress", "success"],
        "emergency_rollback-sentiment-service-1": ["success"],
    }
