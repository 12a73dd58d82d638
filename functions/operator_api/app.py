"""Operator API: list waiting approvals and decide one, roll an environment back at once, freeze and unfreeze
a pipeline, override its deployment windows for one promotion; each as the IAM caller API Gateway verified.
Read the approval audit of a request or a promotion, and check GitHub as the control plane sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from aws_lambda_powertools.logging import correlation_paths

from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.approvals.audit_view import ExecutionLookup
from promotion.approvals.runtime import approval_services, audit_log
from promotion.http.operator_routes import OperatorApiDeps, build_resolver
from promotion.runtime import emergency_rollback_runner, operator_controls
from promotion.settings import control_plane_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from promotion.github.check import GitHubCheck


def _check_github(pipeline: str, now: int) -> GitHubCheck:
    # requests and the GitHub client load on the first GitHub check: no other operator route uses them.
    from promotion.github.runtime import github_checker

    return github_checker(_configs)(pipeline, now)


_settings = control_plane_settings()
_configs = SsmPipelineConfigStore(_settings.pipeline_config_prefix, max_age=_settings.cache_seconds)
_controls = operator_controls()
app = build_resolver(
    OperatorApiDeps(
        services=approval_services(),
        configs=_configs,
        emergency_rollback=emergency_rollback_runner(audit_log()),
        controls=_controls,
        executions=ExecutionLookup(_controls.state_machine_arn, _controls.execution_status),
        github_check=_check_github,
    )
)


@entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
