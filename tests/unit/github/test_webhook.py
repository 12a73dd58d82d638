"""The webhook intake, delivery by delivery: what starts a promotion, what is refused, and exactly once.

Each case is a real GitHub payload (../shared/fixtures/github/) with only the fields it needs edited, sent
through ``promotion.webhook.receive`` with moto's DynamoDB and Step Functions behind it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promotion.dal.deliveries import CommitClaim, DynamoDeliveryStore, commit_key
from promotion.errors import UnknownPipeline
from promotion.github.webhook import (
    MAX_BODY_BYTES,
    STALE_CLAIM_SECONDS,
    Delivery,
    WebhookAnswer,
    WebhookDeps,
    WebhookKeys,
    receive,
)
from promotion.models.config import PipelineConfig
from promotion.models.execution import parse_execution_input
from promotion.naming import execution_name
from tests.support.github import (
    SAMPLE_REPO,
    body_of,
    delivery_headers,
    event_of,
    fixture,
    new_sha,
    push_payload,
    webhook_fixture_names,
    workflow_run_payload,
)
from tests.support.pipelines import sample_config_with_github

PIPELINE = "sentiment-service"
SECRET = "webhook-secret-for-unit-tests-0123456789"
PREVIOUS_SECRET = "the-previous-webhook-secret-9876543210"
SECRET_ID = "release-promotion/github/webhook/default"
WEBHOOK_SECRET_PREFIX = "release-promotion/github/webhook/"
ATTESTATION_KEY = b"attestation-key-for-unit-tests-0123456789abcdef"
REGION = "us-east-1"


def sample_config(**github: Any) -> PipelineConfig:
    return sample_config_with_github(**github)


class Configs:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def get(self, pipeline: str) -> PipelineConfig:
        if pipeline != self.config.name:
            raise UnknownPipeline(f"no pipeline {pipeline!r}")
        return self.config


@dataclass
class Intake:
    deps: WebhookDeps
    configs: Configs
    secrets: dict[str, str]
    sfn: Any
    table: Any

    def send(
        self,
        payload: dict[str, Any] | bytes,
        *,
        event: str,
        secret: str | None = SECRET,
        delivery: str | None = None,
        pipeline: str = PIPELINE,
        **header_overrides: str,
    ) -> WebhookAnswer:
        body = payload if isinstance(payload, bytes) else body_of(payload)
        headers = delivery_headers(body, secret=secret, event=event, delivery=delivery)
        headers.update({k.replace("_", "-"): v for k, v in header_overrides.items()})
        return receive(self.deps, Delivery(pipeline=pipeline, headers=headers, body=body))

    def executions(self) -> list[dict[str, Any]]:
        arn = self.deps.state_machine_arn
        return list(self.sfn.list_executions(stateMachineArn=arn)["executions"])


@pytest.fixture
def intake() -> Iterator[Intake]:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        # The same key schema as template.yaml's DeliveriesTable.
        table = dynamodb.create_table(
            TableName="deliveries",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="release-promotion-promotion",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/promotion",
        )
        secrets = {SECRET_ID: json.dumps({"current": SECRET, "previous": ""})}
        configs = Configs(sample_config())
        deps = WebhookDeps(
            configs=configs,
            keys=WebhookKeys(lambda secret_id, force: secrets[secret_id]),
            store=DynamoDeliveryStore(table),
            sfn=sfn,
            state_machine_arn=machine["stateMachineArn"],
            default_secret_id=SECRET_ID,
            webhook_secret_prefix=WEBHOOK_SECRET_PREFIX,
            clock=lambda: 1_800_000_000.0,
            attestation_key=lambda: ATTESTATION_KEY,
        )
        yield Intake(deps, configs, secrets, sfn, table)


# ---- starting ----------------------------------------------------------------------------------------
def test_a_successful_build_on_main_starts_one_promotion_with_verified_facts(intake: Intake) -> None:
    # Given the real workflow_run payload for a successful push build of main
    sha = new_sha()
    payload = workflow_run_payload(sha=sha)

    # When GitHub delivers it
    answer = intake.send(payload, event="workflow_run", delivery="d-1")

    # Then exactly one execution starts, named by the spine's scheme (attempt 1)
    assert (answer.status, answer.outcome) == (201, "started")
    (execution,) = intake.executions()
    assert execution["name"] == execution_name(PIPELINE, sha, 1) == answer.details["execution_name"]
    # And its input says which facts GitHub signed and which are only claimed
    described = intake.sfn.describe_execution(executionArn=execution["executionArn"])
    started = parse_execution_input(json.loads(described["input"]))
    assert (started.pipeline, started.sha, started.attempt) == (PIPELINE, sha, 1)
    assert started.trigger.source == "webhook"
    facts = started.trigger.github
    assert facts is not None
    assert facts.event == "workflow_run"
    assert (facts.repo.value, facts.repo.provenance) == (SAMPLE_REPO, "verified")
    assert (facts.sha.value, facts.sha.provenance) == (sha, "verified")
    assert facts.ref is not None
    assert (facts.ref.value, facts.ref.provenance) == (
        "refs/heads/main",
        "verified",
    )
    assert (facts.delivery_id.value, facts.delivery_id.provenance) == ("d-1", "claimed")
    assert facts.pull_request is None  # the fixture's run lists no pull request
    # And the commit as GitHub described it, marked verified (the two-person rule relies on it)
    head = payload["workflow_run"]["head_commit"]
    assert started.commit is not None
    assert started.commit.verified is True
    assert started.commit.author_email == head["author"]["email"]
    assert started.commit.message == head["message"]


def test_the_pull_request_number_is_carried_when_the_run_names_one(intake: Intake) -> None:
    sha = new_sha()
    payload = workflow_run_payload(sha=sha, fixture_name="workflow_run.completed.with-pull-requests.json")
    payload["workflow_run"]["pull_requests"][0]["head"]["sha"] = sha
    assert intake.send(payload, event="workflow_run").status == 201
    (execution,) = intake.executions()
    started = json.loads(intake.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    expected = payload["workflow_run"]["pull_requests"][0]["number"]
    assert started["trigger"]["github"]["pull_request"] == {"value": expected, "provenance": "verified"}


def test_the_build_workflow_is_matched_by_its_file_path_only(intake: Intake) -> None:
    # Given a run of lint.yml whose name (free text in the workflow file) is the build workflow's path
    payload = workflow_run_payload(sha=new_sha(), workflow_path=".github/workflows/lint.yml")
    payload["workflow_run"]["name"] = ".github/workflows/build.yml"
    payload["workflow"]["name"] = ".github/workflows/build.yml"

    # When GitHub delivers it, nothing starts: a name is anyone's choice, the path is the file that ran
    answer = intake.send(payload, event="workflow_run")
    assert (answer.status, answer.outcome) == (202, "ignored")
    assert "not the build workflow" in answer.message
    assert intake.executions() == []

    # And a run of the build file itself still starts, whatever it is called, "@ref" suffix and all
    payload = workflow_run_payload(sha=new_sha(), workflow_path=".github/workflows/build.yml@refs/heads/main")
    payload["workflow_run"]["name"] = "anything"
    assert intake.send(payload, event="workflow_run").status == 201


def test_push_to_the_branch_starts_only_when_push_triggers_are_on(intake: Intake) -> None:
    sha = new_sha()
    off = intake.send(push_payload(sha=sha), event="push")
    assert (off.status, off.outcome) == (202, "ignored")
    assert "push triggers are off" in off.message
    assert intake.executions() == []

    intake.configs.config = sample_config(push_triggers=True)
    payload = push_payload(sha=sha)
    on = intake.send(payload, event="push")
    assert (on.status, on.outcome) == (201, "started")
    (execution,) = intake.executions()
    started = json.loads(intake.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    # A push payload names the author's GitHub login: the two-person rule can compare logins.
    assert started["commit"]["author_login"] == payload["head_commit"]["author"]["username"]
    assert started["trigger"]["github"]["ref"]["value"] == "refs/heads/main"


# ---- ignored, with the reason ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edits", "reason"),
    [
        ({"action": "requested"}, "only a completed run"),
        ({"action": "in_progress"}, "only a completed run"),
        ({"conclusion": "failure"}, "concluded 'failure'"),
        ({"conclusion": "cancelled"}, "concluded 'cancelled'"),
        ({"event": "pull_request"}, "triggered by 'pull_request'"),
        ({"event": "workflow_dispatch"}, "triggered by 'workflow_dispatch'"),
        ({"branch": "feature/x"}, "branch 'feature/x'"),
        ({"workflow_path": ".github/workflows/lint.yml"}, "not the build workflow"),
        # A fork's main: the same branch name, the same workflow, another repository's commit.
        ({"head_repo": "mallory/sentiment-service"}, "a fork"),
    ],
)
def test_workflow_runs_that_must_not_start_anything(
    intake: Intake, edits: dict[str, Any], reason: str
) -> None:
    payload = workflow_run_payload(sha=new_sha(), **edits)
    answer = intake.send(payload, event="workflow_run")
    assert (answer.status, answer.outcome) == (202, "ignored")
    assert reason in answer.message
    assert intake.executions() == []


@pytest.mark.parametrize(
    ("fixture_name", "reason"),
    [
        ("push.json", "tag push"),  # the captured payload pushes refs/tags/simple-tag
        ("push.1.json", "tag push"),
    ],
)
def test_tag_pushes_start_nothing(intake: Intake, fixture_name: str, reason: str) -> None:
    intake.configs.config = sample_config(push_triggers=True)
    payload = fixture(fixture_name)
    payload["repository"]["full_name"] = SAMPLE_REPO
    answer = intake.send(payload, event="push")
    assert (answer.status, answer.outcome) == (202, "ignored")
    assert reason in answer.message
    assert intake.executions() == []


def test_branch_deletion_and_other_branches_start_nothing(intake: Intake) -> None:
    intake.configs.config = sample_config(push_triggers=True)
    deleted = push_payload(sha="0" * 40)
    deleted.update(deleted=True, created=False, head_commit=None)
    answer = intake.send(deleted, event="push")
    assert (answer.status, answer.outcome) == (202, "ignored")
    assert "deleted" in answer.message

    other = intake.send(push_payload(sha=new_sha(), ref="refs/heads/develop"), event="push")
    assert (other.status, other.outcome) == (202, "ignored")
    assert "refs/heads/develop" in other.message
    assert intake.executions() == []


@pytest.mark.parametrize("fixture_name", webhook_fixture_names())
def test_every_captured_event_is_answered_without_a_start_unless_it_is_a_build_of_main(
    intake: Intake, fixture_name: str
) -> None:
    # Given each real payload as captured, only moved to the pipeline's repository
    intake.configs.config = sample_config(push_triggers=True)
    payload = fixture(fixture_name)
    if isinstance(payload.get("repository"), dict):
        payload["repository"]["full_name"] = SAMPLE_REPO

    # When it is delivered under its own event name
    answer = intake.send(payload, event=event_of(fixture_name))

    # Then it is answered without a server error, and none of them starts anything: the workflow_run ones
    # are for "master" by repository_dispatch, the pushes are tags or another branch
    assert answer.status < 500
    expected = {
        "ping": (200, "pong"),
        "workflow_run": (202, "ignored"),
        "push": (202, "ignored"),
    }.get(event_of(fixture_name), (202, "ignored"))
    assert (answer.status, answer.outcome) == expected, answer.message
    assert intake.executions() == []


# ---- refused -----------------------------------------------------------------------------------------
def test_unknown_pipeline_is_404_before_anything_else(intake: Intake) -> None:
    # Not even the signature or the size is looked at.
    answer = intake.send(b"x" * (MAX_BODY_BYTES + 1), event="push", secret=None, pipeline="no-such-pipeline")
    assert (answer.status, answer.message) == (404, "no such pipeline")
    assert intake.send(b"{}", event="push", pipeline="Not A Name!").status == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"secret": None},  # no signature at all
        {"secret": "the-wrong-secret-000000000000000"},
        {"secret": None, "x_hub_signature": "sha1=" + "0" * 40},  # SHA-1 only
        {"x_hub_signature_256": "sha256=" + "0" * 64},
        {"x_hub_signature_256": "sha256=zz"},
    ],
)
def test_unsigned_or_wrongly_signed_deliveries_are_401_and_start_nothing(
    intake: Intake, headers: dict[str, Any]
) -> None:
    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run", **headers)
    assert (answer.status, answer.outcome) == (401, "rejected")
    assert intake.executions() == []
    assert intake.table.scan()["Items"] == []  # nothing recorded either


def test_rotation_accepts_the_previous_secret_until_it_is_dropped(intake: Intake) -> None:
    intake.secrets[SECRET_ID] = json.dumps({"current": SECRET, "previous": PREVIOUS_SECRET})
    old = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run", secret=PREVIOUS_SECRET)
    new = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run", secret=SECRET)
    assert (old.status, new.status) == (201, 201)

    intake.secrets[SECRET_ID] = json.dumps({"current": SECRET, "previous": ""})
    # A fresh WebhookKeys: the old one's rate limit would hold back the re-read for 10 s.
    intake.deps = replace(intake.deps, keys=WebhookKeys(lambda secret_id, force: intake.secrets[secret_id]))
    dropped = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run", secret=PREVIOUS_SECRET)
    assert dropped.status == 401
    assert len(intake.executions()) == 2


def test_a_new_secret_is_picked_up_at_once_despite_the_cache(intake: Intake) -> None:
    # Given keys served from a cache that still holds the old secret
    stored = {"value": json.dumps({"current": SECRET})}
    cached = stored["value"]
    reads: list[bool] = []

    def fetch(secret_id: str, force: bool) -> str:
        reads.append(force)
        return stored["value"] if force else cached

    intake.deps = replace(intake.deps, keys=WebhookKeys(fetch))
    stored["value"] = json.dumps({"current": "a-brand-new-secret-after-rotation", "previous": SECRET})

    # When GitHub signs with the new secret
    answer = intake.send(
        workflow_run_payload(sha=new_sha()), event="workflow_run", secret="a-brand-new-secret-after-rotation"
    )

    # Then one forced read finds it
    assert answer.status == 201
    assert reads == [False, True]


def test_a_pipeline_can_have_its_own_webhook_secret(intake: Intake) -> None:
    intake.secrets["release-promotion/github/webhook/sentiment-service"] = "a-pipeline-specific-secret-123"
    intake.configs.config = sample_config(
        webhook_secret_id="release-promotion/github/webhook/sentiment-service"
    )
    assert intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run").status == 401
    answer = intake.send(
        workflow_run_payload(sha=new_sha()), event="workflow_run", secret="a-pipeline-specific-secret-123"
    )
    assert answer.status == 201


def test_a_webhook_secret_outside_the_stacks_webhook_prefix_is_never_read(intake: Intake) -> None:
    # Given a pipeline whose webhook secret is another stack's (well-formed, but not this stack's prefix)
    reads: list[str] = []

    def fetch(secret_id: str, force: bool) -> str:
        reads.append(secret_id)
        return json.dumps({"current": SECRET})

    intake.deps = replace(intake.deps, keys=WebhookKeys(fetch))
    intake.configs.config = sample_config(webhook_secret_id="other-stack/github/webhook/sentiment-service")

    # When a delivery arrives, the secret is not read and nothing starts
    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run")
    assert (answer.status, answer.outcome) == (401, "rejected")
    assert "release-promotion/github/webhook/" in answer.message
    assert reads == []
    assert intake.executions() == []


def test_no_configured_secret_refuses_everything(intake: Intake) -> None:
    intake.deps = replace(intake.deps, default_secret_id=None)
    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run")
    assert answer.status == 401
    assert intake.executions() == []


def test_an_unusable_stored_secret_is_a_503_never_a_pass(intake: Intake) -> None:
    intake.secrets[SECRET_ID] = "short"
    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run")
    assert (answer.status, answer.outcome) == (503, "unavailable")
    assert intake.executions() == []


def test_wrong_content_type_is_415(intake: Intake) -> None:
    payload = workflow_run_payload(sha=new_sha())
    # GitHub's other content type sends the JSON as a form field; the signature still covers the body.
    body = b"payload=" + body_of(payload)
    answer = intake.send(body, event="workflow_run", content_type="application/x-www-form-urlencoded")
    assert answer.status == 415
    assert intake.executions() == []


def test_application_json_with_a_charset_is_fine(intake: Intake) -> None:
    answer = intake.send(
        workflow_run_payload(sha=new_sha()),
        event="workflow_run",
        content_type="application/json; charset=utf-8",
    )
    assert answer.status == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"action": "completed"}', "not a workflow_run payload"),
        (
            b'{"action": "completed", "repository": {"full_name": "example-org/sentiment-service"}}',
            "workflow_run",
        ),
    ],
)
def test_bodies_that_are_not_the_event_are_400(intake: Intake, body: bytes, message: str) -> None:
    answer = intake.send(body, event="workflow_run")
    assert answer.status == 400
    assert message in answer.message
    assert intake.executions() == []


def test_a_malformed_sha_in_a_signed_body_is_400(intake: Intake) -> None:
    answer = intake.send(workflow_run_payload(sha="not-a-sha"), event="workflow_run")
    assert answer.status == 400
    assert intake.executions() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"x_github_event": ""},
        {"x_github_event": "Workflow Run"},
        {"x_github_delivery": ""},
        {"x_github_delivery": "id with spaces"},
        {"x_github_delivery": "a" * 101},
    ],
)
def test_missing_or_malformed_github_headers_are_400(intake: Intake, headers: dict[str, str]) -> None:
    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run", **headers)
    assert answer.status == 400
    assert intake.executions() == []


def test_body_over_the_documented_limit_is_413(intake: Intake) -> None:
    payload = workflow_run_payload(sha=new_sha())
    payload["padding"] = "x" * MAX_BODY_BYTES
    answer = intake.send(payload, event="workflow_run")
    assert answer.status == 413
    assert intake.executions() == []


def test_a_payload_for_another_repository_is_422(intake: Intake) -> None:
    answer = intake.send(workflow_run_payload(sha=new_sha(), repo="octo-org/octo-repo"), event="workflow_run")
    assert answer.status == 422
    assert "octo-org/octo-repo" in answer.message
    ping = fixture("ping.json")  # its repository is Octocoders/Hello-World
    assert intake.send(ping, event="ping").status == 422
    assert intake.executions() == []


def test_repository_names_compare_without_case(intake: Intake) -> None:
    answer = intake.send(workflow_run_payload(sha=new_sha(), repo=SAMPLE_REPO.upper()), event="workflow_run")
    assert answer.status == 201


# ---- exactly once -------------------------------------------------------------------------------------
def test_a_redelivery_starts_nothing_new(intake: Intake) -> None:
    payload = workflow_run_payload(sha=new_sha())
    first = intake.send(payload, event="workflow_run", delivery="same-delivery")
    again = intake.send(payload, event="workflow_run", delivery="same-delivery")
    assert (first.status, again.status) == (201, 200)
    assert again.outcome == "duplicate"
    assert again.message.startswith("delivery already received")
    assert len(intake.executions()) == 1


def test_a_second_delivery_for_the_same_commit_starts_nothing_new(intake: Intake) -> None:
    # Given a build run re-run (a new delivery id) and, with push triggers on, the push of the same commit
    intake.configs.config = sample_config(push_triggers=True)
    sha = new_sha()
    first = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    rerun = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    push = intake.send(push_payload(sha=sha), event="push")
    # A replay of the signed body under a made-up delivery id is just another delivery of the commit
    replay = intake.send(workflow_run_payload(sha=sha), event="workflow_run", delivery="attacker-chosen-id")

    # Then exactly one execution exists
    assert first.status == 201
    assert [a.outcome for a in (rerun, push, replay)] == ["duplicate"] * 3
    assert all(a.details["execution_name"] == first.details["execution_name"] for a in (rerun, push, replay))
    assert len(intake.executions()) == 1


def test_a_commit_already_started_by_an_operator_is_not_started_again(intake: Intake) -> None:
    sha = new_sha()
    name = execution_name(PIPELINE, sha, 1)
    intake.sfn.start_execution(stateMachineArn=intake.deps.state_machine_arn, name=name, input="{}")
    answer = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    assert (answer.status, answer.outcome) == (200, "duplicate")
    assert len(intake.executions()) == 1
    item = intake.table.get_item(Key={"pk": commit_key(PIPELINE, sha)})["Item"]
    assert item["status"] == "started"


def test_a_claim_in_progress_is_left_alone_and_a_stale_one_is_finished(intake: Intake) -> None:
    # Given an instance that claimed the commit and died before starting it
    sha = new_sha()
    payload = workflow_run_payload(sha=sha)
    now = int(intake.deps.clock())
    store = DynamoDeliveryStore(intake.table)
    claimed_input = {
        "pipeline": PIPELINE,
        "sha": sha,
        "attempt": 1,
        "trigger": {"source": "webhook", "requested_by": "GitHub workflow_run (crashed)"},
    }
    claim = CommitClaim(PIPELINE, sha, "first-delivery", execution_name(PIPELINE, sha, 1), claimed_input, now)
    assert store.claim_commit(claim) is None

    # When a redelivery arrives while the claim is fresh, it waits for its owner
    fresh = intake.send(payload, event="workflow_run")
    assert (fresh.outcome, intake.executions()) == ("duplicate", [])

    # And once the claim is stale, the next delivery finishes the start with the claim's own input
    later = replace(intake.deps, clock=lambda: float(now + STALE_CLAIM_SECONDS + 1))
    answer = receive(
        later,
        Delivery(
            PIPELINE,
            delivery_headers(body_of(payload), secret=SECRET, event="workflow_run"),
            body_of(payload),
        ),
    )
    assert answer.status == 201
    (execution,) = intake.executions()
    described = intake.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == claimed_input


def test_a_failed_start_releases_the_claim_so_a_redelivery_can_start(intake: Intake) -> None:
    # Given Step Functions refusing the start
    payload = workflow_run_payload(sha=new_sha())
    broken = replace(intake.deps, state_machine_arn=intake.deps.state_machine_arn + "-missing")
    headers = delivery_headers(body_of(payload), secret=SECRET, event="workflow_run", delivery="d-x")
    failed = receive(broken, Delivery(PIPELINE, headers, body_of(payload)))
    assert (failed.status, failed.outcome) == (503, "unavailable")

    # When GitHub redelivers it (the same delivery id) once Step Functions is back
    again = receive(intake.deps, Delivery(PIPELINE, headers, body_of(payload)))

    # Then it starts
    assert again.status == 201
    assert len(intake.executions()) == 1


class EndedExecutions:
    """moto's Step Functions, with chosen executions reported as ended (moto runs no ASL here)."""

    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn
        self.ended: dict[str, dict[str, Any]] = {}
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sfn, name)

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("Step Functions unreachable")
        described = dict(self._sfn.describe_execution(executionArn=executionArn))
        return {**described, **self.ended.get(executionArn, {})}


@pytest.fixture
def ended(intake: Intake) -> EndedExecutions:
    fake = EndedExecutions(intake.sfn)
    intake.deps = replace(intake.deps, sfn=fake)
    return fake


def started_input(intake: Intake, arn: str) -> dict[str, Any]:
    return dict(json.loads(intake.sfn.describe_execution(executionArn=arn)["input"]))


def test_the_started_input_is_attested_for_its_own_execution_only(intake: Intake) -> None:
    from promotion.github.attestation import is_attested
    from promotion.models.execution import ExecutionInput

    answer = intake.send(workflow_run_payload(sha=new_sha()), event="workflow_run")
    arn, name = answer.details["execution_arn"], answer.details["execution_name"]
    document = ExecutionInput.model_validate(started_input(intake, arn))
    assert is_attested(document, ATTESTATION_KEY, execution_arn=arn, execution_name=name)
    other = name[:-1] + "2"
    assert not is_attested(
        document, ATTESTATION_KEY, execution_arn=arn[: -len(name)] + other, execution_name=other
    )


def test_a_claim_gives_way_when_its_execution_failed_before_deploying(
    intake: Intake, ended: EndedExecutions
) -> None:
    # Given an early run for the commit whose promotion failed because its build was never published
    sha = new_sha()
    early = intake.send(workflow_run_payload(sha=sha), event="workflow_run", delivery="early-run")
    assert early.status == 201
    ended.ended[early.details["execution_arn"]] = {"status": "FAILED", "error": "BuildNotPublished"}

    # When the real build's delivery arrives
    real = intake.send(workflow_run_payload(sha=sha), event="workflow_run", delivery="real-build")

    # Then it starts the next attempt of the commit, with an input attested for that attempt's name
    assert (real.status, real.outcome) == (201, "started")
    assert real.details["execution_name"] == execution_name(PIPELINE, sha, 2)
    document = started_input(intake, real.details["execution_arn"])
    assert document["attempt"] == 2
    from promotion.github.attestation import is_attested
    from promotion.models.execution import ExecutionInput

    assert is_attested(
        ExecutionInput.model_validate(document),
        ATTESTATION_KEY,
        execution_arn=real.details["execution_arn"],
        execution_name=real.details["execution_name"],
    )
    # And a delivery id still starts at most once: neither redelivery starts anything
    for delivery in ("early-run", "real-build"):
        again = intake.send(workflow_run_payload(sha=sha), event="workflow_run", delivery=delivery)
        assert again.outcome == "duplicate"
    # Nor does a third delivery while attempt 2 runs
    third = intake.send(workflow_run_payload(sha=sha), event="workflow_run", delivery="third")
    assert (third.outcome, third.details["execution_name"]) == ("duplicate", execution_name(PIPELINE, sha, 2))
    assert len(intake.executions()) == 2


@pytest.mark.parametrize(
    "outcome",
    [
        {"status": "SUCCEEDED"},
        {"status": "RUNNING"},
        # Failed after preprod was deployed (or anywhere it is unknown what changed): the claim stays.
        {"status": "FAILED", "error": "IntegrationTestsFailed"},
        {"status": "FAILED", "error": "Rejected"},
        {"status": "FAILED"},
        {"status": "ABORTED"},
        {"status": "TIMED_OUT"},
    ],
)
def test_a_claim_stays_when_its_execution_may_have_changed_something(
    intake: Intake, ended: EndedExecutions, outcome: dict[str, Any]
) -> None:
    sha = new_sha()
    first = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    ended.ended[first.details["execution_arn"]] = outcome
    later = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    assert (later.status, later.outcome) == (200, "duplicate")
    assert len(intake.executions()) == 1


def test_a_claim_stays_when_its_executions_end_cannot_be_read(intake: Intake, ended: EndedExecutions) -> None:
    sha = new_sha()
    first = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    ended.ended[first.details["execution_arn"]] = {"status": "FAILED", "error": "BuildNotPublished"}
    ended.broken = True
    later = intake.send(workflow_run_payload(sha=sha), event="workflow_run")
    assert (later.status, later.outcome) == (200, "duplicate")
    assert len(intake.executions()) == 1


def test_ping_answers_pong(intake: Intake) -> None:
    ping = fixture("ping.json")
    ping["repository"]["full_name"] = SAMPLE_REPO
    answer = intake.send(ping, event="ping")
    assert (answer.status, answer.outcome) == (200, "pong")
    del ping["repository"]  # an organization webhook's ping names no repository
    assert intake.send(ping, event="ping").status == 200
