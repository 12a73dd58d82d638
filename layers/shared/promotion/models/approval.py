"""The approval record: one per approval request, kept in the approvals table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promotion.models.approver_input import ApproverInputField, InputValue

ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "superseded"]
OPEN_STATUSES = ("pending",)
Decision = Literal["approve", "reject"]
Channel = Literal["email", "slack", "operator"]


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ApprovalPolicy(_Frozen):
    """The pipeline's approval rules as they were when the request was made; every decision applies these."""

    approvers: list[str]
    required_approvals: int = 1
    allow_self_approval: bool = False
    unverified_author: Literal["refuse", "allow"] = "refuse"
    on_newer_request: Literal["supersede", "queue"] = "supersede"
    # Slack user id -> approver; IAM principal (or prefix ending in "*") -> approver.
    slack_users: dict[str, str] = Field(default_factory=dict)
    # The Slack workspace clicks must come from; none: no Slack click is accepted (fail closed).
    slack_team: str | None = None
    operators: dict[str, str] = Field(default_factory=dict)
    github_logins: dict[str, str] = Field(default_factory=dict)
    # The fields an approval must fill in (``approval.inputs``); each vote's values are checked against these.
    inputs: list[ApproverInputField] = Field(default_factory=list)


IdentitySource = Literal["github_api", "webhook", "claim"]


class CommitFacts(_Frozen):
    """What is known about the commit, and where it came from.

    ``source``: "github_api" when "Decide approval path" asked GitHub's API (its logins are facts);
    "webhook" when only a signature-checked delivery's payload named them; "claim" when nothing vouches.
    ``verified`` (kept for older records): the facts came from a signature-checked source (webhook or API).
    Only :attr:`author_confirmed` may be shown as "verified".
    """

    message: str | None = None
    author_login: str | None = None
    author_email: str | None = None
    committer_login: str | None = None
    committer_email: str | None = None
    verified: bool = False
    source: IdentitySource = "claim"
    # What the execution input said besides GitHub's API answer (its login and email): claims, which may
    # refuse an approval but never establish the author.
    claimed_login: str | None = None
    claimed_email: str | None = None

    @property
    def author_confirmed(self) -> bool:
        """GitHub's API named the account of the commit's author."""
        return self.source == "github_api" and bool(self.author_login)


class Vote(_Frozen):
    at: int
    channel: Channel
    comment: str = ""
    # This approver's answers to the pipeline's ``approval.inputs``, validated when they voted.
    inputs: dict[str, InputValue] = Field(default_factory=dict)


class SlackMessageRef(_Frozen):
    channel: str
    ts: str


class ApprovalRecord(_Frozen):
    approval_id: str
    # A bearer credential for the waiting task: stored here, never sent anywhere.
    task_token: str
    execution_arn: str
    execution_name: str
    pipeline: str
    repo: str
    sha: str
    environment: Literal["prod"] = "prod"
    artifact_sha256: str
    preprod_report: str
    # Why the bypass policy did not let this change through (from "Decide approval path").
    approval_reason: str | None = None
    approvers: list[str]
    requested_at: int
    expires_at: int
    requested_by: str = ""
    commit: CommitFacts = Field(default_factory=CommitFacts)
    compare_url: str = ""
    console_url: str = ""
    policy: ApprovalPolicy | None = None
    status: ApprovalStatus = "pending"
    # approver -> their approval; a decision needs ``policy.required_approvals`` distinct entries.
    votes: dict[str, Vote] = Field(default_factory=dict)
    decided_by: str | None = None
    decided_at: int | None = None
    channel: str | None = None
    reason: str | None = None
    superseded_by: str | None = None
    slack_message: SlackMessageRef | None = None

    @property
    def rules(self) -> ApprovalPolicy:
        return self.policy or ApprovalPolicy(approvers=list(self.approvers))

    def approved_by(self) -> list[str]:
        """Approvers in the order they approved."""
        return [who for who, _ in sorted(self.votes.items(), key=lambda item: (item[1].at, item[0]))]

    def deciding_inputs(self) -> dict[str, InputValue]:
        """The inputs of the vote that completed the approval (the last one): what the execution gets."""
        approvers = self.approved_by()
        return dict(self.votes[approvers[-1]].inputs) if approvers else {}

    def inputs_by_approver(self) -> dict[str, dict[str, InputValue]]:
        """Every approver's inputs, those who gave none included (as an empty mapping)."""
        return {who: dict(self.votes[who].inputs) for who in self.approved_by()}

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = _drop_none(self.model_dump(mode="json"))
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApprovalRecord:
        # DynamoDB hands numbers back as Decimal, nested ones included.
        return cls.model_validate(from_dynamo(item))

    def public_view(self) -> dict[str, Any]:
        """Everything but the task token."""
        view = self.model_dump(mode="json")
        view.pop("task_token")
        return view


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_none(inner) for key, inner in value.items() if inner is not None}
    if isinstance(value, list):
        return [_drop_none(inner) for inner in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: from_dynamo(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [from_dynamo(inner) for inner in value]
    return value
