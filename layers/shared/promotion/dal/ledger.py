"""The deployment ledger: every deployment of every environment, and what each runs now.

One DynamoDB table (``DeletionPolicy: Retain``; the pipeline only ever adds or updates items):

- ``pk = "{pipeline}#{environment}"``, ``sk = "deploy#{started_at:013d}#{execution_name}"``: one entry per
  deployment (SHA, artifact S3 version and sha256, each function's previous and new version and
  CodeSha256, started/finished, outcome, approver, execution), sorted by start time;
- ``sk = "current"``: what the environment runs now (after a deploy or a rollback);
- ``sk = "known_good"``: the last deployment that finished a whole promotion successfully.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, ConfigDict

Outcome = Literal["started", "deployed", "succeeded", "failed", "rolled_back", "rollback_failed", "aborted"]


class LedgerFunction(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    key: str
    function_name: str
    alias: str
    previous_version: str
    previous_code_sha256: str = ""
    version: str | None = None
    code_sha256: str | None = None


class LedgerEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    pipeline: str
    environment: str
    entry_key: str
    execution_arn: str
    execution_name: str
    sha: str
    previous_sha: str | None = None
    artifact_version_id: str | None = None
    artifact_sha256: str | None = None
    functions: list[LedgerFunction]
    started_at: int
    finished_at: int | None = None
    outcome: Outcome = "started"
    approver: str | None = None
    # The approver input the approval carried (approval.inputs; the deciding vote's).
    approval_inputs: dict[str, str | int | bool] | None = None
    mode: str = "promote"
    detail: str | None = None
    # An emergency rollback: the earlier entry whose versions it put back.
    restored_entry_key: str | None = None
    # The last canary analysis of this deployment (promotion.pipeline.canary_analysis), when it ran.
    canary_analysis: dict[str, Any] | None = None


class EnvironmentPointer(BaseModel):
    """``current`` or ``known_good``: which entry, which SHA, which version per function."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    sha: str | None = None
    versions: dict[str, str]
    entry_key: str | None = None
    updated_at: int = 0
    execution_name: str | None = None


def entry_key(started_at: int, execution_name: str) -> str:
    return f"deploy#{started_at:013d}#{execution_name}"


def _plain(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class DynamoLedger:
    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def _pk(pipeline: str, environment: str) -> str:
        return f"{pipeline}#{environment}"

    def start(self, entry: LedgerEntry) -> None:
        item = {
            "pk": self._pk(entry.pipeline, entry.environment),
            "sk": entry.entry_key,
            **entry.model_dump(exclude_none=True),
        }
        # A retried baseline step writes the same entry again: harmless; never overwrite a later outcome.
        self._table.put_item(
            Item=item,
            ConditionExpression="attribute_not_exists(sk) OR #outcome = :started",
            ExpressionAttributeNames={"#outcome": "outcome"},
            ExpressionAttributeValues={":started": "started"},
        )

    def entry(self, pipeline: str, environment: str, key: str) -> LedgerEntry | None:
        item = self._table.get_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key}, ConsistentRead=True
        ).get("Item")
        return LedgerEntry.model_validate(_plain(item)) if item else None

    def record_deployed(
        self,
        pipeline: str,
        environment: str,
        key: str,
        *,
        sha: str,
        functions: list[LedgerFunction],
        at: int,
        execution_name: str,
    ) -> None:
        self._table.update_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key},
            # "functions" is a DynamoDB reserved word; every attribute goes through a name placeholder.
            UpdateExpression="SET #outcome = :deployed, #functions = :functions, deployed_at = :at",
            ExpressionAttributeNames={"#outcome": "outcome", "#functions": "functions"},
            ExpressionAttributeValues={
                ":deployed": "deployed",
                ":functions": [f.model_dump(exclude_none=True) for f in functions],
                ":at": at,
            },
        )
        self._set_pointer(
            pipeline,
            environment,
            "current",
            EnvironmentPointer(
                sha=sha,
                versions={f.key: f.version or f.previous_version for f in functions},
                entry_key=key,
                updated_at=at,
                execution_name=execution_name,
            ),
        )

    def record_analysis(self, pipeline: str, environment: str, key: str, analysis: dict[str, Any]) -> None:
        """The latest canary analysis of an entry, with its numbers (floats stored as DynamoDB numbers)."""
        self._table.update_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key},
            UpdateExpression="SET #analysis = :analysis",
            ExpressionAttributeNames={"#analysis": "canary_analysis"},
            ExpressionAttributeValues={":analysis": json.loads(json.dumps(analysis), parse_float=Decimal)},
        )

    def record_approver(
        self,
        pipeline: str,
        environment: str,
        key: str,
        approver: str,
        inputs: dict[str, str | int | bool] | None = None,
    ) -> None:
        """Who approved an entry that was closed by its rollback (which knows nothing of the approval)."""
        expression = "SET #approver = :approver"
        names = {"#approver": "approver"}
        values: dict[str, Any] = {":approver": approver}
        if inputs:
            expression += ", #inputs = :inputs"
            names["#inputs"] = "approval_inputs"
            values[":inputs"] = inputs
        self._table.update_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def finish(
        self,
        pipeline: str,
        environment: str,
        key: str,
        *,
        outcome: Outcome,
        at: int,
        approver: str | None = None,
        detail: str | None = None,
        approval_inputs: dict[str, str | int | bool] | None = None,
    ) -> LedgerEntry | None:
        expression = "SET #outcome = :outcome, #finished_at = :at"
        names = {"#outcome": "outcome", "#finished_at": "finished_at"}
        values: dict[str, Any] = {":outcome": outcome, ":at": at}
        if approver:
            expression += ", #approver = :approver"
            names["#approver"] = "approver"
            values[":approver"] = approver
        if approval_inputs:
            expression += ", #approval_inputs = :approval_inputs"
            names["#approval_inputs"] = "approval_inputs"
            values[":approval_inputs"] = approval_inputs
        if detail:
            expression += ", #detail = :detail"
            names["#detail"] = "detail"
            values[":detail"] = detail[:2000]
        self._table.update_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        entry = self.entry(pipeline, environment, key)
        if entry is None:
            return None
        if outcome == "succeeded":
            self._set_pointer(
                pipeline,
                environment,
                "known_good",
                EnvironmentPointer(
                    sha=entry.sha,
                    versions={f.key: f.version or f.previous_version for f in entry.functions},
                    entry_key=key,
                    updated_at=at,
                    execution_name=entry.execution_name,
                ),
            )
        elif outcome == "rolled_back":
            self._set_pointer(
                pipeline,
                environment,
                "current",
                EnvironmentPointer(
                    sha=entry.previous_sha,
                    versions={f.key: f.previous_version for f in entry.functions},
                    entry_key=key,
                    updated_at=at,
                    execution_name=entry.execution_name,
                ),
            )
        return entry

    def record_restored(
        self,
        pipeline: str,
        environment: str,
        key: str,
        *,
        sha: str,
        versions: dict[str, str],
        at: int,
        execution_name: str,
    ) -> None:
        """Close an emergency rollback's entry: the environment runs ``versions`` of ``sha`` again."""
        self._table.update_item(
            Key={"pk": self._pk(pipeline, environment), "sk": key},
            UpdateExpression="SET #outcome = :rolled_back, #finished_at = :at",
            ExpressionAttributeNames={"#outcome": "outcome", "#finished_at": "finished_at"},
            ExpressionAttributeValues={":rolled_back": "rolled_back", ":at": at},
        )
        self._set_pointer(
            pipeline,
            environment,
            "current",
            EnvironmentPointer(
                sha=sha, versions=versions, entry_key=key, updated_at=at, execution_name=execution_name
            ),
        )

    def pointer(
        self, pipeline: str, environment: str, which: Literal["current", "known_good"]
    ) -> EnvironmentPointer | None:
        item = self._table.get_item(
            Key={"pk": self._pk(pipeline, environment), "sk": which}, ConsistentRead=True
        ).get("Item")
        return EnvironmentPointer.model_validate(_plain(item)) if item else None

    def history(self, pipeline: str, environment: str, *, limit: int = 10) -> list[LedgerEntry]:
        response = self._table.query(
            KeyConditionExpression=Key("pk").eq(self._pk(pipeline, environment))
            & Key("sk").begins_with("deploy#"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [LedgerEntry.model_validate(_plain(item)) for item in response.get("Items", [])]

    def _set_pointer(self, pipeline: str, environment: str, which: str, pointer: EnvironmentPointer) -> None:
        self._table.put_item(
            Item={"pk": self._pk(pipeline, environment), "sk": which, **pointer.model_dump(exclude_none=True)}
        )
