"""``promote pipeline``: one error per line with its JSON path, the diff a put shows, the committed JSON
Schema and the production example."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from moto import mock_aws
from pydantic import BaseModel

from promote_cli import cli
from promote_cli.pipeline_commands import (
    PipelineStore,
    config_diff,
    config_errors,
    confirm,
    fill_local_placeholders,
    json_path,
    schema_text,
)
from promotion.models.config import EnvironmentTarget, PipelineConfig, parse_pipeline_config
from tests.support.paths import REPO_ROOT
from tests.support.pipelines import sample_config_dict

SCHEMA_FILE = REPO_ROOT / "docs" / "pipeline.schema.json"
EXAMPLE_FILE = REPO_ROOT / "docs" / "examples" / "pipeline.json"
STACK = "unit-stack"


def write(tmp_path: Path, document: Any, name: str = "pipeline.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], list[str]]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


# ---- validate ---------------------------------------------------------------------------------------
def broken_document() -> dict[str, Any]:
    document = sample_config_dict()
    document["environments"]["prod"]["functions"] = {"api": "svc-prod-api", "worker": 7}
    document["checks"][1]["path"] = "score"
    document["checks"][0]["json"] = 5
    document["checks"][0]["headers"] = {"X Trace": 1}
    del document["approval"]["approvers"]
    document["rollout"] = {"strategy": "sideways"}
    document["surprise"] = True
    return document


def test_validate_prints_every_error_on_its_own_line_with_its_json_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, broken_document())

    code, out, err = run(["pipeline", "validate", str(path)], capsys)

    assert code == 2
    assert out == []
    assert err == [
        f"{path}: environments.prod.functions.worker: Input should be a valid string",
        f"{path}: checks[0].json: Input should be a valid dictionary, or input should be a valid list",
        f'{path}: checks[0].headers["X Trace"]: Input should be a valid string',
        f"{path}: checks[1].path: String should match pattern '^/'",
        f"{path}: approval.approvers: Field required",
        f"{path}: rollout.strategy: Input should be 'all_at_once', 'canary' or 'linear'",
        f"{path}: surprise: Extra inputs are not permitted",
    ]


def test_a_rule_across_fields_names_the_object_that_breaks_it(tmp_path: Path) -> None:
    document = sample_config_dict()
    document["environments"]["prod"]["http_entry"] = "nowhere"

    assert [str(error) for error in config_errors(document)] == [
        "environments.prod: http_entry 'nowhere' is not one of functions ['api', 'tests', 'worker']"
    ]


def test_a_document_that_is_not_an_object_is_one_error_at_the_top() -> None:
    assert [str(error) for error in config_errors([1, 2])] == [
        "(document): Input should be a valid dictionary or instance of PipelineConfig"
    ]


def test_a_valid_file_is_one_confirmation_line_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, sample_config_dict())

    assert run(["pipeline", "validate", str(path)], capsys) == (
        0,
        [f"{path}: pipeline 'sentiment-service' is valid"],
        [],
    )


def test_bad_json_is_one_line_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '{\n  "name": "x",\n  "repo": ,\n}')

    assert run(["pipeline", "validate", str(path)], capsys) == (
        2,
        [],
        [f"promote: {path}: not JSON: line 3, column 11: Expecting value"],
    )


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.json"

    assert run(["pipeline", "validate", str(missing)], capsys) == (
        2,
        [],
        [f"promote: {missing}: no such file"],
    )


def test_the_schema_key_is_accepted_and_other_unknown_keys_are_not() -> None:
    document = {"$schema": "../pipeline.schema.json", **sample_config_dict()}

    assert parse_pipeline_config(document, source="test").name == "sentiment-service"
    assert [str(error) for error in config_errors({**document, "$schemas": "x"})] == [
        "$schemas: Extra inputs are not permitted"
    ]


@pytest.mark.parametrize(
    ("parts", "rendered"),
    [
        (["environments", "prod", "functions", 1], "environments.prod.functions[1]"),
        (["approval", "operators", "arn:aws:iam::1:user/x"], 'approval.operators["arn:aws:iam::1:user/x"]'),
        ([0, "name"], "[0].name"),
        ([], "(document)"),
    ],
)
def test_json_paths(parts: list[str | int], rendered: str) -> None:
    assert json_path(parts) == rendered


# ---- diff and put -----------------------------------------------------------------------------------
def test_the_diff_ignores_key_order_and_spacing_and_shows_what_changes() -> None:
    stored = sample_config_dict()
    proposed = json.loads(json.dumps(stored))
    proposed["bake"] = {"duration_seconds": 300, "poll_interval_seconds": 60}
    reordered = dict(reversed(list(stored.items())))

    assert config_diff(stored, reordered, parameter="/s/pipelines/p", source="p.json") == ""
    diff = config_diff(stored, proposed, parameter="/s/pipelines/p", source="p.json").splitlines()
    assert diff[:2] == ["--- /s/pipelines/p", "+++ p.json"]
    assert [line for line in diff[2:] if line[:1] in "+-"] == [
        '-    "duration_seconds": 4,',
        '-    "poll_interval_seconds": 2',
        '+    "duration_seconds": 300,',
        '+    "poll_interval_seconds": 60',
    ]


def test_a_new_pipeline_diffs_against_nothing() -> None:
    diff = config_diff(None, {"b": 1, "a": 2}, parameter="/s/pipelines/p", source="p.json")

    assert diff.splitlines() == [
        "--- /s/pipelines/p",
        "+++ p.json",
        "@@ -0,0 +1,4 @@",
        "+{",
        '+  "a": 2,',
        '+  "b": 1',
        "+}",
    ]


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def put_argv(path: Path, *extra: str) -> list[str]:
    return ["--stack", STACK, "--region", "us-east-1", "pipeline", "put", str(path), *extra]


def test_put_refuses_without_yes_when_nobody_can_confirm(
    ssm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    path = write(tmp_path, sample_config_dict())

    code, out, err = run(put_argv(path), capsys)

    assert code == 2
    assert out[0] == "new pipeline 'sentiment-service' (/unit-stack/pipelines/sentiment-service)"
    assert err == ["promote: not a terminal, so nobody can confirm: pass --yes to write without asking"]
    assert ssm.describe_parameters()["Parameters"] == []


def test_put_writes_then_shows_only_what_changes_then_nothing(
    ssm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {"$schema": "./pipeline.schema.json", **sample_config_dict()}
    path = write(tmp_path, document)

    first = run(put_argv(path, "--yes"), capsys)
    document["branch"] = "release"
    write(tmp_path, document)
    second = run(put_argv(path, "--yes"), capsys)
    third = run(put_argv(path, "--yes"), capsys)

    assert first[0] == 0
    assert first[1][-1] == "wrote /unit-stack/pipelines/sentiment-service (version 1)"
    assert second[0] == 0
    assert [line for line in second[1] if line[:1] in "+-"] == [
        "--- /unit-stack/pipelines/sentiment-service",
        f"+++ {path}",
        '-  "branch": "main",',
        '+  "branch": "release",',
    ]
    assert second[1][-1] == "wrote /unit-stack/pipelines/sentiment-service (version 2)"
    assert third == (
        0,
        ["/unit-stack/pipelines/sentiment-service already holds this document: nothing to write"],
        [],
    )
    stored = ssm.get_parameter(Name="/unit-stack/pipelines/sentiment-service")["Parameter"]["Value"]
    # Stored compact and without the editor's pointer; what every function reads parses.
    assert "$schema" not in json.loads(stored)
    assert parse_pipeline_config(stored, source="stored").branch == "release"


def test_show_and_list(ssm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(put_argv(write(tmp_path, sample_config_dict()), "--yes"), capsys)
    other = {**sample_config_dict(), "name": "another-service"}
    run(put_argv(write(tmp_path, other, "other.json"), "--yes"), capsys)
    base = ["--stack", STACK, "--region", "us-east-1", "pipeline"]

    code, out, _ = run([*base, "show", "sentiment-service"], capsys)
    listed = run([*base, "list"], capsys)
    unknown = run([*base, "show", "no-such-pipeline"], capsys)

    assert code == 0
    assert json.loads("\n".join(out)) == sample_config_dict()
    assert listed == (0, ["another-service", "sentiment-service"], [])
    assert unknown == (
        2,
        [],
        [
            "promote: unknown pipeline 'no-such-pipeline' "
            "(no SSM parameter /unit-stack/pipelines/no-such-pipeline)"
        ],
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answer", "confirmed"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False)]
)
def test_on_a_terminal_a_person_confirms(answer: str, confirmed: bool) -> None:
    asked = io.StringIO()

    assert confirm("write it?", assume_yes=False, stdin=Terminal(answer), out=asked) is confirmed
    assert asked.getvalue() == "write it? [y/N] "


def test_a_put_refuses_when_the_parameter_changed_since_it_was_read(ssm: Any) -> None:
    store = PipelineStore(ssm, STACK)
    store.put("sentiment-service", sample_config_dict(), expected_version=None)

    with pytest.raises(cli.ControlError, match="changed while you were looking"):
        store.put("sentiment-service", sample_config_dict(), expected_version=None)


def test_local_placeholders_are_filled_as_the_local_plane_fills_them() -> None:
    document = sample_config_dict()
    document["artifacts"]["bucket"] = "${ARTIFACT_BUCKET}"
    document["environments"]["prod"]["base_url"] = "${LOCAL_API_URL}/_local/fn/x/live"
    state = {
        "api_url": "http://127.0.0.1:5",
        "artifact_bucket": "local-bucket",
        "github_api_url": "http://gh",
    }

    filled = fill_local_placeholders(document, state)

    assert filled["artifacts"]["bucket"] == "local-bucket"
    assert filled["environments"]["prod"]["base_url"] == "http://127.0.0.1:5/_local/fn/x/live"
    assert filled["github"]["api_url"] == "http://gh"


# ---- schema and example -----------------------------------------------------------------------------
def test_the_committed_json_schema_is_the_one_the_model_generates() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run `make docs` and commit docs/pipeline.schema.json"


def test_the_schema_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pipeline", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["title"] == "PipelineConfig"
    assert printed["additionalProperties"] is False
    assert "$schema" in printed["properties"]


def test_the_production_example_is_valid() -> None:
    config = parse_pipeline_config(EXAMPLE_FILE.read_text(), source=str(EXAMPLE_FILE))
    assert config.name == "checkout-service"
    assert config.approval.slack is not None


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: ``X``, ``X | None``, ``list[X]``, ``list[X] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in get_args(annotation) for model in models_in(argument)]


def unset_fields(model: type[BaseModel], items: list[Any], where: str) -> list[str]:
    """Every field of ``model`` (and of the models inside it) that none of ``items`` sets."""
    missing = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        present = [item[key] for item in items if isinstance(item, dict) and key in item]
        if not present:
            missing.append(f"{where}{key}")
            continue
        values = [v for value in present for v in (value if isinstance(value, list) else [value])]
        for inner in models_in(field.annotation):
            missing += unset_fields(inner, values, f"{where}{key}.")
    return missing


def test_the_production_example_sets_every_field() -> None:
    example = json.loads(EXAMPLE_FILE.read_text())
    environments = example["environments"]

    assert unset_fields(PipelineConfig, [example], "") == []
    # Each environment in full, not only the two together.
    assert unset_fields(EnvironmentTarget, [environments["preprod"]], "preprod.") == []
    assert unset_fields(EnvironmentTarget, [environments["prod"]], "prod.") == []
