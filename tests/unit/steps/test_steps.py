"""The per-state entry points in ``promotion.steps``, with their collaborators passed in."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.parameters import constants as parameters_constants
from moto import mock_aws

from promotion.adapters.config_store import SsmPipelineConfigStore
from promotion.approvals.bypass_policy import NoIdentitySource, NoProver
from promotion.dal.environments import EnvironmentState, EnvironmentStateStore
from promotion.dal.ledger import DynamoLedger
from promotion.errors import (
    AlarmMissing,
    AlarmsAlreadyFiring,
    CanaryFailed,
    EnvironmentFrozen,
    IntegrationTestsFailed,
    InvalidExecutionInput,
    InvalidPipelineConfig,
    UnknownPipeline,
    WouldGoBackwards,
)
from promotion.models.config import PipelineConfig
from promotion.models.execution import EnvironmentDeployment, PinnedArtifact
from promotion.models.steps import (
    CheckAlarmsRequest,
    DecideApprovalPathRequest,
    DeployRequest,
    LoadPipelineRequest,
    RunChecksRequest,
)
from promotion.pipeline.prepare import ProdReadiness
from promotion.steps import check_alarms as check_alarms_step
from promotion.steps import decide_approval_path as decide_approval_path_step
from promotion.steps import deploy_environment as deploy_environment_step
from promotion.steps import load_pipeline as load_pipeline_step
from promotion.steps import run_checks as run_checks_step
from tests.support.alarms import put_alarm
from tests.support.pipelines import (
    github_push_sha,
    sample_config,
    sample_config_dict,
    sample_config_without_service_tests,
)

SHA = github_push_sha()
EXECUTION_NAME = "sentiment-service-0123456789ab-a1"
CONFIG = sample_config()
PREPROD_URL = CONFIG.environments.preprod.base_url


class ConfigStore:
    def __init__(self, *configs: PipelineConfig) -> None:
        self._configs = {config.name: config for config in configs}

    def get(self, pipeline: str) -> PipelineConfig:
        try:
            return self._configs[pipeline]
        except KeyError:
            raise UnknownPipeline(f"no pipeline {pipeline!r}") from None


CONFIGS = ConfigStore(CONFIG)
# The pipeline's HTTP checks alone (tests/unit/steps/test_service_tests.py runs the service's own tests).
HTTP_CHECKS_ONLY = ConfigStore(sample_config_without_service_tests())


# ---- Load pipeline config ----------------------------------------------------------------------
def test_load_pipeline_hands_the_state_machine_its_timing_settings() -> None:
    request = LoadPipelineRequest.model_validate(
        {
            "input": {
                "pipeline": "sentiment-service",
                "sha": SHA,
                "trigger": {"source": "cli", "requested_by": "dev"},
            }
        }
    )
    settings = load_pipeline_step.load_pipeline(CONFIGS, request).to_payload()
    # the ASL reads these paths: $.settings.approval_timeout_seconds for the approval task's timeout
    assert settings["pipeline"] == "sentiment-service"
    assert settings["repo"] == "example-org/sentiment-service"
    assert settings["approval_timeout_seconds"] == 600
    assert (settings["bake_seconds"], settings["poll_seconds"]) == (4, 2)
    # no deployment windows: the ASL's "Deployment windows for ...?" Choices skip both window checks
    assert settings["windows"] == {"preprod": False, "prod": False}


@pytest.mark.parametrize(
    ("windows", "held"),
    [
        ({}, {"preprod": False, "prod": True}),
        ({"environments": ["preprod", "prod"]}, {"preprod": True, "prod": True}),
        ({"environments": ["preprod"]}, {"preprod": True, "prod": False}),
    ],
)
def test_load_pipeline_says_which_environments_the_windows_hold(
    windows: dict[str, Any], held: dict[str, bool]
) -> None:
    request = LoadPipelineRequest.model_validate(
        {
            "input": {
                "pipeline": "sentiment-service",
                "sha": SHA,
                "trigger": {"source": "cli", "requested_by": "dev"},
            }
        }
    )
    settings = load_pipeline_step.load_pipeline(ConfigStore(sample_config(windows=windows)), request)
    assert settings.to_payload()["windows"] == held


def test_load_pipeline_for_an_unknown_pipeline() -> None:
    request = LoadPipelineRequest.model_validate(
        {
            "input": {
                "pipeline": "nobody-configured",
                "sha": SHA,
                "trigger": {"source": "cli", "requested_by": "d"},
            }
        }
    )
    with pytest.raises(UnknownPipeline, match="nobody-configured"):
        load_pipeline_step.load_pipeline(CONFIGS, request)


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")
    # powertools keeps one SSM client for the process: do not leave one made under this mock behind
    parameters_constants.DEFAULT_PROVIDERS.clear()


def test_the_ssm_config_store_reads_validates_and_refuses(ssm: Any) -> None:
    store = SsmPipelineConfigStore("/unit/pipelines/", max_age=0)
    ssm.put_parameter(
        Name="/unit/pipelines/sentiment-service", Value=json.dumps(sample_config_dict()), Type="String"
    )
    assert store.get("sentiment-service") == CONFIG

    with pytest.raises(
        UnknownPipeline, match=r"no pipeline 'absent' \(SSM parameter /unit/pipelines/absent not found\)"
    ):
        store.get("absent")
    with pytest.raises(UnknownPipeline, match="is not a valid pipeline name"):
        store.get("../sentiment-service")

    ssm.put_parameter(Name="/unit/pipelines/broken", Value='{"name": "broken"}', Type="String")
    with pytest.raises(
        InvalidPipelineConfig, match=r"^SSM parameter /unit/pipelines/broken: repo: Field required"
    ):
        store.get("broken")


# ---- Deploy --------------------------------------------------------------------------------------
def artifact(repo: str = "example-org/sentiment-service") -> PinnedArtifact:
    return PinnedArtifact(
        repo=repo,
        sha=SHA,
        bucket="unit-artifacts",
        key=f"builds/{repo}/{SHA}/package.zip",
        version_id="v1",
        sha256="0" * 64,
        size=1,
        manifest_key=f"builds/{repo}/{SHA}/manifest.json",
        manifest_version_id="m1",
    )


class NoLambda:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Lambda call {name}")


def test_deploy_refuses_an_artifact_from_another_repository_before_any_call() -> None:
    request = DeployRequest(
        pipeline="sentiment-service",
        environment="preprod",
        artifact=artifact("someone/else"),
        execution_name=EXECUTION_NAME,
    )
    with pytest.raises(
        InvalidExecutionInput, match="artifact is from someone/else, pipeline deploys example-org"
    ):
        deploy_environment_step.deploy(CONFIGS, NoLambda(), request)


# ---- Run checks ------------------------------------------------------------------------------------
class FakeResponse:
    def __init__(self, status: int, document: Any) -> None:
        self.status_code = status
        self.text = json.dumps(document)
        self.headers = {"content-type": "application/json"}


class FakeSession:
    """A requests.Session stand-in that answers like the sample service and records each request."""

    def __init__(self, negative_label: str = "negative") -> None:
        self.requests: list[tuple[str, str]] = []
        self._negative_label = negative_label

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.requests.append((method, url))
        if url.endswith("/health"):
            return FakeResponse(200, {"status": "ok"})
        text = kwargs["json"]["text"]
        return FakeResponse(200, {"label": "positive" if "love" in text else self._negative_label})


def session(negative_label: str = "negative") -> requests.Session:
    return cast(requests.Session, FakeSession(negative_label))


def test_integration_checks_run_against_preprods_url() -> None:
    fake = FakeSession()
    report = run_checks_step.run_check_suite(
        HTTP_CHECKS_ONLY,
        lambda _environment: NoLambda(),
        cast(requests.Session, fake),
        RunChecksRequest(pipeline="sentiment-service", execution_name=EXECUTION_NAME, suite="integration"),
    )
    assert report.passed is True
    assert (report.suite, report.environment, report.target) == ("integration", "preprod", PREPROD_URL)
    assert fake.requests == [
        ("GET", f"{PREPROD_URL}/health"),
        ("POST", f"{PREPROD_URL}/score"),
        ("POST", f"{PREPROD_URL}/score"),
    ]


def test_failing_integration_checks_raise_with_the_report_summary() -> None:
    request = RunChecksRequest(
        pipeline="sentiment-service", execution_name=EXECUTION_NAME, suite="integration"
    )
    with pytest.raises(IntegrationTestsFailed) as caught:
        run_checks_step.run_check_suite(
            HTTP_CHECKS_ONLY, lambda _environment: NoLambda(), session(negative_label="positive"), request
        )
    assert str(caught.value) == (
        f"1/3 integration checks failed on {PREPROD_URL}: "
        "score-negative: JSON 'label' is 'positive', expected 'negative'"
    )


def prod_deployment() -> EnvironmentDeployment:
    return EnvironmentDeployment.model_validate(
        {
            "environment": "prod",
            "functions": [
                {
                    "key": key,
                    "function_name": f"svc-sentiment-prod-{key}",
                    "alias": "live",
                    "previous_version": "1",
                    "version": version,
                    "code_sha256": "abc=",
                }
                for key, version in (("api", "4"), ("worker", "6"))
            ],
        }
    )


class ServiceLambda:
    """Answers invocations of exact versions like the sample service; records (function, qualifier)."""

    def __init__(self, worker_status: int = 200) -> None:
        self.calls: list[tuple[str, str]] = []
        self._worker_status = worker_status

    def invoke(self, *, FunctionName: str, Qualifier: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append((FunctionName, Qualifier))
        event = json.loads(Payload)
        if FunctionName.endswith("-worker"):
            status, document = (
                self._worker_status,
                {"status": "ok" if self._worker_status == 200 else "error"},
            )
        elif event["rawPath"] == "/health":
            status, document = 200, {"status": "ok"}
        else:
            status, document = (
                200,
                {"label": "positive" if "love" in json.loads(event["body"])["text"] else "negative"},
            )
        answer = {"statusCode": status, "body": json.dumps(document)}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


def test_the_canary_calls_the_new_prod_versions_themselves() -> None:
    lam = ServiceLambda()
    report = run_checks_step.run_check_suite(
        HTTP_CHECKS_ONLY,
        lambda _environment: lam,
        session(),
        RunChecksRequest(
            pipeline="sentiment-service",
            execution_name=EXECUTION_NAME,
            suite="canary",
            deployment=prod_deployment(),
        ),
    )
    assert report.passed is True
    assert (report.suite, report.environment) == ("canary", "prod")
    assert lam.calls == [
        ("svc-sentiment-prod-api", "4"),
        ("svc-sentiment-prod-api", "4"),
        ("svc-sentiment-prod-api", "4"),
        ("svc-sentiment-prod-worker", "6"),
    ]


def test_a_failing_canary_raises_canary_failed() -> None:
    request = RunChecksRequest(
        pipeline="sentiment-service",
        execution_name=EXECUTION_NAME,
        suite="canary",
        deployment=prod_deployment(),
    )
    with pytest.raises(
        CanaryFailed, match=r"1/4 canary checks failed on .*worker-health: status 500, expected 200"
    ):
        run_checks_step.run_check_suite(
            HTTP_CHECKS_ONLY, lambda _environment: ServiceLambda(worker_status=500), session(), request
        )


@pytest.mark.parametrize(
    "deployment", [None, prod_deployment().model_copy(update={"environment": "preprod"})]
)
def test_the_canary_needs_the_prod_deployment(deployment: EnvironmentDeployment | None) -> None:
    request = RunChecksRequest(
        pipeline="sentiment-service", execution_name=EXECUTION_NAME, suite="canary", deployment=deployment
    )
    with pytest.raises(InvalidExecutionInput, match="the canary needs the prod deployment it checks"):
        run_checks_step.run_check_suite(HTTP_CHECKS_ONLY, lambda _environment: NoLambda(), session(), request)


# ---- Decide approval path ------------------------------------------------------------------------
class ProdState:
    """Reads "Decide approval path" makes of prod: frozen?, its running commit, its alarms, the order."""

    def __init__(self, cloudwatch: Any, *, frozen: str = "", running: str | None = None) -> None:
        self.cloudwatch, self.frozen, self.running = cloudwatch, frozen, running
        self.compared: list[tuple[str, str]] = []

    def get(self, pipeline: str, environment: str) -> EnvironmentState:
        frozen = self.frozen == environment
        reason = "rollback failed" if frozen else ""
        return EnvironmentState(pipeline, environment, frozen=frozen, reason=reason)

    def pointer(self, pipeline: str, environment: str, which: str) -> Any:
        return type("Pointer", (), {"sha": self.running})() if self.running else None

    def compare(self, repo: str, base: str, head: str) -> Any:
        self.compared.append((base, head))
        return type("Comparison", (), {"status": "behind"})()

    def readiness(self) -> ProdReadiness:
        return ProdReadiness(
            cloudwatch=self.cloudwatch,
            environments=cast(EnvironmentStateStore, self),
            ledger=cast(DynamoLedger, self),
            commit_order=self,
        )


def decide(prod: ProdState, *, mode: str = "promote") -> Any:
    request = DecideApprovalPathRequest.model_validate(
        {"pipeline": "sentiment-service", "sha": SHA, "mode": mode, "execution_name": EXECUTION_NAME}
    )
    return decide_approval_path_step.decide_path(
        CONFIGS, NoProver(), request, identities=NoIdentitySource(), readiness=prod.readiness()
    )


def test_decide_path_without_a_prover_requires_approval(cloudwatch: Any) -> None:
    path = decide(ProdState(cloudwatch))
    assert path.to_payload()["decision"] == "approval_required"
    assert "commit author not established" in path.reason
    assert path.commit is not None
    assert path.commit.unavailable


@pytest.mark.parametrize(
    ("case", "error", "says"),
    [
        ("prod frozen", EnvironmentFrozen, "frozen since a failed rollback"),
        ("pipeline frozen", EnvironmentFrozen, "frozen by an operator"),
        ("alarm firing", AlarmsAlreadyFiring, "already in ALARM"),
        ("backwards", WouldGoBackwards, "is an ancestor of"),
    ],
)
def test_decide_path_refuses_before_anyone_is_asked_what_prod_would_refuse(
    cloudwatch: Any, case: str, error: type[Exception], says: str
) -> None:
    prod = ProdState(
        cloudwatch,
        frozen={"prod frozen": "prod", "pipeline frozen": "*"}.get(case, ""),
        running="c" * 40 if case == "backwards" else None,
    )
    if case == "alarm firing":
        put_alarm(cloudwatch, CONFIG.environments.prod.alarms[0], "ALARM")
    # The same errors "Check and lock prod" raises, so the state machine's Catch records the failure.
    with pytest.raises(error, match=says):
        decide(prod)


def test_an_operator_redeploy_is_not_held_to_never_backwards_before_approval(cloudwatch: Any) -> None:
    prod = ProdState(cloudwatch, running="c" * 40)
    assert decide(prod, mode="redeploy").decision == "approval_required"
    assert prod.compared == []


# ---- Check prod alarms -------------------------------------------------------------------------------
@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        for name in CONFIG.environments.prod.alarms:
            put_alarm(client, name, "OK")
        yield client


def test_check_alarms_polls_the_environments_alarms(cloudwatch: Any) -> None:
    progress = check_alarms_step.check_alarms(
        CONFIGS,
        cloudwatch,
        CheckAlarmsRequest(
            pipeline="sentiment-service", execution_name=EXECUTION_NAME, environment="prod", elapsed_seconds=0
        ),
    )
    assert progress.alarms == {name: "OK" for name in CONFIG.environments.prod.alarms}
    assert (progress.wait_seconds, progress.elapsed_seconds, progress.done) == (2, 2, False)


def test_check_alarms_fails_closed_on_an_alarm_that_is_not_there(cloudwatch: Any) -> None:
    cloudwatch.delete_alarms(AlarmNames=["svc-sentiment-prod-api-p99"])
    request = CheckAlarmsRequest(
        pipeline="sentiment-service", execution_name=EXECUTION_NAME, environment="prod", elapsed_seconds=2
    )
    with pytest.raises(AlarmMissing, match="svc-sentiment-prod-api-p99"):
        check_alarms_step.check_alarms(CONFIGS, cloudwatch, request)
