"""``promote freeze``, ``promote unfreeze`` and ``promote window override`` on the local plane: signed calls
to the operator routes, recorded as the IAM principal API Gateway verified, whatever the operator's machine
says its user is; IAM enforced."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from promote_cli.local.plane import LocalControlPlane
from promotion.dal.environments import DynamoEnvironmentStateStore
from promotion.dal.window_overrides import DynamoWindowOverrideStore
from tests.integration.pipeline.test_emergency_rollback import tables
from tests.support.approval_plane import derived_pipeline
from tests.support.operator_cli import iam_user, promote
from tests.support.promotion import control, publish_and_start

PIPELINE = "operator-controls"
# What the operator's machine claims: getpass.getuser() reads these first.
CLAIMED = {name: "someone-else" for name in ("LOGNAME", "USER", "LNAME", "USERNAME")}


@pytest.fixture(scope="module")
def pipeline(plane: LocalControlPlane) -> str:
    derived_pipeline(plane, PIPELINE)
    return PIPELINE


def environments(plane: LocalControlPlane) -> DynamoEnvironmentStateStore:
    return DynamoEnvironmentStateStore(tables(plane)["ENVIRONMENTS_TABLE"])


def operator(
    plane: LocalControlPlane, command: str, *options: str, credentials: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``promote COMMAND --pipeline PIPELINE OPTIONS`` in its own process: signed with ``credentials``, or as
    the local plane's operator on a machine whose user claims to be someone else."""
    arguments = (*command.split(), "--pipeline", PIPELINE, *options)
    if credentials is not None:
        return promote(plane, *arguments, credentials=credentials)
    return promote(plane, *arguments, local=True, variables=CLAIMED)


def refused(answer: subprocess.CompletedProcess[str], status: str) -> bool:
    """Exit 2 with one line on stderr naming the HTTP status."""
    return (answer.returncode, answer.stderr.count("\n")) == (2, 1) and f"({status}" in answer.stderr


def test_a_freeze_and_unfreeze_record_the_signer_not_the_machine_s_user(
    plane: LocalControlPlane, pipeline: str
) -> None:
    signer = plane.operator["arn"]
    frozen = operator(plane, "freeze", "--environment", "prod", "--reason", "quarter close")
    assert frozen.returncode == 0, frozen.stderr
    assert json.loads(frozen.stdout) == {
        "pipeline": pipeline,
        "environment": "prod",
        "frozen": True,
        "reason": "quarter close",
        "by": signer,
    }
    state = environments(plane).get(pipeline, "prod")
    assert (state.frozen, state.reason, state.frozen_by) == (True, "quarter close", signer)

    unfrozen = operator(plane, "unfreeze", "--environment", "prod", "--reason", "close done")
    assert unfrozen.returncode == 0, unfrozen.stderr
    assert json.loads(unfrozen.stdout) == {
        "pipeline": pipeline,
        "environment": "prod",
        "unfrozen": True,
        "was": "quarter close",
        "by": signer,
    }
    item = tables(plane)["ENVIRONMENTS_TABLE"].get_item(Key={"pipeline": pipeline, "environment": "prod"})
    assert (item["Item"]["frozen"], item["Item"]["unfrozen_by"]) == (False, signer)
    assert item["Item"]["unfrozen_reason"] == "close done"

    # Unfreezing what is not frozen is refused in one line, naming the conflict
    again = operator(plane, "unfreeze", "--environment", "prod")
    assert refused(again, "409"), again.stderr
    assert "is not frozen" in again.stderr
    unknown = promote(plane, "freeze", "--pipeline", "no-such-pipeline", "--reason", "x", local=True)
    assert refused(unknown, "404 Unknown pipeline"), unknown.stderr


def test_a_window_override_records_the_signer_not_the_machine_s_user(
    plane: LocalControlPlane, pipeline: str
) -> None:
    promotion = publish_and_start(plane, pipeline=pipeline)
    name = promotion.execution_arn.rsplit(":", 1)[-1]
    try:
        granted = operator(
            plane, "window override", "--execution", promotion.execution_arn, "--reason", "fix for the outage"
        )
        assert granted.returncode == 0, granted.stderr
        assert json.loads(granted.stdout) == {
            "pipeline": pipeline,
            "execution": name,
            "override": True,
            "reason": "fix for the outage",
            "by": plane.operator["arn"],
        }
        override = DynamoWindowOverrideStore(tables(plane)["ENVIRONMENTS_TABLE"]).get(pipeline, name)
        assert override is not None
        assert (override.by, override.reason) == (plane.operator["arn"], "fix for the outage")
    finally:
        control(plane).cancel(promotion.execution_arn, reason="test over", requested_by="tests")

    # An execution that has ended is refused
    ended = operator(plane, "window override", "--execution", name, "--reason", "x")
    assert refused(ended, "409 Not running"), ended.stderr


def test_unsigned_wrongly_signed_or_unpermitted_calls_change_nothing(
    plane: LocalControlPlane, pipeline: str
) -> None:
    path = f"/operator/pipelines/{pipeline}/freeze"
    body = {"environment": "preprod", "reason": "x", "by": "arn:aws:iam::123456789012:user/forged"}
    unsigned = requests.post(f"{plane.api_url}{path}", json=body, timeout=10)
    assert unsigned.status_code in (401, 403)

    freeze_preprod = ("freeze", "--environment", "preprod", "--reason", "x")
    outsider = iam_user(plane, "controls-outsider", operator_policy=False)
    assert refused(operator(plane, *freeze_preprod, credentials=outsider), "403")

    user = iam_user(plane, "controls-wrong-key", operator_policy=True)
    wrong_key = {**user, "AWS_SECRET_ACCESS_KEY": user["AWS_SECRET_ACCESS_KEY"][::-1]}
    assert refused(operator(plane, *freeze_preprod, credentials=wrong_key), "403")

    assert not environments(plane).get(pipeline, "preprod").frozen

    # The same user, correctly signed, with the operator policy, is recorded as itself
    allowed = operator(plane, *freeze_preprod, credentials=user)
    assert allowed.returncode == 0, allowed.stderr
    assert environments(plane).get(pipeline, "preprod").frozen_by == user["arn"]
    cleared = operator(plane, "unfreeze", "--environment", "preprod", credentials=user)
    assert cleared.returncode == 0, cleared.stderr
