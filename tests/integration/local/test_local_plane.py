"""The local control plane as a developer meets it: the ready line, an AWS endpoint, its HTTP front door."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
import pytest
import requests

from promote_cli.local import accounts
from promote_cli.local.plane import LocalControlPlane
from tests.support.paths import REPO_ROOT

ASL_FILE = REPO_ROOT / "statemachine" / "promotion.asl.json"


def aws(plane: LocalControlPlane, service: str) -> Any:
    """A client made the way ``aws --endpoint-url`` would reach the plane: from the ready line alone."""
    ready = plane.ready_info()
    return boto3.client(service, region_name=ready["region"], endpoint_url=ready["aws_endpoint_url"])


def test_the_ready_line_says_where_everything_is(plane: LocalControlPlane) -> None:
    ready = plane.ready_info()
    assert ready["ready"] is True
    assert ready["api_url"].startswith("http://127.0.0.1:")
    assert ready["aws_endpoint_url"].startswith("http://127.0.0.1:")
    assert ready["api_url"] != ready["aws_endpoint_url"]
    assert ready["pipeline"] == "sentiment-service"
    assert ready["repo"] == "example-org/sentiment-service"
    assert ready["outbox_url"] == f"{ready['api_url']}/_local/outbox"
    # the same facts are served over HTTP
    served = requests.get(f"{ready['api_url']}/_local/info", timeout=5).json()
    for key in (
        "api_url",
        "aws_endpoint_url",
        "region",
        "stack_name",
        "state_machine_arn",
        "pipeline",
        "repo",
    ):
        assert served[key] == ready[key], key


def test_aws_clients_at_the_endpoint_see_the_stack(plane: LocalControlPlane) -> None:
    ready = plane.ready_info()
    stack = ready["stack_name"]

    # the state machine runs the ASL file itself, with every ${...} substituted
    sfn = aws(plane, "stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert machines[f"{stack}-promotion"] == ready["state_machine_arn"]
    definition = sfn.describe_state_machine(stateMachineArn=ready["state_machine_arn"])["definition"]
    assert "${" not in definition
    running = json.loads(definition)
    written = json.loads(ASL_FILE.read_text())
    assert running["StartAt"] == written["StartAt"]
    assert set(running["States"]) == set(written["States"])
    assert running["States"]["Load pipeline config"]["Resource"].startswith("arn:aws:lambda:")

    # the template's tables and the versioned artifact bucket
    tables = aws(plane, "dynamodb").list_tables()["TableNames"]
    assert {f"{stack}-approvals", f"{stack}-idempotency"} <= set(tables)
    s3 = aws(plane, "s3")
    assert ready["artifact_bucket"] in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert s3.get_bucket_versioning(Bucket=ready["artifact_bucket"])["Status"] == "Enabled"

    # the sample pipeline's config, and both environments of the sample service behind their alias
    parameter = aws(plane, "ssm").get_parameter(Name=f"/{stack}/pipelines/sentiment-service")["Parameter"]
    assert json.loads(parameter["Value"])["repo"] == ready["repo"]
    # (each environment in its own account, the ready line's)
    assert ready["accounts"]["control_plane"] not in (ready["accounts"]["preprod"], ready["accounts"]["prod"])
    for stage in ("preprod", "prod"):
        lam = plane.environment_client(stage, "lambda")
        for role in ("api", "worker", "tests"):
            alias = lam.get_alias(FunctionName=f"svc-sentiment-{stage}-{role}", Name="live")
            assert int(alias["FunctionVersion"]) >= 1


def send_email(plane: LocalControlPlane, to: str, subject: str, body: dict[str, Any]) -> None:
    assert plane.stack is not None
    aws(plane, "sesv2").send_email(
        FromEmailAddress=plane.stack.environment["EMAIL_SENDER"],
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject}, "Body": body}},
    )


def test_the_outbox_lists_sent_mail_as_json_with_its_links(plane: LocalControlPlane) -> None:
    # Given a plain-text and an HTML message sent through the plane's SES, as the functions send them
    tag = secrets.token_hex(4)
    link = f"{plane.api_url}/approvals/example?approver=a%40example.com&sig=abc"
    send_email(plane, "someone@example.com", f"text {tag}", {"Text": {"Data": f"Open:\n{link}\nThanks"}})
    html = f'<html><body><p>Open <a href="{link}">the page</a></p><p>Thanks</p></body></html>'
    send_email(plane, "other@example.com", f"html {tag}", {"Html": {"Data": html}})

    # When the outbox is read over HTTP
    answer = requests.get(f"{plane.api_url}/_local/outbox", timeout=5)

    # Then it is JSON, one entry per recipient, with the links found in each message
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    messages = {m["subject"]: m for m in answer.json() if tag in m["subject"]}
    text = messages[f"text {tag}"]
    assert (text["channel"], text["recipient"]) == ("email", "someone@example.com")
    assert text["text"] == f"Open:\n{link}\nThanks"
    assert text["links"] == [link]
    rendered = messages[f"html {tag}"]
    assert rendered["recipient"] == "other@example.com"
    assert rendered["links"] == [link]
    assert "Open the page" in rendered["text"]
    assert "<a" not in rendered["text"]


@pytest.mark.parametrize("function", ["svc-sentiment-prod-api", "svc-sentiment-prod-worker"])
def test_a_service_function_answers_through_its_alias(plane: LocalControlPlane, function: str) -> None:
    answer = requests.get(f"{plane.api_url}/_local/fn/{function}/live/health", timeout=30)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["status"] == "ok"
    assert {"version", "variant"} <= set(document)


def test_the_api_function_scores_through_its_alias(plane: LocalControlPlane) -> None:
    answer = requests.post(
        f"{plane.api_url}/_local/fn/svc-sentiment-preprod-api/live/score",
        json={"text": "I love this service, it is fast and works great"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "positive"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("GET", "/_local"),
        ("POST", "/_local/outbox"),
        ("GET", "/approvals"),
        ("DELETE", "/approvals/some-id"),
    ],
)
def test_an_unknown_route_is_404(plane: LocalControlPlane, method: str, path: str) -> None:
    answer = requests.request(method, f"{plane.api_url}{path}", timeout=5)
    assert answer.status_code == 404
    assert answer.json() == {"message": "Not Found"}


def test_a_template_route_reaches_its_function(plane: LocalControlPlane) -> None:
    # GET /approvals/{approval_id} is an HttpApi route of template.yaml: the approval function answers
    # (with its own page), not the plane's 404
    answer = requests.get(
        f"{plane.api_url}/approvals/no-such-approval?approver=x&expires=1&sig=y", timeout=10
    )
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.status_code != 404 or "Not Found" not in answer.text
    assert answer.headers.get("cache-control") == "no-store"


def test_a_function_that_does_not_exist_is_a_404_that_names_it(
    plane: LocalControlPlane, capfd: pytest.CaptureFixture[str]
) -> None:
    answer = requests.get(f"{plane.api_url}/_local/fn/svc-no-such-function/live/health", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == {
        "message": "Not Found",
        "error": "no function svc-no-such-function with alias or version live on the local plane",
    }
    logged = [line for line in capfd.readouterr().err.splitlines() if "svc-no-such-function" in line]
    assert len(logged) == 1
    assert logged[0].startswith(
        "local-http: GET /_local/fn/svc-no-such-function/live/health -> svc-no-such-function:live: "
    )


def test_an_alias_that_does_not_exist_is_a_404_too(plane: LocalControlPlane) -> None:
    answer = requests.get(
        f"{plane.api_url}/_local/fn/svc-sentiment-prod-api/no-such-alias/health", timeout=10
    )
    assert answer.status_code == 404
    assert "no-such-alias" in answer.json()["error"]


def test_an_event_invoke_from_another_process_is_queued_and_answered_202_as_lambda_does(
    plane: LocalControlPlane,
) -> None:
    # Given a Lambda client of its own session (as a service function in its own process has), reaching the
    # plane over HTTP as preprod's administrator
    lam = boto3.session.Session().client(
        "lambda", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    account = accounts.ENVIRONMENT_ACCOUNTS["preprod"]
    lam.meta.events.register_first(
        "before-call",
        lambda params, **_: params.setdefault("headers", {}).update({accounts.ACCOUNT_HEADER: account}),
    )
    event = json.dumps(
        {"version": "2.0", "rawPath": "/health", "requestContext": {"http": {"method": "GET"}}}
    )

    # When it invokes a function asynchronously, Lambda queues the event and answers 202 with no payload
    queued = lam.invoke(
        FunctionName="svc-sentiment-preprod-api", Qualifier="live", InvocationType="Event", Payload=event
    )
    assert queued["StatusCode"] == 202
    assert queued["Payload"].read() == b""
    assert "FunctionError" not in queued

    # and the same invoke waiting for the answer gets the function's own
    answered = lam.invoke(FunctionName="svc-sentiment-preprod-api", Qualifier="live", Payload=event)
    assert answered["StatusCode"] == 200
    assert answered["ExecutedVersion"] != "$LATEST"
    assert json.loads(answered["Payload"].read())["statusCode"] == 200
