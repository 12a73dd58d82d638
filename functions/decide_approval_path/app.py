"""Decide approval path: refuse what prod would refuse (frozen, alarms firing, backwards) before anyone is
asked, establish the commit's author and committer through GitHub's API, and apply the bypass policy (fail
closed: unproven means approval required).

Identity and the Dependabot proof come from GitHub's REST API, asked here, never from the webhook payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.github.runtime import commit_identities, dependabot_prover, github_client
from promotion.models.steps import DecideApprovalPathRequest
from promotion.pipeline.prepare import ProdReadiness
from promotion.runtime import environment_clients, environment_store, ledger, parse_request, pipeline_configs
from promotion.steps import decide_approval_path as decide_approval_path_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event, DecideApprovalPathRequest)
    # Prod's alarms are read as prod's deployer role, like every other look at prod.
    prod = environment_clients(request.pipeline, "prod", execution_name=request.execution_name)
    readiness = ProdReadiness(
        cloudwatch=prod.cloudwatch,
        environments=environment_store(),
        ledger=ledger(),
        commit_order=github_client(pipeline_configs().get(request.pipeline)),
    )
    return decide_approval_path_step.decide_path(
        pipeline_configs(),
        dependabot_prover(prod.lambda_client),
        request,
        identities=commit_identities(),
        readiness=readiness,
    ).to_payload()
