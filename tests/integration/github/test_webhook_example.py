"""docs/webhook.md's example delivery (docs/examples/local-webhook-delivery.sh) starts a promotion on the
local plane: its payload, signature and headers are what the webhook accepts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

from promote_cli.local.github_payloads import build_run_completed
from promote_cli.local.plane import LocalControlPlane
from promotion.models.config import parse_pipeline_config
from tests.support.promotion import publish_for

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
PLACEHOLDER_SHA = "0" * 40


def test_the_example_payload_is_the_sample_pipelines_build_run() -> None:
    # The committed example is what the demo sends for the sample pipeline, a commit of zeros aside.
    example = json.loads((EXAMPLES / "workflow_run.sentiment-service.json").read_text())
    assert example == build_run_completed(
        repo="example-org/sentiment-service",
        sha=PLACEHOLDER_SHA,
        branch="main",
        workflow=".github/workflows/build.yml",
    )


def test_the_documented_delivery_starts_a_promotion(plane: LocalControlPlane, tmp_path: Path) -> None:
    # Given the sample pipeline, a published build, and the state file `promote local up` writes
    (tmp_path / "local.json").write_text(json.dumps(plane.ready_info()))
    parameter = f"/{plane.options.stack_name}/pipelines/sentiment-service"
    config = parse_pipeline_config(
        plane.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"], source=parameter
    )
    sha = secrets.token_hex(20)
    publish_for(plane, config, sha)

    # When the documented example delivers the commit's build run
    delivered = subprocess.run(
        [str(EXAMPLES / "local-webhook-delivery.sh"), sha],
        env={**os.environ, "PROMOTE_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then the webhook verified its signature and started the promotion of that commit
    assert delivered.returncode == 0, delivered.stderr
    answer = json.loads(delivered.stdout)
    assert answer["status"] == "started", answer
    sfn = plane.client("stepfunctions")
    described = sfn.describe_execution(executionArn=answer["execution_arn"])
    assert json.loads(described["input"])["sha"] == sha
    sfn.stop_execution(executionArn=answer["execution_arn"], error="Cancelled", cause="test done")
