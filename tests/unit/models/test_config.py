"""Pipeline config validation: every mistake is one clear line that names the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from promotion.errors import InvalidPipelineConfig
from promotion.models.config import parse_pipeline_config
from tests.support.pipelines import sample_config_dict

Edit = Callable[[dict[str, Any]], None]


def rejection(edit: Edit) -> str:
    """The error message for the sample config after ``edit``; fails the test if it is accepted."""
    document = sample_config_dict()
    edit(document)
    with pytest.raises(InvalidPipelineConfig) as caught:
        parse_pipeline_config(document, source="SSM parameter /stack/pipelines/sentiment-service")
    message = str(caught.value)
    assert "\n" not in message, "errors are one line (an HTTP body or a CLI line)"
    assert message.startswith("SSM parameter /stack/pipelines/sentiment-service: ")
    return message


def test_the_sample_config_is_valid() -> None:
    config = parse_pipeline_config(sample_config_dict(), source="test")
    assert config.name == "sentiment-service"
    assert set(config.environments.prod.functions) == {"api", "tests", "worker"}
    assert config.environments.preprod.http_entry == "api"
    # canary_checks are given, so they are what the canary runs
    assert [check.name for check in config.effective_canary_checks][-1] == "worker-health"


def test_without_canary_checks_the_canary_runs_the_integration_checks() -> None:
    document = sample_config_dict()
    del document["canary_checks"]
    config = parse_pipeline_config(document, source="test")
    assert config.effective_canary_checks == config.checks


def test_json_text_is_accepted_and_bad_json_is_a_clear_error() -> None:
    assert parse_pipeline_config(json.dumps(sample_config_dict()), source="f").name == "sentiment-service"
    with pytest.raises(InvalidPipelineConfig, match=r"^pipeline\.json: not JSON: "):
        parse_pipeline_config("{not json", source="pipeline.json")


def test_unknown_top_level_key() -> None:
    message = rejection(lambda d: d.update(bypass_approval=True))
    assert "bypass_approval: Extra inputs are not permitted" in message


def test_unknown_nested_key_is_named_by_its_path() -> None:
    message = rejection(lambda d: d["environments"]["prod"].update(colour="blue"))
    assert "environments.prod.colour: Extra inputs are not permitted" in message


def test_bad_approver_email() -> None:
    message = rejection(lambda d: d["approval"].update(approvers=["release-manager"]))
    assert message.count("approval.approvers") == 1
    assert "'release-manager' is not an email address" in message


def test_bad_notification_email() -> None:
    message = rejection(lambda d: d["notifications"].update(emails=["team@example.com", "team at example"]))
    assert "notifications.emails" in message
    assert "'team at example' is not an email address" in message


def test_no_approvers_is_refused() -> None:
    message = rejection(lambda d: d["approval"].update(approvers=[]))
    assert "approval.approvers" in message


def test_http_entry_must_be_one_of_the_functions() -> None:
    message = rejection(lambda d: d["environments"]["preprod"].update(http_entry="frontend"))
    assert "environments.preprod" in message
    assert "http_entry 'frontend' is not one of functions ['api', 'tests', 'worker']" in message


def test_preprod_and_prod_must_have_the_same_function_keys() -> None:
    def add_prod_only_function(document: dict[str, Any]) -> None:
        document["environments"]["prod"]["functions"]["reporter"] = "svc-sentiment-prod-reporter"

    message = rejection(add_prod_only_function)
    assert "environments" in message
    assert "['api', 'tests', 'worker']" in message
    assert "['api', 'reporter', 'tests', 'worker']" in message
    assert "must have the same keys" in message


def test_a_canary_check_naming_an_unknown_function() -> None:
    message = rejection(lambda d: d["canary_checks"][-1].update(function="scheduler"))
    assert "check 'worker-health' names unknown function 'scheduler'" in message


def test_an_integration_check_naming_an_unknown_function() -> None:
    message = rejection(lambda d: d["checks"][0].update(function="scheduler"))
    assert "check 'health' names unknown function 'scheduler'" in message


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(name="Sentiment Service"), "name"),
        (lambda d: d.update(repo="sentiment-service"), "repo"),
        (
            lambda d: d["environments"]["prod"].update(base_url="ftp://example.com"),
            "environments.prod.base_url",
        ),
        (lambda d: d["approval"].update(timeout_seconds=5), "approval.timeout_seconds"),
        (lambda d: d["bake"].update(poll_interval_seconds=0), "bake.poll_interval_seconds"),
        (lambda d: d["checks"][0].update(path="health"), "checks.0.path"),
        (lambda d: d["checks"][0].update(method="TRACE"), "checks.0.method"),
        (lambda d: d.update(checks=[]), "checks"),
        (lambda d: d["artifacts"].update(prefix="/builds/"), "artifacts.prefix"),
        (lambda d: d.pop("approval"), "approval"),
    ],
)
def test_field_errors_name_the_field(edit: Edit, field: str) -> None:
    assert f": {field}: " in rejection(edit)


def test_several_mistakes_are_all_reported_on_one_line() -> None:
    def two_mistakes(document: dict[str, Any]) -> None:
        document["repo"] = "no-owner"
        document["bake"]["duration_seconds"] = -1

    message = rejection(two_mistakes)
    assert "repo: " in message
    assert "bake.duration_seconds: " in message
    assert "; " in message


def test_the_build_workflow_is_a_file_path_not_a_name() -> None:
    message = rejection(lambda d: d["github"].update(build_workflow="build"))
    assert "github.build_workflow" in message


@pytest.mark.parametrize(
    ("field", "secret_id", "segment"),
    [
        # An API token named as the webhook secret (or the other way round) is refused: each function's
        # IAM reads only its own kind, and the webhook must never hold an API token.
        ("webhook_secret_id", "release-promotion/github/api/sentiment-service", "/github/webhook/"),
        ("webhook_secret_id", "release-promotion/github/sentiment-service-webhook", "/github/webhook/"),
        ("token_secret_id", "release-promotion/github/webhook/sentiment-service", "/github/api/"),
        ("token_secret_id", "release-promotion/github/sentiment-service-token", "/github/api/"),
        ("token_secret_id", "a/b/github/api/x", "/github/api/"),
    ],
)
def test_github_secrets_are_named_by_their_kind(field: str, secret_id: str, segment: str) -> None:
    message = rejection(lambda d: d["github"].update({field: secret_id}))
    assert f"github.{field}" in message
    assert segment in message


def test_github_secrets_under_their_prefix_are_accepted_as_names_or_arns() -> None:
    document = sample_config_dict()
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:release-promotion/github/api/svc-AbCdEf"
    document["github"].update(webhook_secret_id="release-promotion/github/webhook/svc", token_secret_id=arn)
    github = parse_pipeline_config(document, source="test").github
    assert (github.webhook_secret_id, github.token_secret_id) == ("release-promotion/github/webhook/svc", arn)


def test_a_bake_of_more_polls_than_the_execution_history_holds_is_refused() -> None:
    message = rejection(lambda d: d["bake"].update(duration_seconds=86_400, poll_interval_seconds=30))
    assert "bake: " in message
    assert "takes 2881 polls; at most 2000 fit in Step Functions' execution history" in message


def test_a_bake_of_exactly_the_most_polls_is_accepted() -> None:
    document = sample_config_dict()
    document["bake"].update(duration_seconds=1_999 * 30, poll_interval_seconds=30)
    assert parse_pipeline_config(document, source="test").bake.polls() == 2_000


# ---- environments' deployer roles ---------------------------------------------------------------------
def test_each_environment_names_its_deployer_role_and_account() -> None:
    config = parse_pipeline_config(sample_config_dict(), source="test")
    assert config.environments.preprod.account == "222222222222"
    assert config.environments.prod.account == "333333333333"
    assert (
        config.environments.prod.role_arn == "arn:aws:iam::333333333333:role/release-promotion-deployer-prod"
    )


def set_in(environment: str, **values: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["environments"][environment].update(values)

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (set_in("prod", role_arn="arn:aws:iam::333:role/x"), "environments.prod.role_arn"),
        (set_in("prod", role_arn="arn:aws:iam::333333333333:user/x"), "environments.prod.role_arn"),
        (set_in("prod", external_id="x"), "environments.prod.external_id"),
        (
            set_in("prod", role_arn=None, external_id="abc123"),
            "external_id is only sent when assuming role_arn",
        ),
        (
            set_in("preprod", role_arn="arn:aws:iam::333333333333:role/release-promotion-deployer-prod"),
            "preprod and prod name the same role_arn",
        ),
        (
            set_in(
                "prod",
                functions={"api": "arn:aws:lambda:us-east-1:222222222222:function:svc-sentiment-prod-api"},
            ),
            "is in account 222222222222, role_arn in account 333333333333",
        ),
    ],
)
def test_deployer_role_mistakes(edit: Edit, expected: str) -> None:
    assert expected in rejection(edit)


def test_in_one_account_the_environments_share_no_function_nor_alarm() -> None:
    def same_account_shared_function(document: dict[str, Any]) -> None:
        for environment in ("preprod", "prod"):
            document["environments"][environment].pop("role_arn")
        document["environments"]["prod"]["functions"]["worker"] = "svc-sentiment-preprod-worker"

    assert "share functions ['svc-sentiment-preprod-worker'] in one account" in rejection(
        same_account_shared_function
    )

    def same_account_shared_alarm(document: dict[str, Any]) -> None:
        for environment in ("preprod", "prod"):
            document["environments"][environment]["role_arn"] = (
                f"arn:aws:iam::123456789012:role/release-promotion-deployer-{environment}"
            )
        document["environments"]["prod"]["alarms"] = ["svc-sentiment-preprod-api-errors"]

    assert "share alarms ['svc-sentiment-preprod-api-errors'] in one account" in rejection(
        same_account_shared_alarm
    )

    # In accounts of their own, the same names are two different functions.
    document = sample_config_dict()
    document["environments"]["prod"]["functions"] = dict(document["environments"]["preprod"]["functions"])
    assert parse_pipeline_config(document, source="test").environments.prod.function_names() == {
        "svc-sentiment-preprod-api",
        "svc-sentiment-preprod-tests",
        "svc-sentiment-preprod-worker",
    }
