"""The operator routes that only read, behind the IAM authorizer like the other operator routes:

- ``GET /operator/approvals/{approval_id}/audit``: one request and its audit events;
- ``GET /operator/executions/{name}/audit``: every request of one promotion and all their events, with
  any event kept under the execution itself (a forged completion of a promotion that never asked);
- ``GET /operator/pipelines/{pipeline}/github``: GitHub as the control plane sees it with the pipeline's
  own token (``promotion.github.check``); the token never leaves the control plane.

The operator needs ``execute-api:Invoke`` on these routes and nothing on the tables or secrets read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from promotion.approvals.audit_view import ExecutionLookup, approval_audit, execution_audit

if TYPE_CHECKING:
    # Types only: the GitHub check's module loads requests, which the operator function imports on its
    # first GitHub check, not at cold start (tests/unit/steps/test_handler_imports.py).
    from promotion.approvals.collaborators import ApprovalServices
    from promotion.github.check import GitHubCheck

# (pipeline, now) -> the report; raises ``UnknownPipeline``.
RunGitHubCheck = Callable[[str, int], "GitHubCheck"]


def add_read_routes(
    app: APIGatewayHttpResolver,
    services: ApprovalServices,
    *,
    executions: ExecutionLookup | None,
    github_check: RunGitHubCheck | None,
    caller: Callable[[], str],
    clock: Callable[[], float],
    answer: Callable[[int, object], Response[str]],
) -> None:
    @app.get("/operator/approvals/<approval_id>/audit")
    def audit_of_approval(approval_id: str) -> Response[str]:
        caller()
        return answer(200, approval_audit(services.store, services.audit, approval_id))

    if executions is not None:

        @app.get("/operator/executions/<name>/audit")
        def audit_of_execution(name: str) -> Response[str]:
            caller()
            return answer(200, execution_audit(services.store, services.audit, executions, name))

    if github_check is not None:

        @app.get("/operator/pipelines/<pipeline>/github")
        def github_as_seen(pipeline: str) -> Response[str]:
            caller()
            return answer(200, asdict(github_check(pipeline, int(clock()))))
