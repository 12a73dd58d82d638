"""GitHub Deployments and deployment statuses for each environment a promotion moves through.

- Deploy to preprod: preprod's deployment goes ``in_progress`` then ``success`` when the code is live; prod's
  deployment is created ``queued`` (waiting for the checks and the approval).
- Deploy to prod: prod's deployment goes ``in_progress``.
- Notify: promoted -> prod ``success``; failed -> ``failure`` (with the error) on every deployment of the
  promotion that has not reached a final state, and on preprod when its integration tests failed.

Every status links to the execution in the console (``promotion.console``: Step Functions' on AWS, the local
plane's own there). GitHub is a bystander here: any failure
to reach it is logged and counted (``GitHubStatusFailed``) and never raised into the step, and after one
failure the reporter stops trying for the rest of the invocation (``GitHubStatusSkipped``), so an outage
costs a step at most one timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from promotion.console import execution_console_url
from promotion.github.client import Deployment, DeploymentState, GitHubClient
from promotion.models.config import Environment, PipelineConfig
from promotion.naming import parse_execution_name
from promotion.observability import logger

DEPLOYMENT_TASK = "deploy:promotion"
_FINAL_STATES = {"success", "failure", "error", "inactive"}
# The error the integration-test state raises: preprod runs the build, but the build failed there.
PREPROD_FAILURE_ERRORS = {"IntegrationTestsFailed"}


@dataclass(frozen=True)
class ExecutionRef:
    arn: str
    name: str


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


class DeploymentReporter(Protocol):
    def deploying(self, config: PipelineConfig, environment: Environment, sha: str) -> None: ...

    def restored(
        self, config: PipelineConfig, environment: Environment, sha: str, *, description: str, name: str
    ) -> None: ...

    def deployed(self, config: PipelineConfig, environment: Environment, sha: str) -> None: ...

    def finished(
        self,
        config: PipelineConfig,
        sha: str,
        execution: ExecutionRef,
        *,
        promoted: bool,
        target: Environment = "prod",
        error: str | None = None,
        cause: str | None = None,
    ) -> None: ...


class NoDeploymentReports:
    """No GitHub token configured (or no GitHub at all): nothing is posted."""

    def deploying(self, config: PipelineConfig, environment: Environment, sha: str) -> None:
        return None

    def restored(
        self, config: PipelineConfig, environment: Environment, sha: str, *, description: str, name: str
    ) -> None:
        return None

    def deployed(self, config: PipelineConfig, environment: Environment, sha: str) -> None:
        return None

    def finished(
        self,
        config: PipelineConfig,
        sha: str,
        execution: ExecutionRef,
        *,
        promoted: bool,
        target: Environment = "prod",
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        return None


NO_DEPLOYMENT_REPORTS = NoDeploymentReports()

GitHubClients = Callable[[PipelineConfig], GitHubClient | None]
ExecutionLocator = Callable[[PipelineConfig, str], ExecutionRef | None]


class GitHubDeploymentReporter:
    """Posts to GitHub; one instance per invocation (it remembers an outage for the rest of it)."""

    def __init__(
        self,
        clients: GitHubClients,
        metrics: MetricsSink,
        *,
        locate_execution: ExecutionLocator,
        console_base: str | None = None,
    ) -> None:
        """``console_base``: the control plane's own console, when it has one (see ``promotion.console``)."""
        self._clients = clients
        self._console_base = console_base
        self._metrics = metrics
        self._locate = locate_execution
        self._located: dict[tuple[str, str], ExecutionRef | None] = {}
        self._gave_up = False

    # ---- the steps' calls (never raise) ------------------------------------------------------------
    def deploying(self, config: PipelineConfig, environment: Environment, sha: str) -> None:
        self._guarded("deploying", config, lambda github: self._deploying(github, config, environment, sha))

    def restored(
        self, config: PipelineConfig, environment: Environment, sha: str, *, description: str, name: str
    ) -> None:
        """An operator's emergency rollback put ``environment`` back on ``sha``: a deployment of its own
        (``name``: the rollback's ledger name, so no promotion mistakes it for its own), at once
        ``success``; GitHub marks the environment's earlier deployments inactive."""
        self._guarded(
            "restored",
            config,
            lambda github: self._restored(github, config, environment, sha, description, name),
        )

    def deployed(self, config: PipelineConfig, environment: Environment, sha: str) -> None:
        if environment != "preprod":
            return  # prod's success is the promotion's, posted when it is promoted
        self._guarded("deployed", config, lambda github: self._deployed_preprod(github, config, sha))

    def finished(
        self,
        config: PipelineConfig,
        sha: str,
        execution: ExecutionRef,
        *,
        promoted: bool,
        target: Environment = "prod",
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        self._guarded(
            "finished",
            config,
            lambda github: self._finished(github, config, sha, execution, promoted, target, error, cause),
        )

    def _guarded(self, what: str, config: PipelineConfig, action: Callable[[GitHubClient], None]) -> None:
        if self._gave_up:
            self._metrics.add_metric(name="GitHubStatusSkipped", unit=MetricUnit.Count, value=1)
            return
        try:
            github = self._clients(config)
            if github is None:
                return
            action(github)
        except Exception as error:  # GitHub (or its token) failing must never fail the promotion
            self._gave_up = True
            self._metrics.add_metric(name="GitHubStatusFailed", unit=MetricUnit.Count, value=1)
            logger.warning(
                "GitHub deployment status not posted",
                extra={"pipeline": config.name, "report": what, "error": f"{type(error).__name__}: {error}"},
            )

    # ---- what gets posted -----------------------------------------------------------------------
    def _execution(self, config: PipelineConfig, sha: str) -> ExecutionRef | None:
        """The running execution, for the status links; without it the statuses still go out, unlinked."""
        key = (config.name, sha)
        if key not in self._located:
            try:
                self._located[key] = self._locate(config, sha)
            except Exception as error:
                logger.warning("execution not found for the deployment status", extra={"error": str(error)})
                self._located[key] = None
        return self._located[key]

    def _deploying(
        self, github: GitHubClient, config: PipelineConfig, environment: Environment, sha: str
    ) -> None:
        execution = self._execution(config, sha)
        deployment = self._find_or_create(github, config, environment, sha, execution)
        description = f"deploying {sha[:12]} to {environment}"
        self._post(github, config, environment, deployment, "in_progress", description, execution)
        if environment == "preprod":
            prod = self._find_or_create(github, config, "prod", sha, execution)
            waiting = "waiting for preprod's checks and the approval"
            self._post(github, config, "prod", prod, "queued", waiting, execution)

    def _restored(
        self,
        github: GitHubClient,
        config: PipelineConfig,
        environment: Environment,
        sha: str,
        description: str,
        name: str,
    ) -> None:
        deployment = github.create_deployment(
            config.repo,
            sha=sha,
            environment=environment,
            task=DEPLOYMENT_TASK,
            description=f"{config.name}: emergency rollback to {sha[:12]}",
            payload={"pipeline": config.name, "execution_name": name},
            production=environment == "prod",
        )
        self._post(github, config, environment, deployment, "success", description, None)

    def _deployed_preprod(self, github: GitHubClient, config: PipelineConfig, sha: str) -> None:
        execution = self._execution(config, sha)
        deployment = self._find(github, config, "preprod", sha, execution)
        if deployment is not None:
            description = f"preprod runs {sha[:12]}"
            self._post(github, config, "preprod", deployment, "success", description, execution)

    def _finished(
        self,
        github: GitHubClient,
        config: PipelineConfig,
        sha: str,
        execution: ExecutionRef,
        promoted: bool,
        target: Environment,
        error: str | None,
        cause: str | None,
    ) -> None:
        if promoted and target == "preprod":
            # An operator's preprod-only run: the prod deployment queued with preprod's never ran.
            prod = self._find(github, config, "prod", sha, execution)
            if prod is not None:
                note = f"preprod-only run: {sha[:12]} was not deployed to prod"
                self._post(github, config, "prod", prod, "inactive", note, execution)
            return
        if promoted:
            prod = self._find(github, config, "prod", sha, execution)
            if prod is not None:
                self._post(github, config, "prod", prod, "success", f"promoted {sha[:12]} to prod", execution)
            return
        description = f"{error or 'failed'}: {cause or ''}".rstrip(": ")
        environment: Environment
        for environment in ("preprod", "prod"):
            deployment = self._find(github, config, environment, sha, execution)
            if deployment is None:
                continue
            statuses = github.deployment_statuses(config.repo, deployment.id)
            latest = statuses[0].state if statuses else "pending"
            failed_here = environment == "preprod" and error in PREPROD_FAILURE_ERRORS
            if latest not in _FINAL_STATES or failed_here:
                self._post(github, config, environment, deployment, "failure", description, execution)

    # ---- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _find(
        github: GitHubClient,
        config: PipelineConfig,
        environment: Environment,
        sha: str,
        execution: ExecutionRef | None,
    ) -> Deployment | None:
        """This promotion's deployment (newest first); one made with no known execution counts too."""
        listed = github.deployments(config.repo, sha=sha, environment=environment, task=DEPLOYMENT_TASK)
        for deployment in listed:
            owner = deployment.payload_value("execution_name")
            if owner is None or execution is None or owner == execution.name:
                return deployment
        return None

    def _find_or_create(
        self,
        github: GitHubClient,
        config: PipelineConfig,
        environment: Environment,
        sha: str,
        execution: ExecutionRef | None,
    ) -> Deployment:
        # A retried step finds the deployment it created before instead of making a second one.
        found = self._find(github, config, environment, sha, execution)
        if found is not None:
            return found
        return github.create_deployment(
            config.repo,
            sha=sha,
            environment=environment,
            task=DEPLOYMENT_TASK,
            description=f"{config.name}: promote {sha[:12]}",
            payload={"pipeline": config.name, "execution_name": execution.name if execution else None},
            production=environment == "prod",
        )

    def _post(
        self,
        github: GitHubClient,
        config: PipelineConfig,
        environment: Environment,
        deployment: Deployment,
        state: DeploymentState,
        description: str,
        execution: ExecutionRef | None,
    ) -> None:
        github.create_deployment_status(
            config.repo,
            deployment.id,
            state=state,
            description=description,
            log_url=execution_console_url(execution.arn, self._console_base) if execution else None,
            environment_url=config.environments.target(environment).base_url,
        )


class RunningExecutionLocator:
    """Finds the running execution promoting ``sha`` (the deploy state is not handed its own ARN)."""

    def __init__(self, sfn: Any, state_machine_arn: str | None) -> None:
        self._sfn = sfn
        self._state_machine_arn = state_machine_arn

    def __call__(self, config: PipelineConfig, sha: str) -> ExecutionRef | None:
        if not self._state_machine_arn:
            return None
        newest: dict[str, Any] | None = None
        paginator = self._sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self._state_machine_arn, statusFilter="RUNNING"):
            for execution in page["executions"]:
                parsed = parse_execution_name(execution["name"])
                if parsed is None or parsed.pipeline != config.name or not sha.startswith(parsed.short_sha):
                    continue
                if newest is None or execution["startDate"] > newest["startDate"]:
                    newest = execution
        if newest is None:
            return None
        return ExecutionRef(arn=str(newest["executionArn"]), name=str(newest["name"]))
