"""Collaborators for approval unit tests: moto tables shaped by template.yaml, recording fakes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws

from promotion.approvals.collaborators import ApprovalRequest, ApprovalServices, Notifier
from promotion.approvals.decision_proof import KmsDecisionKey
from promotion.approvals.request import open_approval
from promotion.approvals.verification import verify_approval
from promotion.dal.approvals import DynamoApprovalStore
from promotion.dal.audit import DynamoAuditLog
from promotion.models.approval import ApprovalRecord, SlackMessageRef
from promotion.models.config import PipelineConfig
from promotion.models.execution import (
    CheckReport,
    CheckResult,
    CommitIdentity,
    CommitInfo,
    GitHubAccount,
    PinnedArtifact,
)
from promotion.models.steps import VerifyApprovalRequest
from tests.support.pipelines import sample_config_dict

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REGION = "us-east-1"
SIGNING_KEY = b"k" * 48
API_URL = "https://approvals.example.com"
SLACK_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "slack"


def template_resources() -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {f"!{suffix}": str(node.value)}
        if isinstance(node, yaml.SequenceNode):
            return {f"!{suffix}": loader.construct_sequence(node, deep=True)}
        return {f"!{suffix}": loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    _Loader.add_multi_constructor("!", tagged)
    document = yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    return dict(document["Resources"])


def decision_key_from_template() -> KmsDecisionKey:
    """A moto KMS key shaped as template.yaml's ApprovalDecisionKey (an HMAC key)."""
    properties = template_resources()["ApprovalDecisionKey"]["Properties"]
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.create_key(KeySpec=properties["KeySpec"], KeyUsage=properties["KeyUsage"])["KeyMetadata"][
        "KeyId"
    ]
    return KmsDecisionKey(kms, key_id)


def create_table_from_template(dynamodb: Any, logical_id: str, name: str) -> Any:
    """The table as template.yaml declares it (keys and indexes): one source of truth for its shape."""
    properties = template_resources()[logical_id]["Properties"]
    extra = {}
    if properties.get("GlobalSecondaryIndexes"):
        extra["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return boto3.resource("dynamodb", region_name=REGION).Table(name)


@dataclass
class FakeSfn:
    """Records SendTaskSuccess/Failure; ``fail_with`` makes the next calls raise that error code."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: str | None = None

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.fail_with is not None:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "fake"}}, operation)
        self.calls.append((operation, params))
        return {}

    def send_task_success(self, **params: Any) -> dict[str, Any]:
        return self._call("SendTaskSuccess", params)

    def send_task_failure(self, **params: Any) -> dict[str, Any]:
        return self._call("SendTaskFailure", params)


@dataclass
class FakeMailer:
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str:
        self.sent.append({"to": to, "subject": subject, "text": text, "html": html})
        return f"message-{len(self.sent)}"


@dataclass
class FakeSlack:
    posts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.views.append({"trigger_id": trigger_id, "view": view})

    def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]]) -> SlackMessageRef:
        self.posts.append({"channel": channel, "text": text, "blocks": blocks})
        return SlackMessageRef(channel=channel, ts=f"1700000000.{len(self.posts):06d}")

    def update(self, message: SlackMessageRef, *, text: str, blocks: list[dict[str, Any]]) -> None:
        self.updates.append({"message": message, "text": text, "blocks": blocks})

    def respond(
        self, response_url: str, *, text: str, blocks: list[dict[str, Any]] | None, replace_original: bool
    ) -> None:
        self.responses.append(
            {"url": response_url, "text": text, "blocks": blocks, "replace_original": replace_original}
        )


@dataclass
class ApprovalWorld:
    store: DynamoApprovalStore
    audit: DynamoAuditLog
    sfn: FakeSfn
    mailer: FakeMailer
    slack: FakeSlack
    decision_key: KmsDecisionKey

    @property
    def services(self) -> ApprovalServices:
        return ApprovalServices(
            store=self.store, sfn=self.sfn, audit=self.audit, slack=self.slack, decision_key=self.decision_key
        )

    @property
    def notifier(self) -> Notifier:
        return Notifier(mailer=self.mailer, signing_key=SIGNING_KEY, api_url=API_URL, slack=self.slack)

    def ask(self, *, config: PipelineConfig, request: ApprovalRequest, now: float) -> ApprovalRecord:
        """ "Request approval" for ``request``: the record opened and the approvers notified."""
        return open_approval(self.services, self.notifier, config=config, request=request, now=now)

    def actions(self, approval_id: str) -> list[str]:
        return [event.action for event in self.audit.history(approval_id)]

    def verify(self, record: ApprovalRecord, output: Any, *, now: float) -> dict[str, Any]:
        """ "Verify approval" of ``output`` (what resumed the wait) for ``record``'s execution."""
        return verify_approval(
            self.services,
            self.decision_key,
            VerifyApprovalRequest(
                pipeline=record.pipeline,
                execution_arn=record.execution_arn,
                execution_name=record.execution_name,
                approval=output,
            ),
            now=now,
        )


@contextmanager
def approval_world() -> Iterator[ApprovalWorld]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        approvals_table = create_table_from_template(dynamodb, "ApprovalsTable", "unit-approvals")
        audit_table = create_table_from_template(dynamodb, "ApprovalAuditTable", "unit-approval-audit")
        yield ApprovalWorld(
            decision_key=decision_key_from_template(),
            store=DynamoApprovalStore(approvals_table),
            audit=DynamoAuditLog(audit_table),
            sfn=FakeSfn(),
            mailer=FakeMailer(),
            slack=FakeSlack(),
        )


def pipeline(**approval: Any) -> PipelineConfig:
    document = sample_config_dict()
    # Only the approval section matters here; sections with placeholders of their own are left out.
    document.pop("github", None)
    # The product default (fail closed on an unverified author), not the local sample's opt-out.
    document["approval"] = {**document["approval"], "unverified_author": "refuse", **approval}
    return PipelineConfig.model_validate(document)


def artifact(sha: str) -> PinnedArtifact:
    return PinnedArtifact(
        repo="example-org/sentiment-service",
        sha=sha,
        bucket="unit-artifacts",
        key=f"builds/example-org/sentiment-service/{sha}/package.zip",
        version_id="v1",
        sha256="ab" * 32,
        size=1234,
        manifest_key=f"builds/example-org/sentiment-service/{sha}/manifest.json",
        manifest_version_id="m1",
    )


def preprod_report() -> CheckReport:
    return CheckReport(
        suite="integration",
        environment="preprod",
        target="http://preprod",
        passed=True,
        results=[CheckResult(name="health", passed=True, status=200, duration_ms=5, detail="ok")],
    )


def github_identity(
    login: str | None,
    email: str,
    *,
    message: str | None = "Fix scoring",
    committer: str | None = "web-flow",
    committer_email: str = "noreply@github.com",
) -> CommitIdentity:
    """What "Decide approval path" learns from GitHub's API: ``login`` None means GitHub links the author's
    email to no account."""
    return CommitIdentity(
        author=GitHubAccount(login=login, id=1000 + len(login), type="User") if login else None,
        committer=GitHubAccount(login=committer, id=19864447, type="User") if committer else None,
        author_email=email,
        committer_email=committer_email,
        signature_verified=True,
        message=message,
    )


def request(
    sha: str,
    *,
    execution: str = "exec-1",
    commit: CommitInfo | None = None,
    identity: CommitIdentity | None = None,
    token: str = "token+/==",  # noqa: S107 - a fake task token
) -> ApprovalRequest:
    return ApprovalRequest(
        task_token=f"{token}{execution}",
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:unit-promotion:{execution}",
        execution_name=execution,
        artifact=artifact(sha),
        preprod_report=preprod_report().summary(),
        requested_by="tests",
        commit=commit,
        identity=identity,
    )


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def slack_click_body(
    approval_id: str, *, action: str = "approve", user: str = "U0APPROVER", response_url: str
) -> str:
    """A block_actions interaction as Slack posts it: form-encoded, the JSON in ``payload``."""
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "approver", "team_id": "T0TEAM"},
        "team": {"id": "T0TEAM", "domain": "example"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0APPROVALS"},
        "channel": {"id": "C0APPROVALS", "name": "approvals"},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "block_id": "approval",
                "action_id": action,
                "value": approval_id,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def slack_submission_body(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str = "U0APPROVER"
) -> str:
    """The ``view_submission`` of ``view`` (the modal as opened) with ``values``: input name -> the action's
    state as Slack sends it (``{"type": "plain_text_input", "value": "CHG-1"}``), form-encoded."""
    from urllib.parse import urlencode

    payload = {
        "type": "view_submission",
        "user": {"id": user, "username": "approver", "team_id": "T0TEAM"},
        "team": {"id": "T0TEAM", "domain": "example"},
        "api_app_id": "A0APP",
        "trigger_id": "4.5.6",
        "view": {
            **view,
            "id": "V0MODAL",
            "state": {"values": {f"input_{name}": {"value": action} for name, action in values.items()}},
        },
    }
    return urlencode({"payload": json.dumps(payload)})


def slack_vector() -> dict[str, str]:
    return dict(json.loads((SLACK_FIXTURES / "signature-vector.json").read_text()))
