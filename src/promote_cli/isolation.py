"""``promote check-isolation``: may one environment's deployer role touch the other environment?

For each environment's role, every action the control plane (or anyone holding that role) could take on a
service function or alarm is asked about every function and alarm of the OTHER environment. On AWS, IAM
answers (``iam:SimulatePrincipalPolicy`` on the role: its identity policies, permissions boundary
included); on the local plane, a policy evaluator over the role's policy documents. Isolation holds only
when every one of those answers is a denial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from promotion.models.config import Environment, PipelineConfig, function_name

Decision = Literal["allowed", "denied"]
# The actions a promotion takes on an environment, and the ones it never should (they must be denied too).
FUNCTION_ACTIONS = (
    "lambda:GetAlias",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionCode",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:InvokeFunction",
    "lambda:UpdateFunctionConfiguration",
    "lambda:DeleteFunction",
)
ALARM_ACTIONS = ("cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState", "cloudwatch:DeleteAlarms")
ENVIRONMENTS: tuple[Environment, Environment] = ("preprod", "prod")


class PolicyEvaluator(Protocol):
    """IAM's decision for identity-based ``policies`` on one request (``context``: condition keys)."""

    def __call__(
        self, policies: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]
    ) -> Decision: ...


def local_evaluate(
    policies: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]
) -> Decision:
    """The local plane's evaluator for identity policies (promote_cli.local.iam_auth): an explicit Deny
    wins, else an Allow is needed; a statement with a Condition never allows and, as a Deny, always denies."""
    from promote_cli.local.iam_auth import is_allowed

    return "allowed" if is_allowed(policies, action, resource) else "denied"


@dataclass(frozen=True)
class Probe:
    role_environment: Environment
    role_arn: str
    action: str
    resource: str
    decision: Decision | str  # "allowed", "denied", or why IAM could not answer


@dataclass(frozen=True)
class Request:
    role_environment: Environment
    role_arn: str
    action: str
    resource: str


def cross_environment_requests(config: PipelineConfig, *, region: str, default_account: str) -> list[Request]:
    """Each role against every function and alarm of the other environment."""
    requests = []
    for environment in ENVIRONMENTS:
        role = config.environments.target(environment).role_arn
        if role is None:
            raise ValueError(
                f"{config.name}: environments.{environment}.role_arn is not set; there is no role to check"
            )
        other = config.environments.target("prod" if environment == "preprod" else "preprod")
        account = other.account or default_account
        for name in sorted(other.functions.values()):
            arn = (
                name
                if name.startswith("arn:")
                else f"arn:aws:lambda:{region}:{account}:function:{function_name(name)}"
            )
            requests += [Request(environment, role, action, arn) for action in FUNCTION_ACTIONS]
        for alarm in sorted(other.alarms):
            arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"
            requests += [Request(environment, role, action, arn) for action in ALARM_ACTIONS]
    return requests


def evaluate_locally(
    requests: Iterable[Request],
    policies_of: Callable[[str], list[dict[str, Any]]],
    evaluate: PolicyEvaluator = local_evaluate,
) -> list[Probe]:
    probes = []
    documents: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        if request.role_arn not in documents:
            documents[request.role_arn] = policies_of(request.role_arn)
        context = {"aws:PrincipalArn": request.role_arn}
        decision = evaluate(documents[request.role_arn], request.action, request.resource, context)
        probes.append(
            Probe(request.role_environment, request.role_arn, request.action, request.resource, decision)
        )
    return probes


def simulate_on_aws(requests: Iterable[Request], iam_for: Callable[[str], Any]) -> list[Probe]:
    """IAM's own answers: ``SimulatePrincipalPolicy`` per role and resource (``iam_for(role_arn)``: an IAM
    client of the role's account)."""
    probes = []
    grouped: dict[tuple[Environment, str, str], list[str]] = {}
    for request in requests:
        grouped.setdefault((request.role_environment, request.role_arn, request.resource), []).append(
            request.action
        )
    for (environment, role, resource), actions in grouped.items():
        iam = iam_for(role)
        try:
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=role, ActionNames=actions, ResourceArns=[resource]
            )
            results = [result for page in pages for result in page["EvaluationResults"]]
        except Exception as error:  # any failure to ask is no proof of isolation
            reason = f"not answered ({type(error).__name__}: {error})"
            probes += [Probe(environment, role, action, resource, reason) for action in actions]
            continue
        for result in results:
            verdict = str(result["EvalDecision"])
            probes.append(
                Probe(
                    environment,
                    role,
                    str(result["EvalActionName"]),
                    resource,
                    "allowed" if verdict == "allowed" else "denied",
                )
            )
    return probes


def isolated(probes: list[Probe]) -> bool:
    return bool(probes) and all(probe.decision == "denied" for probe in probes)


def render(probes: list[Probe]) -> str:
    """One line per probe, then the verdict."""
    headers = ("role of", "action", "on the other environment's", "decision")
    rows = [(p.role_environment, p.action, p.resource, str(p.decision)) for p in probes]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    failing = [p for p in probes if p.decision != "denied"]
    lines.append(
        f"isolated: every one of {len(probes)} cross-environment requests is denied"
        if isolated(probes)
        else f"NOT isolated: {len(failing)} of {len(probes)} cross-environment requests are not denied"
    )
    return "\n".join(line.rstrip() for line in lines)
