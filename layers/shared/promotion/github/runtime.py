"""GitHub collaborators for the handlers, built from settings and the pipeline's ``github`` section.

Kept apart from ``promotion.runtime`` so that only the functions that talk to GitHub import ``requests``
sessions and the webhook's pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import requests
from aws_lambda_powertools.utilities import parameters

from promotion.errors import InvalidPipelineConfig
from promotion.github.client import GitHubClient
from promotion.models.config import PipelineConfig, api_token_prefix, secret_name
from promotion.observability import trace_requests
from promotion.settings import control_plane_settings

# Each factory below imports the pieces it builds when it is called: a function imports only the GitHub
# pieces its own requests use (the webhook's signature checks, the Dependabot proof, deployment statuses),
# not all of them at cold start (tests/unit/steps/test_handler_imports.py).
if TYPE_CHECKING:
    from promotion.adapters.config_store import PipelineConfigStore
    from promotion.github.check import GitHubCheck
    from promotion.github.dependabot import GitHubDependabotProver
    from promotion.github.deployment_status import GitHubDeploymentReporter
    from promotion.github.identity import GitHubCommitIdentity
    from promotion.github.webhook import WebhookDeps

# GitHub's API is called through requests: its calls appear in the function's X-Ray trace.
trace_requests()


@cache
def _session() -> requests.Session:
    return requests.Session()


def github_token(config: PipelineConfig) -> str | None:
    """The pipeline's API token, or None when it names none (then nothing is proven or posted)."""
    secret_id = config.github.token_secret_id
    if not secret_id:
        return None
    prefix = api_token_prefix(control_plane_settings().stack_name)
    if not secret_name(secret_id).startswith(prefix):
        # IAM would refuse the read anyway; say why instead of an AccessDenied.
        raise InvalidPipelineConfig(
            f"pipeline {config.name}: github.token_secret_id {secret_id!r} is not under {prefix}"
        )
    value = parameters.get_secret(secret_id, max_age=control_plane_settings().cache_seconds)
    token = str(value).strip()
    return token or None


def github_client(config: PipelineConfig) -> GitHubClient | None:
    token = github_token(config)
    if token is None:
        return None
    return GitHubClient(config.github.api_url, token, _session())


def dependabot_prover(prod_lambda: Any) -> GitHubDependabotProver:
    """``prod_lambda``: a Lambda client acting as prod's deployer role (what prod runs is read there)."""
    from promotion.github.dependabot import GitHubDependabotProver, LambdaProdCommit

    return GitHubDependabotProver(github_client, LambdaProdCommit(prod_lambda))


def commit_identities() -> GitHubCommitIdentity:
    from promotion.github.identity import GitHubCommitIdentity

    return GitHubCommitIdentity(github_client)


def deployment_reporter() -> GitHubDeploymentReporter:
    """A fresh reporter per invocation: it stops calling GitHub for the rest of one after a failure."""
    from promotion.adapters import aws
    from promotion.github.deployment_status import GitHubDeploymentReporter, RunningExecutionLocator
    from promotion.observability import metrics

    settings = control_plane_settings()
    locator = RunningExecutionLocator(aws.client("stepfunctions"), settings.state_machine_arn)
    return GitHubDeploymentReporter(
        github_client, metrics, locate_execution=locator, console_base=settings.execution_console_url
    )


def _fetch_secret(secret_id: str, force: bool) -> str:
    value = parameters.get_secret(
        secret_id, max_age=control_plane_settings().cache_seconds, force_fetch=force
    )
    return str(value)


@cache
def webhook_deps() -> WebhookDeps:
    from promotion.adapters import aws
    from promotion.dal.deliveries import DynamoDeliveryStore
    from promotion.github.webhook import WebhookDeps, WebhookKeys
    from promotion.models.config import webhook_secret_prefix
    from promotion.runtime import attestation_key, pipeline_configs

    settings = control_plane_settings()
    if not settings.deliveries_table or not settings.state_machine_arn:
        raise RuntimeError("the webhook function needs DELIVERIES_TABLE and STATE_MACHINE_ARN")
    return WebhookDeps(
        configs=pipeline_configs(),
        keys=WebhookKeys(_fetch_secret),
        store=DynamoDeliveryStore(aws.table(settings.deliveries_table)),
        sfn=aws.client("stepfunctions"),
        state_machine_arn=settings.state_machine_arn,
        default_secret_id=settings.github_webhook_secret_id,
        webhook_secret_prefix=webhook_secret_prefix(settings.stack_name),
        attestation_key=attestation_key,
    )


def pipeline_token(config: PipelineConfig) -> str | None:
    """``github_token``, its failures (a secret missing, or named outside the stack's prefix) as
    ``TokenUnavailable``: what ``promote github check`` reports instead of failing."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from promotion.github.check import TokenUnavailable

    try:
        return github_token(config)
    except InvalidPipelineConfig as error:
        raise TokenUnavailable(str(error)) from None
    except GetParameterError as error:
        raise TokenUnavailable(f"{config.github.token_secret_id}: {error}") from None


def github_checker(configs: PipelineConfigStore) -> Callable[[str, int], GitHubCheck]:
    """``GET /operator/pipelines/{pipeline}/github``: the pipeline's GitHub, as seen from here."""
    from promotion.github.check import check_github
    from promotion.pipeline.operator_controls import known_pipeline

    def run(pipeline: str, now: int) -> GitHubCheck:
        config = known_pipeline(configs, pipeline)
        return check_github(config, token_of=pipeline_token, session=_session(), now=now)

    return run
