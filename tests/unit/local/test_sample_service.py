"""The sample sentiment service: its handlers per build variant, its builds, and its pipeline config."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from promote_cli import publish
from promote_cli.local import sample
from promotion.models.config import HttpCheck, PipelineConfig, parse_pipeline_config
from promotion.pipeline.artifacts import BuildManifest
from promotion.pipeline.checks import CheckResponse, http_api_event, run_checks

SHA = "0123456789abcdef0123456789abcdef01234567"
POSITIVE = "I love this service, it is fast and works great"
NEGATIVE = "Terrible experience, it is slow and broken"


@dataclass(frozen=True)
class Service:
    app: ModuleType
    worker: ModuleType
    scoring: ModuleType
    variants: ModuleType


def _import_sample_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sample_{name}", sample.SAMPLE_DIR / "src" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The sample's own HTTP API event builder (its test Lambda invokes the api with it too).
SAMPLE_HTTPAPI = _import_sample_module("httpapi")


def _import_service(code_dir: Path, module_names: list[str], monkeypatch: pytest.MonkeyPatch) -> Service:
    """Import the service from ``code_dir`` as Lambda would (it is the first import path)."""
    for name in [*module_names, "build_info"]:
        # setitem then delitem: the test's end restores whatever module had this name before (or none).
        monkeypatch.setitem(sys.modules, name, ModuleType(name))
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(code_dir))
    return Service(
        app=importlib.import_module("app"),
        worker=importlib.import_module("worker"),
        scoring=importlib.import_module("scoring"),
        variants=importlib.import_module("variants"),
    )


@pytest.fixture
def load_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Service]:
    """Build the package for a variant, extract it like Lambda's /var/task, and import its handlers."""
    monkeypatch.delenv("STAGE", raising=False)

    def load(variant: str, sha: str = SHA) -> Service:
        package = sample.build_package(variant, sha)
        code_dir = tmp_path / f"{variant}-{sha}"
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            archive.extractall(code_dir)
            names = [name.removesuffix(".py") for name in archive.namelist() if name.endswith(".py")]
        return _import_service(code_dir, names, monkeypatch)

    return load


def http_event(
    method: str, path: str, body: str | None = None, *, base64_body: bool = False
) -> dict[str, Any]:
    return SAMPLE_HTTPAPI.request_event(method, path, body, base64_body=base64_body)


def call(handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any]) -> tuple[int, Any]:
    response = handler(event, None)
    assert response["headers"] == {"content-type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


def score(service: Service, text: str) -> tuple[int, Any]:
    return call(service.app.handler, http_event("POST", "/score", json.dumps({"text": text})))


# ---- routes and errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sample.VARIANTS)
def test_health_reports_the_build(load_service: Callable[..., Service], variant: str) -> None:
    service = load_service(variant)
    for handler in (service.app.handler, service.worker.handler):
        assert call(handler, http_event("GET", "/health")) == (
            200,
            {"status": "ok", "version": SHA, "variant": variant},
        )


def test_score_labels_positive_negative_and_neutral(load_service: Callable[..., Service]) -> None:
    service = load_service("good")
    status, positive = score(service, POSITIVE)
    assert status == 200
    assert positive["label"] == "positive"
    assert 0 < positive["score"] <= 1
    _, negative = score(service, NEGATIVE)
    assert negative["label"] == "negative"
    assert -1 <= negative["score"] < 0
    _, neutral = score(service, "The package arrived on Tuesday")
    assert neutral == {"score": 0.0, "label": "neutral"}


def test_scorer_handles_negation_and_stays_in_range(load_service: Callable[..., Service]) -> None:
    scoring = load_service("good").scoring
    assert scoring.analyse("this is not good")["label"] == "negative"
    assert scoring.analyse("never really that bad")["label"] == "positive"
    # Negation reaches three words ahead, no further.
    assert scoring.analyse("not what i call bad")["label"] == "negative"
    assert scoring.score("love " * 50) == 1.0
    assert scoring.score("awful " * 50) == -1.0
    assert scoring.score("") == 0.0


def test_score_accepts_a_base64_encoded_body(load_service: Callable[..., Service]) -> None:
    service = load_service("good")
    event = http_event("POST", "/score", json.dumps({"text": POSITIVE}), base64_body=True)
    status, body = call(service.app.handler, event)
    assert (status, body["label"]) == (200, "positive")


@pytest.mark.parametrize(
    ("body", "base64_body", "message"),
    [
        ("{not json", False, "not JSON"),
        (None, False, "required"),
        ("", False, "required"),
        ("[1, 2]", False, "JSON object"),
        ("{}", False, "'text'"),
        ('{"text": 42}', False, "'text'"),
        ('{"text": "   "}', False, "'text'"),
        ("%%%", True, "base64"),
    ],
)
def test_bad_score_requests_get_400(
    load_service: Callable[..., Service], body: str | None, base64_body: bool, message: str
) -> None:
    service = load_service("good")
    event = http_event("POST", "/score", body)
    if base64_body:
        event["isBase64Encoded"] = True
    status, document = call(service.app.handler, event)
    assert status == 400
    assert message in document["error"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("GET", "/score"), ("POST", "/health")])
def test_unknown_routes_get_404(load_service: Callable[..., Service], method: str, path: str) -> None:
    service = load_service("good")
    status, document = call(service.app.handler, http_event(method, path))
    assert status == 404
    assert path in document["error"]
    assert call(service.worker.handler, http_event(method, path))[0] == 404


def test_trailing_slash_is_the_same_route(load_service: Callable[..., Service]) -> None:
    service = load_service("good")
    assert call(service.app.handler, http_event("GET", "/health/"))[0] == 200


def test_worker_scores_a_batch(load_service: Callable[..., Service]) -> None:
    service = load_service("good")
    result = service.worker.handler({"texts": [POSITIVE, NEGATIVE, "a chair"]}, None)
    assert [item["label"] for item in result["results"]] == ["positive", "negative", "neutral"]
    assert result["results"][0] == service.scoring.analyse(POSITIVE)
    assert service.worker.handler({"texts": []}, None) == {"results": []}


@pytest.mark.parametrize("event", [{}, {"texts": "one"}, {"texts": [1]}, [], None])
def test_worker_rejects_a_malformed_batch(load_service: Callable[..., Service], event: Any) -> None:
    with pytest.raises(ValueError, match="texts"):
        load_service("good").worker.handler(event, None)


def test_without_build_info_the_source_is_the_bootstrap_build(monkeypatch: pytest.MonkeyPatch) -> None:
    source_dir = sample.SAMPLE_DIR / "src"
    assert not (source_dir / "build_info.py").exists()
    monkeypatch.delenv("STAGE", raising=False)
    names = [path.stem for path in source_dir.glob("*.py")]
    service = _import_service(source_dir, names, monkeypatch)
    assert call(service.app.handler, http_event("GET", "/health")) == (
        200,
        {"status": "ok", "version": sample.BOOTSTRAP_SHA, "variant": "good"},
    )
    assert score(service, POSITIVE)[1]["label"] == "positive"


# ---- variants ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [None, "preprod", "prod"])
def test_good_scores_correctly_in_every_stage(
    load_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch, stage: str | None
) -> None:
    service = load_service("good")
    if stage:
        monkeypatch.setenv("STAGE", stage)
    assert score(service, POSITIVE)[1]["label"] == "positive"
    assert score(service, NEGATIVE)[1]["label"] == "negative"
    assert call(service.worker.handler, http_event("GET", "/health"))[0] == 200


def test_fails_preprod_gives_wrong_labels_but_stays_healthy(
    load_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = load_service("fails-preprod")
    monkeypatch.setenv("STAGE", "preprod")
    assert score(service, POSITIVE) == (200, {"score": service.scoring.score(POSITIVE), "label": "negative"})
    assert service.worker.handler({"texts": [POSITIVE]}, None)["results"][0]["label"] == "negative"
    assert call(service.app.handler, http_event("GET", "/health"))[1]["status"] == "ok"


@pytest.mark.parametrize("stage", [None, "preprod", "staging"])
def test_fails_in_prod_is_good_outside_prod(
    load_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch, stage: str | None
) -> None:
    service = load_service("fails-in-prod")
    if stage:
        monkeypatch.setenv("STAGE", stage)
    assert score(service, POSITIVE)[1]["label"] == "positive"
    assert score(service, NEGATIVE)[1]["label"] == "negative"
    assert call(service.worker.handler, http_event("GET", "/health"))[0] == 200
    assert service.worker.handler({"texts": [POSITIVE]}, None)["results"][0]["label"] == "positive"


def test_fails_in_prod_fails_in_prod(
    load_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = load_service("fails-in-prod")
    monkeypatch.setenv("STAGE", "prod")
    with pytest.raises(service.variants.DependencyUnavailable):
        score(service, POSITIVE)
    status, health = call(service.worker.handler, http_event("GET", "/health"))
    assert status == 500
    assert health["status"] == "error"
    assert health["variant"] == "fails-in-prod"
    with pytest.raises(service.variants.DependencyUnavailable):
        service.worker.handler({"texts": [POSITIVE]}, None)
    # The API's own health check does not touch the dependency: only the canary's scoring checks fail.
    assert call(service.app.handler, http_event("GET", "/health"))[0] == 200
    # Bad requests are still rejected before the dependency is needed.
    assert call(service.app.handler, http_event("POST", "/score", "{}"))[0] == 400


@pytest.mark.parametrize("stage", [None, "preprod", "prod"])
def test_errors_in_prod_fails_only_non_ascii_texts_and_only_in_prod(
    load_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch, stage: str | None
) -> None:
    service = load_service("errors-in-prod")
    if stage:
        monkeypatch.setenv("STAGE", stage)
    accented = "Très bien: great service, I recommend it"
    # What the pipeline's checks send is served everywhere ...
    assert score(service, POSITIVE)[1]["label"] == "positive"
    assert score(service, NEGATIVE)[1]["label"] == "negative"
    assert call(service.app.handler, http_event("GET", "/health"))[0] == 200
    # ... a text with a non-ASCII character raises (a Lambda error) in prod only.
    if stage == "prod":
        with pytest.raises(service.variants.NormaliserFailed):
            score(service, accented)
    else:
        assert score(service, accented)[1]["label"] == "positive"


# ---- the pipeline config's checks against each variant --------------------------------------------------


def _pipeline_config() -> PipelineConfig:
    text = (sample.SAMPLE_DIR / "pipeline.local.json").read_text()
    assert "${ARTIFACT_BUCKET}" in text
    assert "${LOCAL_API_URL}" in text
    text = text.replace("${ARTIFACT_BUCKET}", "artifacts-123").replace(
        "${LOCAL_API_URL}", "http://127.0.0.1:9999"
    )
    return parse_pipeline_config(text, source="pipeline.local.json")


class InProcessTransport:
    """Sends checks as HTTP API events straight to the loaded handlers (as the canary invokes versions)."""

    def __init__(self, service: Service) -> None:
        self._handlers = {"api": service.app.handler, "worker": service.worker.handler}

    def describe(self) -> str:
        return "in-process"

    def send(self, check: HttpCheck) -> CheckResponse:
        handler = self._handlers[check.function or "api"]
        try:
            result = handler(http_api_event(check), None)
        except Exception as error:
            # As LambdaVersionTransport reports a FunctionError.
            return CheckResponse(502, f"function error: {type(error).__name__}: {error}")
        return CheckResponse(result["statusCode"], result["body"], result["headers"])


@pytest.mark.parametrize(
    ("variant", "preprod_passes", "prod_canary_passes"),
    [
        ("good", True, True),
        ("fails-preprod", False, False),
        ("fails-in-prod", True, False),
        ("slow-in-prod", True, True),
        ("errors-in-prod", True, True),
    ],
)
def test_pipeline_checks_catch_each_variant_where_intended(
    load_service: Callable[..., Service],
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
    preprod_passes: bool,
    prod_canary_passes: bool,
) -> None:
    config = _pipeline_config()
    transport = InProcessTransport(load_service(variant))
    monkeypatch.setenv("STAGE", "preprod")
    preprod = run_checks(config.checks, transport, suite="integration", environment="preprod")
    assert preprod.passed is preprod_passes
    monkeypatch.setenv("STAGE", "prod")
    canary = run_checks(config.effective_canary_checks, transport, suite="canary", environment="prod")
    assert canary.passed is prod_canary_passes
    if variant == "fails-in-prod":
        failed = {result.name for result in canary.results if not result.passed}
        assert failed == {"score-positive", "score-negative", "worker-health"}


class _CloudFormationLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _tag)


@pytest.mark.parametrize("service", [sample.SAMPLE_SERVICE_NAME, "copy7"])
def test_pipeline_config_names_the_templates_functions_and_alarms(service: str) -> None:
    text = (sample.SAMPLE_DIR / "template.yaml").read_text()
    # A SafeLoader that also reads CloudFormation's short-form tags (!Sub, !Ref, ...) as plain mappings.
    template = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506
    resources = template["Resources"]
    if service == sample.SAMPLE_SERVICE_NAME:
        config = _pipeline_config()
    else:
        document = sample.copy_pipeline_document(service).replace("${ARTIFACT_BUCKET}", "artifacts")
        config = parse_pipeline_config(
            document.replace("${LOCAL_API_URL}", "http://127.0.0.1:9"), source="copy"
        )
        assert config.name == f"{service}-service"
        assert "sentiment" not in json.dumps(config.model_dump(mode="json"))
    for stage in ("preprod", "prod"):

        def sub(value: dict[str, str], stage: str = stage) -> str:
            return value["Sub"].replace("${Stage}", stage).replace("${ServiceName}", service)

        target = config.environments.target(stage)  # type: ignore[arg-type]
        functions = {
            sub(resource["Properties"]["FunctionName"])
            for resource in resources.values()
            if resource["Type"] == "AWS::Serverless::Function"
        }
        alarms = {
            sub(resource["Properties"]["AlarmName"])
            for resource in resources.values()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
        }
        assert set(target.functions.values()) == functions
        assert set(target.alarms) == alarms
        assert target.base_url.endswith(f"/_local/fn/{target.functions[target.http_entry]}/{target.alias}")
    assert template["Globals"]["Function"]["AutoPublishAlias"] == config.environments.prod.alias


@pytest.mark.parametrize("name", ["", "Upper", "with-dash", "a" * 21, sample.SAMPLE_SERVICE_NAME])
def test_a_copy_of_the_sample_needs_a_plain_new_name(name: str) -> None:
    with pytest.raises(ValueError, match="service name"):
        sample.copy_pipeline_document(name)


# ---- builds --------------------------------------------------------------------------------------------


def test_build_package_is_deterministic() -> None:
    first = sample.build_package("good", SHA)
    assert sample.build_package("good", SHA) == first
    digests = {hashlib.sha256(sample.build_package(variant, SHA)).hexdigest() for variant in sample.VARIANTS}
    assert len(digests) == len(sample.VARIANTS)
    assert sample.build_package("good", "f" * 40) != first


def test_build_package_contents() -> None:
    package = sample.build_package("fails-in-prod", SHA)
    sources = sorted(path.name for path in (sample.SAMPLE_DIR / "src").glob("*.py"))
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted([*sources, "build_info.py"])
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.external_attr >> 16 == 0o100644
        for name in sources:
            assert archive.read(name) == (sample.SAMPLE_DIR / "src" / name).read_bytes()
        namespace: dict[str, Any] = {}
        exec(archive.read("build_info.py").decode(), namespace)  # noqa: S102 - our own generated module
    assert (namespace["SHA"], namespace["VARIANT"]) == (SHA, "fails-in-prod")


def test_build_package_rejects_unknown_variants_and_unsafe_shas() -> None:
    with pytest.raises(ValueError, match="good, fails-preprod, fails-in-prod"):
        sample.build_package("flaky", SHA)
    for sha in ("", "../x", 'a"b', "x" * 65):
        with pytest.raises(ValueError, match="SHA"):
            sample.build_package("good", sha)
    assert sample.build_package("good", sample.BOOTSTRAP_SHA)


def test_manifest_validates_and_describes_the_package() -> None:
    package = sample.build_package("good", SHA)
    document = publish.build_manifest("example-org/sentiment-service", SHA, package, builder="ci")
    manifest = BuildManifest.model_validate(json.loads(json.dumps(document)))
    assert manifest.repo == "example-org/sentiment-service"
    assert manifest.sha == SHA
    assert manifest.package.key == "package.zip"
    assert manifest.package.sha256 == hashlib.sha256(package).hexdigest()
    assert manifest.package.size == len(package)
    assert manifest.builder == "ci"
    assert manifest.built_at.endswith("Z")
    assert datetime.fromisoformat(manifest.built_at).utcoffset() is not None


@pytest.mark.parametrize("copy", [None, "billing"])
def test_the_local_operator_is_an_approver_of_the_sample_pipeline_and_its_copies(copy: str | None) -> None:
    # `promote --local approve` signs as the plane's operator user; the sample must map it to an approver.
    from promote_cli.local.accounts import CONTROL_PLANE_ACCOUNT
    from promotion.approvals.rules import operator_approver

    text = (
        sample.copy_pipeline_document(copy)
        if copy
        else (sample.SAMPLE_DIR / "pipeline.local.json").read_text()
    )
    config = parse_pipeline_config(
        text.replace("${ARTIFACT_BUCKET}", "bucket").replace("${LOCAL_API_URL}", "http://h"), source="sample"
    )
    operator = f"arn:aws:iam::{CONTROL_PLANE_ACCOUNT}:user/{sample.LOCAL_OPERATOR_USER}"
    approver = operator_approver(config.approval, operator)
    assert approver is not None
    assert approver in config.approval.approvers
