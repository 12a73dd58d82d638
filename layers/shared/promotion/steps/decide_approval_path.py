"""The step behind functions/decide_approval_path: typed request in, typed result out."""

from __future__ import annotations

from promotion.adapters.config_store import PipelineConfigStore
from promotion.approvals.bypass_policy import CommitIdentitySource, DependabotProver, decide_approval_path
from promotion.models.execution import (
    ApprovalPath,
)
from promotion.models.steps import (
    DecideApprovalPathRequest,
)
from promotion.pipeline.prepare import (
    ProdReadiness,
    ensure_prod_may_deploy,
)


def decide_path(
    configs: PipelineConfigStore,
    prover: DependabotProver,
    request: DecideApprovalPathRequest,
    *,
    identities: CommitIdentitySource,
    readiness: ProdReadiness,
) -> ApprovalPath:
    """Refuse now what "Check and lock prod" would refuse (nobody is asked to approve it), then establish
    the commit's identity and apply the bypass policy."""
    config = configs.get(request.pipeline)
    ensure_prod_may_deploy(readiness, config, request.sha, request.mode)
    return decide_approval_path(prover, config, request.sha, identities)
