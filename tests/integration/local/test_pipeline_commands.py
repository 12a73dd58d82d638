"""``promote --local pipeline put|show|list`` on the local plane: a pipeline put from a file is the one a
promotion then loads."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

import promotion.observability  # noqa: F401 - the handlers' Logger, made at collection (see test_cli.py)
from promote_cli import cli
from promote_cli.local.plane import LocalControlPlane
from tests.support.pipelines import SAMPLE_PIPELINE_FILE
from tests.support.promotion import point_cli_at, wait_for_end

PIPELINE = "pipeline-put-tests"
REPO = "example-org/pipeline-put-tests"


def test_put_then_show_then_a_promotion_loads_it(
    plane: LocalControlPlane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a pipeline file as `promote local up --pipeline-file` takes it (its placeholders unfilled),
    # whose builds CI never publishes and which waits 0 s for them
    point_cli_at(plane, tmp_path, monkeypatch)
    document = json.loads(SAMPLE_PIPELINE_FILE.read_text())
    document |= {"$schema": "../../docs/pipeline.schema.json", "name": PIPELINE, "repo": REPO}
    document["artifacts"] = {**document["artifacts"], "prefix": "put-tests/", "wait_seconds": 0}
    del document["github"]["token_secret_id"]
    pipeline_file = tmp_path / "pipeline.json"
    pipeline_file.write_text(json.dumps(document, indent=2))

    # When it is put, shown and listed
    put = cli.main(["--local", "pipeline", "put", str(pipeline_file), "--yes"])
    put_out = capsys.readouterr().out.splitlines()
    shown = cli.main(["--local", "pipeline", "show", PIPELINE])
    stored = json.loads(capsys.readouterr().out)
    listed = cli.main(["--local", "pipeline", "list"])
    names = capsys.readouterr().out.splitlines()

    # Then it is stored with the local plane's placeholders filled in, as `local up` would store it
    parameter = f"/{plane.options.stack_name}/pipelines/{PIPELINE}"
    assert (put, shown, listed) == (0, 0, 0)
    assert put_out[0] == f"new pipeline {PIPELINE!r} ({parameter})"
    assert put_out[-1] == f"wrote {parameter} (version 1)"
    assert plane.stack is not None
    assert stored["artifacts"] == {
        "bucket": plane.stack.artifact_bucket,
        "prefix": "put-tests/",
        "wait_seconds": 0,
    }
    assert (
        stored["environments"]["prod"]["base_url"] == f"{plane.api_url}/_local/fn/svc-sentiment-prod-api/live"
    )
    assert stored["github"]["api_url"] == plane.github.url
    assert "$schema" not in stored
    assert {PIPELINE, "sentiment-service"} <= set(names)

    # And a promotion of it loads that config: it looks for the build under the pipeline's repository
    # and gives up after the pipeline's 0 s
    sha = secrets.token_hex(20)
    assert cli.main(["--local", "start", "--pipeline", PIPELINE, "--sha", sha, "--wait-for-build"]) == 0
    started = json.loads(capsys.readouterr().out)
    ended = wait_for_end(plane, started["execution_arn"], timeout=60)
    assert ended["status"] == "FAILED"
    assert ended["error"] == "BuildNotPublished"
    assert f"no build of {REPO}@{sha} after waiting 0s" in ended["cause"]
    assert f"put-tests/{REPO}/{sha}/manifest.json" in ended["cause"]

    # And putting the same file again writes nothing
    assert cli.main(["--local", "pipeline", "put", str(pipeline_file), "--yes"]) == 0
    assert capsys.readouterr().out == f"{parameter} already holds this document: nothing to write\n"
