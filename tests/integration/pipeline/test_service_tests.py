"""The service's own test Lambda and pre-traffic hook on the local plane: the real ASL, the sample service.

The sample pipeline names the build's ``tests`` function (examples/sentiment-service/src/selftest.py) as
both, in both environments; the happy path with both configured is test_promotion_happy_path.py.
"""

from __future__ import annotations

import json

import boto3
import pytest

from promote_cli.local import sample
from promote_cli.local.plane import LocalControlPlane
from promote_cli.local.sample import SAMPLE_DIR
from promotion.dal.ledger import DynamoLedger, LedgerEntry
from promotion.errors import InvalidPipelineConfig
from promotion.pipeline.artifacts import lambda_code_sha256
from tests.integration.pipeline.test_promotion_paths import (
    approve,
    code_shas,
    ended,
    healthy_prod_alarms,
    in_order,
    notices,
    state_output,
    versions,
)
from tests.support.promotion import (
    Promotion,
    decide_via_link,
    derived_pipeline,
    publish_and_start,
    wait_for_approval_links,
    wait_for_state,
)

SUITE = "svc-sentiment-preprod-suite"


def ledger_entry(plane: LocalControlPlane, promotion: Promotion, environment: str) -> LedgerEntry:
    assert plane.stack is not None
    dynamodb = boto3.resource(
        "dynamodb", region_name=plane.options.region, endpoint_url=plane.aws_endpoint_url
    )
    ledger = DynamoLedger(dynamodb.Table(plane.stack.environment["DEPLOYMENTS_TABLE"]))
    name = promotion.execution_arn.rsplit(":", 1)[1]
    (entry,) = [
        e for e in ledger.history(promotion.config.name, environment, limit=50) if e.execution_name == name
    ]
    return entry


def test_the_services_own_test_lambda_failing_preprod_stops_the_promotion(plane: LocalControlPlane) -> None:
    # Given a build whose /score takes a blank text (the pipeline's HTTP checks never send one)
    promotion = publish_and_start(plane, variant="fails-own-tests")

    # When it is promoted
    described = ended(plane, promotion, "FAILED", "IntegrationTestsFailed")

    # Then the service's own test Lambda failed it, naming the case; the hook and every HTTP check passed
    failed_case = "tests/blank-text-refused: a blank text got status 200, expected 400"
    assert failed_case in described["cause"]
    # 4 cases of the hook, the 3 HTTP checks, 5 cases of the test Lambda: only that one failed
    assert "1/12 integration checks failed on " in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Deploy to preprod", "Run integration tests", "Roll back preprod"])
    assert not {"Wait for approval", "Deploy to prod"} & set(states)

    # And preprod is back on what it ran before, prod untouched
    after = promotion.after()
    assert versions(after["preprod"]) == versions(promotion.before["preprod"])
    assert after["prod"] == promotion.before["prod"]

    # And the notice and the ledger say which case failed
    (notice,) = notices(plane, promotion.sha)
    assert "failed: IntegrationTestsFailed; preprod rolled back" in notice["subject"]
    assert failed_case in notice["text"]
    entry = ledger_entry(plane, promotion, "preprod")
    assert entry.outcome == "rolled_back"
    assert entry.detail is not None
    assert entry.detail.startswith("IntegrationTestsFailed: ")
    assert failed_case in entry.detail


def test_a_failing_pre_traffic_hook_rolls_prod_back_before_any_traffic_moves(
    plane: LocalControlPlane,
) -> None:
    # Given a build whose prod lacks a schema migration it needs, approved after preprod
    healthy_prod_alarms(plane)
    promotion = publish_and_start(plane, variant="fails-pre-traffic")
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    calls_before_prod = len(plane.runtime.invocations)
    approve(plane, promotion)

    # When prod's pre-traffic hook runs
    described = ended(plane, promotion, "FAILED", "CanaryFailed")

    # Then the hook failed the canary step, naming its case, before traffic moved or a check ran
    failed_case = (
        "pre-traffic tests/migrations-applied: prod lacks schema migrations ['0042_add_language_column']"
    )
    assert failed_case in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Deploy to prod", "Run canary checks", "Roll back prod"])
    assert "Shift traffic" not in states
    prod_calls = [
        call
        for call in plane.runtime.invocations[calls_before_prod:]
        if call[0].startswith("svc-sentiment-prod-")
    ]
    deployed = {
        f["key"]: f
        for f in state_output(plane, promotion.execution_arn, "Deploy to prod")["prod"]["functions"]
    }
    # only the hook, at the new version of the build's tests function (the alias still served the old one)
    assert set(prod_calls) == {("svc-sentiment-prod-tests", deployed["tests"]["version"])}

    # And prod is back on what it ran before; preprod keeps the build it passed (its hook passed there)
    after = promotion.after()
    assert versions(after["prod"]) == versions(promotion.before["prod"])
    assert code_shas(after["preprod"]) == {lambda_code_sha256(promotion.build.sha256)}
    (notice,) = notices(plane, promotion.sha)
    assert "failed: CanaryFailed; prod rolled back" in notice["subject"]
    assert failed_case in notice["text"]
    assert failed_case in (ledger_entry(plane, promotion, "prod").detail or "")


def test_the_services_own_test_lambda_judges_the_new_version_in_prod_before_traffic_moves(
    plane: LocalControlPlane,
) -> None:
    # Given a canary rollout (prod's alias keeps serving the previous build until "Shift traffic", unlike
    # all_at_once, which moves it at "Deploy to prod") and a build that takes a blank text only in prod
    # (preprod's tests, the hook and every HTTP check pass), approved after preprod
    healthy_prod_alarms(plane)
    pipeline = derived_pipeline(
        plane,
        "own-tests-canary",
        rollout={"strategy": "canary", "canary_percent": 10, "interval_seconds": 60},
    )
    promotion = publish_and_start(plane, variant="fails-own-tests-in-prod", pipeline=pipeline)
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")
    calls_before_prod = len(plane.runtime.invocations)
    approve(plane, promotion)

    # When prod's canary step runs the service's own test Lambda
    described = ended(plane, promotion, "FAILED", "CanaryFailed")

    # Then it judged the new api version (not the alias, which still served the old build) and failed it,
    # before any traffic moved
    failed_case = "tests/blank-text-refused: a blank text got status 200, expected 400"
    assert failed_case in described["cause"]
    states = promotion.states()
    assert in_order(states, ["Deploy to prod", "Run canary checks", "Roll back prod"])
    assert "Shift traffic" not in states
    deployed = {
        f["key"]: f["version"]
        for f in state_output(plane, promotion.execution_arn, "Deploy to prod")["prod"]["functions"]
    }
    prod_api_calls = {
        qualifier
        for name, qualifier in plane.runtime.invocations[calls_before_prod:]
        if name == "svc-sentiment-prod-api"
    }
    assert prod_api_calls == {deployed["api"]}
    # every case but that one passed on the new version, health included (it serves the commit under test)
    assert "1/" in described["cause"]
    assert "tests/health" not in described["cause"]

    # And prod is back on what it ran before
    after = promotion.after()
    assert versions(after["prod"]) == versions(promotion.before["prod"])
    (notice,) = notices(plane, promotion.sha)
    assert "failed: CanaryFailed; prod rolled back" in notice["subject"]
    assert failed_case in notice["text"]


# ---- a test Lambda deployed beside the service -----------------------------------------------------------
def beside_the_service(plane: LocalControlPlane) -> str:
    """The team's suite deployed beside preprod (the sample's selftest, from a build of its own), not part of
    any build the pipeline promotes; a pipeline naming it as preprod's test Lambda."""
    lam = plane.environment_client("preprod", "lambda")
    if SUITE not in {f["FunctionName"] for f in lam.list_functions()["Functions"]}:
        tests = lam.get_function_configuration(FunctionName="svc-sentiment-preprod-tests")
        lam.create_function(
            FunctionName=SUITE,
            Runtime=tests["Runtime"],
            Role=tests["Role"],  # the sample's test role: it may invoke the service's functions
            Handler="selftest.handler",
            Code={"ZipFile": sample.build_package("good", "team-suite")},
            Timeout=tests["Timeout"],
            Environment=tests["Environment"],
        )
    environments = json.loads((SAMPLE_DIR / "pipeline.local.json").read_text())["environments"]
    preprod = environments["preprod"]
    preprod["service_tests"] = {
        "test_function": {"function_name": SUITE},
        "pre_traffic_hook": "tests",
        "timeout_seconds": 60,
    }
    return derived_pipeline(plane, "beside-suite", environments=environments)


def test_a_failing_test_lambda_deployed_beside_the_service_stops_the_promotion(
    plane: LocalControlPlane,
) -> None:
    # Given preprod's test Lambda is the team's suite deployed beside the service, and a build whose /score
    # takes a blank text (the pipeline's HTTP checks never send one)
    pipeline = beside_the_service(plane)
    promotion = publish_and_start(plane, variant="fails-own-tests", pipeline=pipeline)
    calls_before = len(plane.runtime.invocations)

    # When it is promoted
    described = ended(plane, promotion, "FAILED", "IntegrationTestsFailed")

    # Then the suite, invoked as deployed ($LATEST), failed it naming the case; the build's hook passed
    failed_case = f"{SUITE}/blank-text-refused: a blank text got status 200, expected 400"
    assert failed_case in described["cause"]
    assert "1/12 integration checks failed on " in described["cause"]
    assert (SUITE, "$LATEST") in plane.runtime.invocations[calls_before:]
    states = promotion.states()
    assert in_order(states, ["Deploy to preprod", "Run integration tests", "Roll back preprod"])
    assert "Wait for approval" not in states

    # And preprod is back on what it ran before; the suite was not deployed to
    after = promotion.after()
    assert versions(after["preprod"]) == versions(promotion.before["preprod"])
    suite_versions = plane.environment_client("preprod", "lambda").list_versions_by_function(
        FunctionName=SUITE
    )
    assert [v["Version"] for v in suite_versions["Versions"]] == ["$LATEST"]
    (notice,) = notices(plane, promotion.sha)
    assert failed_case in notice["text"]
    assert failed_case in (ledger_entry(plane, promotion, "preprod").detail or "")


def test_a_passing_test_lambda_deployed_beside_the_service_joins_the_check_report(
    plane: LocalControlPlane,
) -> None:
    # Given the same suite beside preprod, and a good build
    pipeline = beside_the_service(plane)
    promotion = publish_and_start(plane, variant="good", pipeline=pipeline)

    # When preprod's integration step has run
    wait_for_state(plane, promotion.execution_arn, "Wait for approval")

    # Then its cases passed and joined the check report after the hook's and the HTTP checks'
    report = state_output(plane, promotion.execution_arn, "Run integration tests")["integration"]
    names = [result["name"] for result in report["results"]]
    assert report["passed"] is True
    assert names[0].startswith("pre-traffic tests/")
    suite_cases = [name for name in names if name.startswith(f"{SUITE}/")]
    assert suite_cases == [
        f"{SUITE}/{case}"
        for case in (
            "health",
            "blank-text-refused",
            "score-idempotent",
            "concurrent-requests",
            "latency-under-bound",
        )
    ]
    assert names[-len(suite_cases) :] == suite_cases
    (link,) = wait_for_approval_links(plane, promotion)
    assert decide_via_link(link, "reject", "preprod only").status_code == 200
    ended(plane, promotion, "FAILED", "Rejected")


def test_a_test_lambda_outside_the_environments_function_prefix_is_refused_when_stored(
    plane: LocalControlPlane,
) -> None:
    environments = json.loads((SAMPLE_DIR / "pipeline.local.json").read_text())["environments"]
    preprod = environments["preprod"]
    preprod["service_tests"] = {"test_function": {"function_name": "team-preprod-suite"}}
    with pytest.raises(InvalidPipelineConfig, match="outside the environment's function name prefix"):
        derived_pipeline(plane, "outside-suite", environments=environments)
