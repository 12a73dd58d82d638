"""Reading a pipeline's approval records through the key-only ``by-pipeline`` index (moto DynamoDB)."""

from __future__ import annotations

from typing import Any

import pytest

from promotion.dal.approvals import DynamoApprovalStore
from promotion.models.approval import ApprovalRecord
from tests.support.approval_fakes import approval_world

PIPELINE = "sentiment-service"


def record(number: int, *, pipeline: str = PIPELINE) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=f"approval-{number:04d}",
        task_token=f"token-{number}",
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:promotion:{pipeline}-{number}",
        execution_name=f"{pipeline}-{number}",
        pipeline=pipeline,
        repo="example-org/sentiment-service",
        sha=f"{number:040x}",
        artifact_sha256="0" * 64,
        preprod_report="",
        approvers=["release-manager@example.com"],
        requested_at=1_000 + number,
        expires_at=100_000 + number,
    )


def counting_batch_reads(store: DynamoApprovalStore) -> list[int]:
    """How many keys each BatchGetItem the store sends asks for."""
    sizes: list[int] = []
    client: Any = store._table.meta.client

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.append(sum(len(request["Keys"]) for request in params["RequestItems"].values()))

    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    return sizes


def test_the_pending_requests_of_a_long_history_are_found_in_batches_oldest_first() -> None:
    with approval_world() as world:
        for number in range(250):
            world.store.put_new(record(number))
            if number not in (17, 240, 249):
                world.store.supersede(f"approval-{number:04d}", by_approval="newer", at=2_000)
        world.store.put_new(record(999, pipeline="another-service"))
        sizes = counting_batch_reads(world.store)

        pending = world.store.open_for_pipeline(PIPELINE)

    assert [r.approval_id for r in pending] == ["approval-0017", "approval-0240", "approval-0249"]
    # 250 records in three reads of at most 100, not 250 reads of one.
    assert sizes == [100, 100, 50]


def test_the_last_approved_request_is_read_newest_first_up_to_the_first_approved() -> None:
    with approval_world() as world:
        for number in range(250):
            world.store.put_new(record(number))
        world.store.decide("approval-0230", status="approved", by="rm", at=3_000, channel="link", reason=None)
        world.store.decide("approval-0010", status="approved", by="rm", at=3_000, channel="link", reason=None)
        sizes = counting_batch_reads(world.store)

        last = world.store.last_approved(PIPELINE)

    assert last is not None
    assert last.approval_id == "approval-0230"
    # The 20 newest hold it: one batch read, never the older 150.
    assert sizes == [100]


def test_a_pipeline_without_an_approved_request_has_no_last_approved() -> None:
    with approval_world() as world:
        world.store.put_new(record(1))
        assert world.store.last_approved(PIPELINE) is None
        assert world.store.open_for_pipeline("unknown-pipeline") == []


class _ThrottledClient:
    """A DynamoDB client that leaves the first ``throttled`` answers' keys unprocessed."""

    def __init__(self, store_client: Any, throttled: int) -> None:
        self._client, self._throttled, self.calls = store_client, throttled, 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self._throttled:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return dict(self._client.batch_get_item(RequestItems=RequestItems))


class _Table:
    def __init__(self, table: Any, client: Any) -> None:
        self._table, self.name = table, table.name
        self.meta = type("Meta", (), {"client": client})()

    def query(self, **arguments: Any) -> Any:
        return self._table.query(**arguments)


def test_keys_left_unprocessed_are_asked_for_again_then_the_read_fails_closed(monkeypatch: Any) -> None:
    from promotion.dal import approvals
    from promotion.errors import ApprovalStoreBusy

    monkeypatch.setattr(approvals.time, "sleep", lambda _: None)
    with approval_world() as world:
        world.store.put_new(record(1))
        table = world.store._table
        recovering = _ThrottledClient(table.meta.client, throttled=2)
        found = DynamoApprovalStore(_Table(table, recovering)).open_for_pipeline(PIPELINE)
        assert [r.approval_id for r in found] == ["approval-0001"]
        assert recovering.calls == 3

        never = _ThrottledClient(table.meta.client, throttled=100)
        # A read that never completes fails: it never answers with the part it has.
        with pytest.raises(ApprovalStoreBusy, match="1 records still unread"):
            DynamoApprovalStore(_Table(table, never)).open_for_pipeline(PIPELINE)
        assert never.calls == approvals.MAX_BATCH_ATTEMPTS
