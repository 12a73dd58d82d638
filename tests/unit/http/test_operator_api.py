"""The operator routes as API Gateway HTTP API events with an IAM authorizer context, on moto tables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from promote_cli.local.http_server import http_api_event
from promotion.errors import UnknownPipeline
from promotion.http.operator_routes import OperatorApiDeps, build_resolver
from promotion.models.approval import ApprovalRecord
from promotion.models.config import PipelineConfig
from tests.support.approval_fakes import ApprovalWorld, approval_world, github_identity, pipeline, request

NOW = 1_800_000_000.0
RELEASE = "release-manager@example.com"
SECOND = "second@example.com"
ACCOUNT = "123456789012"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:user/release-manager"
OUTSIDER = f"arn:aws:iam::{ACCOUNT}:user/someone-else"
ROLE_PREFIX = f"arn:aws:sts::{ACCOUNT}:assumed-role/ReleaseApprovers/"
OTHER_AUTHOR = github_identity("dev", "dev@example.com")


def iam_context(arn: str) -> dict[str, Any]:
    return {
        "accessKey": "AKIAEXAMPLE",
        "accountId": ACCOUNT,
        "callerId": "AIDAEXAMPLE",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": arn,
        "userId": "AIDAEXAMPLE",
    }


def resolve_as(
    resolver: APIGatewayHttpResolver,
    caller: str | None,
    *,
    method: str,
    route_key: str,
    raw_path: str,
    path_parameters: dict[str, str],
    body: str,
    query: str = "",
) -> dict[str, Any]:
    """A request through ``resolver`` as API Gateway hands it over (``caller``: the IAM principal it verified;
    None: no IAM authorizer context), with its answer's body parsed as ``json``."""
    event = http_api_event(
        route_key=route_key,
        method=method,
        raw_path=raw_path,
        query=query,
        headers={"host": "api.example.com", "content-type": "application/json", "user-agent": "promote"},
        body=body.encode(),
        path_parameters=path_parameters,
        source_ip="198.51.100.7",
    )
    if caller is not None:
        event["requestContext"]["authorizer"] = {"iam": iam_context(caller)}
    answer = dict(resolver.resolve(event, {}))
    answer["json"] = json.loads(answer["body"])
    return answer


class KnownPipelines:
    """A pipeline config store that knows the names of ``configs`` and no other."""

    def __init__(self, *configs: PipelineConfig) -> None:
        self._configs = {config.name: config for config in configs}

    def get(self, pipeline: str) -> PipelineConfig:
        if pipeline not in self._configs:
            raise UnknownPipeline(f"no pipeline {pipeline!r}")
        return self._configs[pipeline]


@dataclass
class Api:
    world: ApprovalWorld
    record: ApprovalRecord
    now: float = NOW + 10
    configs: KnownPipelines | None = None

    def call(self, method: str, path: str, *, caller: str | None, body: str = "", query: str = "") -> Any:
        resolver = build_resolver(
            OperatorApiDeps(services=self.world.services, clock=lambda: self.now, configs=self.configs)
        )
        match = re.fullmatch(r"/operator/approvals/([^/]+)", path)
        return resolve_as(
            resolver,
            caller,
            method=method,
            route_key=f"{method} /operator/approvals{'/{approval_id}' if match else ''}",
            raw_path=path,
            path_parameters={"approval_id": match.group(1)} if match else {},
            body=body,
            query=query,
        )

    def decide(self, caller: str | None, document: Any) -> Any:
        body = document if isinstance(document, str) else json.dumps(document)
        return self.call("POST", f"/operator/approvals/{self.record.approval_id}", caller=caller, body=body)

    def unchanged(self) -> None:
        assert self.world.sfn.calls == []
        current = self.world.store.get(self.record.approval_id)
        assert (current.status, current.votes) == ("pending", {})


def make_api(world: ApprovalWorld, **approval: Any) -> Api:
    config = pipeline(approvers=[RELEASE, SECOND], **approval)
    record = world.ask(
        config=config,
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )
    # A second pipeline, with nothing waiting.
    another = config.model_copy(update={"name": "another-pipeline"})
    return Api(world, record, configs=KnownPipelines(config, another))


@pytest.fixture
def api() -> Iterator[Api]:
    with approval_world() as world:
        yield make_api(world, operators={OPERATOR: RELEASE, f"{ROLE_PREFIX}*": SECOND})


def test_the_verified_caller_decides_as_the_approver_it_maps_to(api: Api) -> None:
    answer = api.decide(OPERATOR, {"decision": "approve", "reason": "hotfix"})

    assert answer["statusCode"] == 200, answer["body"]
    assert answer["json"]["status"] == "approved"
    assert answer["json"]["caller"] == OPERATOR
    ((operation, params),) = api.world.sfn.calls
    assert operation == "SendTaskSuccess"
    output = json.loads(params["output"])
    assert (output["approved_by"], output["channel"]) == (RELEASE, "operator")
    decided = next(e for e in api.world.audit.history(api.record.approval_id) if e.action == "approved")
    assert (decided.actor, decided.channel, decided.source_ip) == (RELEASE, "operator", "198.51.100.7")
    assert f"identity {OPERATOR}" in decided.detail


def test_an_arn_in_the_body_is_ignored_the_signer_is_the_caller(api: Api) -> None:
    # An outsider whose signature API Gateway verified names a mapped operator in the body
    answer = api.decide(
        OUTSIDER,
        {"decision": "approve", "principal_arn": OPERATOR, "userArn": OPERATOR, "caller": OPERATOR},
    )

    assert answer["statusCode"] == 403
    assert answer["json"]["error"] == "Not an approver"
    assert OUTSIDER in answer["json"]["message"]
    api.unchanged()
    refused = api.world.audit.history(api.record.approval_id)[-1]
    assert (refused.action, refused.actor) == ("refused", OUTSIDER)


def test_without_an_iam_authorizer_context_nothing_is_decided(api: Api) -> None:
    # The same request had the route lost its AWS_IAM authorizer: no caller, so no decision.
    for body in ({"decision": "approve"}, {"decision": "approve", "userArn": OPERATOR}):
        answer = api.decide(None, body)
        assert answer["statusCode"] == 403
        assert answer["json"]["error"] == "Forbidden"
    assert api.call("GET", "/operator/approvals", caller=None)["statusCode"] == 403
    api.unchanged()


def test_an_assumed_role_session_maps_through_a_prefix_key(api: Api) -> None:
    answer = api.decide(f"{ROLE_PREFIX}alice", {"decision": "reject", "reason": "not this week"})

    assert answer["statusCode"] == 200, answer["body"]
    assert answer["json"]["status"] == "rejected"
    ((operation, params),) = api.world.sfn.calls
    assert operation == "SendTaskFailure"
    assert params["cause"].startswith(f"rejected by {SECOND} via operator")


def test_the_listing_never_carries_the_task_token(api: Api) -> None:
    answer = api.call("GET", "/operator/approvals", caller=f"{ROLE_PREFIX}bob")

    assert answer["statusCode"] == 200
    (row,) = answer["json"]["approvals"]
    assert row["approval_id"] == api.record.approval_id
    assert row["as_approver"] == SECOND
    assert "task_token" not in row
    assert api.record.task_token not in answer["body"]
    other = api.call("GET", "/operator/approvals", caller=OUTSIDER, query="pipeline=another-pipeline")
    assert other["json"]["approvals"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        (json.dumps({"decision": "maybe"}), "decision"),
        (json.dumps({"decision": "reject"}), "needs a reason"),
        (json.dumps({"decision": "reject", "reason": "   "}), "needs a reason"),
        (json.dumps({"decision": "approve", "reason": "x" * 1001}), "reason"),
        (json.dumps({"decision": "approve", "reason": "x" * 9000}), "larger than"),
    ],
)
def test_a_bad_body_is_400_and_decides_nothing(api: Api, body: str, fragment: str) -> None:
    answer = api.decide(OPERATOR, body)
    assert answer["statusCode"] == 400
    assert fragment in answer["json"]["message"]
    api.unchanged()


def test_domain_errors_map_to_their_status(api: Api) -> None:
    assert (
        api.call("POST", "/operator/approvals/no-such", caller=OPERATOR, body='{"decision": "approve"}')[
            "statusCode"
        ]
        == 404
    )
    assert api.decide(OPERATOR, {"decision": "approve"})["statusCode"] == 200
    again = api.decide(f"{ROLE_PREFIX}x", {"decision": "approve"})
    assert (again["statusCode"], again["json"]["error"]) == (409, "Already decided")


def test_an_expired_request_is_410(api: Api) -> None:
    api.now = api.record.expires_at + 1
    answer = api.decide(OPERATOR, {"decision": "approve"})
    assert (answer["statusCode"], answer["json"]["error"]) == (410, "Expired")


def test_step_functions_refusing_is_503_and_the_request_stays_open(api: Api) -> None:
    api.world.sfn.fail_with = "ThrottlingException"
    answer = api.decide(OPERATOR, {"decision": "approve"})
    assert (answer["statusCode"], answer["json"]["error"]) == (503, "Try again")
    assert api.world.store.get(api.record.approval_id).status == "pending"


def test_the_author_cannot_approve_their_own_change_here_either() -> None:
    with approval_world() as world:
        api = make_api(world, operators={OPERATOR: RELEASE}, github_logins={RELEASE: "dev"})
        answer = api.decide(OPERATOR, {"decision": "approve"})
        assert (answer["statusCode"], answer["json"]["error"]) == (403, "Not allowed")
        api.unchanged()


def test_listing_an_unknown_pipeline_says_it_is_unknown(api: Api) -> None:
    unknown = api.call("GET", "/operator/approvals", caller=OPERATOR, query="pipeline=no-such-pipeline")
    known = api.call("GET", "/operator/approvals", caller=OPERATOR, query=f"pipeline={api.record.pipeline}")

    assert unknown["statusCode"] == 404
    assert unknown["json"] == {"error": "Unknown pipeline", "message": "unknown pipeline 'no-such-pipeline'"}
    assert known["statusCode"] == 200
    assert [row["approval_id"] for row in known["json"]["approvals"]] == [api.record.approval_id]
