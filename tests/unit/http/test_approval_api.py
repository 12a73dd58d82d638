"""The approval links' HTTP routes, as API Gateway HTTP API events, on template-shaped moto tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promote_cli.local.http_server import http_api_event
from promotion.approvals import links
from promotion.http.approval_routes import ApprovalApiDeps, build_resolver
from promotion.models.approval import ApprovalRecord
from promotion.models.execution import CommitInfo
from tests.support.approval_fakes import (
    SIGNING_KEY,
    ApprovalWorld,
    approval_world,
    github_identity,
    pipeline,
    request,
)

NOW = 1_800_000_000.0
RELEASE = "release-manager@example.com"
SECOND = "second@example.com"
HOST = "approvals.example.com"
OTHER_AUTHOR = github_identity("dev", "dev@example.com")


@dataclass
class Api:
    world: ApprovalWorld
    record: ApprovalRecord
    now: float = NOW + 10

    def call(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str = "",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        resolver = build_resolver(
            ApprovalApiDeps(
                services=self.world.services, signing_key=lambda: SIGNING_KEY, clock=lambda: self.now
            )
        )
        match = re.fullmatch(r"/approvals/([^/]+)", path)
        event = http_api_event(
            route_key=f"{method} /approvals/{{approval_id}}",
            method=method,
            raw_path=path,
            query=query,
            headers={"host": HOST, "user-agent": "unit-browser/1.0", **(headers or {})},
            body=body.encode(),
            path_parameters={"approval_id": match.group(1)} if match else {},
            source_ip="198.51.100.7",
        )
        return dict(resolver.resolve(event, {}))

    def link_query(self, approver: str = RELEASE, *, expires: int | None = None) -> str:
        expires_at = expires if expires is not None else self.record.expires_at
        signed = links.sign(SIGNING_KEY, self.record.approval_id, approver, expires_at)
        return urlencode({"approver": approver, "expires": expires_at, "sig": signed.signature})

    def page(self, approver: str = RELEASE) -> dict[str, Any]:
        return self.call("GET", f"/approvals/{self.record.approval_id}", query=self.link_query(approver))

    def form(self, page: dict[str, Any]) -> dict[str, str]:
        return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page["body"]))

    def post(self, fields: dict[str, str], *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.call(
            "POST",
            f"/approvals/{self.record.approval_id}",
            body=urlencode(fields),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": f"https://{HOST}",
                **(headers or {}),
            },
        )

    def approve(self, approver: str = RELEASE, **extra: str) -> dict[str, Any]:
        fields = self.form(self.page(approver))
        return self.post({**fields, "decision": "approve", "reason": "looks good", **extra})


def make_api(world: ApprovalWorld, **approval: Any) -> Api:
    config = pipeline(approvers=[RELEASE, SECOND], **approval)
    record = world.ask(
        config=config,
        request=request("a" * 40, identity=OTHER_AUTHOR),
        now=NOW,
    )
    return Api(world, record)


@pytest.fixture
def api() -> Iterator[Api]:
    with approval_world() as world:
        yield make_api(world)


def unchanged(api: Api) -> None:
    assert api.world.sfn.calls == []
    current = api.world.store.get(api.record.approval_id)
    assert current.status == "pending"
    assert current.votes == {}


def test_get_shows_the_confirmation_page_and_decides_nothing_however_often(api: Api) -> None:
    for _ in range(5):
        page = api.page()
        assert page["statusCode"] == 200
    assert "Promote example-org/sentiment-service to prod?" in page["body"]
    assert set(api.form(page)) == {"approver", "expires", "sig", "csrf_nonce", "csrf"}
    assert api.record.task_token not in page["body"]
    assert page["headers"]["Cache-Control"] == "no-store"
    unchanged(api)
    viewed = [event for event in api.world.audit.history(api.record.approval_id) if event.action == "viewed"]
    assert len(viewed) == 5
    assert viewed[0].source_ip == "198.51.100.7"
    assert viewed[0].user_agent == "unit-browser/1.0"


def test_head_never_decides(api: Api) -> None:
    answer = api.call("HEAD", f"/approvals/{api.record.approval_id}", query=api.link_query())
    assert answer["statusCode"] == 404
    unchanged(api)


def test_a_tampered_signature_is_403(api: Api) -> None:
    query = api.link_query().replace("sig=", "sig=0")
    assert api.call("GET", f"/approvals/{api.record.approval_id}", query=query)["statusCode"] == 403
    unchanged(api)


def test_a_validly_signed_link_for_someone_not_on_the_request_is_403(api: Api) -> None:
    answer = api.page("intruder@example.com")
    assert answer["statusCode"] == 403
    assert "not an approver" in answer["body"]
    unchanged(api)


def test_an_expired_link_is_410_with_a_page_that_says_so(api: Api) -> None:
    api.now = api.record.expires_at + 1
    answer = api.page()
    assert answer["statusCode"] == 410
    assert "expired" in answer["body"]


def test_post_approves_once_and_a_second_post_is_409_naming_who_and_when(api: Api) -> None:
    first = api.approve()
    assert first["statusCode"] == 200
    assert f"Approved by {RELEASE}" in first["body"]

    second_page = api.page()
    assert second_page["statusCode"] == 409
    assert f"Approved by {RELEASE}" in second_page["body"]
    assert len(api.world.sfn.calls) == 1


def test_a_csrf_token_issued_to_one_approver_does_not_work_for_another(api: Api) -> None:
    theirs = api.form(api.page(SECOND))
    mine = api.form(api.page(RELEASE))
    forged = {**mine, "csrf": theirs["csrf"], "csrf_nonce": theirs["csrf_nonce"], "decision": "approve"}
    assert api.post(forged)["statusCode"] == 403
    unchanged(api)


def test_a_double_post_of_the_same_form_is_409(api: Api) -> None:
    fields = {**api.form(api.page()), "decision": "approve"}
    assert api.post(fields)["statusCode"] == 200
    repeat = api.post(fields)
    assert repeat["statusCode"] == 409
    assert f"already approved by {RELEASE} at " in repeat["body"]
    assert len(api.world.sfn.calls) == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"csrf": "0" * 64}, 403),
        ({"csrf_nonce": "1800000000.forged"}, 403),
        ({"sig": "0" * 64}, 403),
        ({"decision": "maybe"}, 400),
    ],
)
def test_a_forged_form_decides_nothing(api: Api, change: dict[str, str], status: int) -> None:
    fields = {**api.form(api.page()), "decision": "approve", **change}
    assert api.post(fields)["statusCode"] == status
    unchanged(api)


def test_a_form_without_its_csrf_token_decides_nothing(api: Api) -> None:
    fields = {k: v for k, v in api.form(api.page()).items() if k != "csrf"}
    assert api.post({**fields, "decision": "approve"})["statusCode"] == 400
    unchanged(api)


@pytest.mark.parametrize(
    "headers",
    [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example.net"}, {"origin": "null"}],
)
def test_a_cross_site_post_is_refused(api: Api, headers: dict[str, str]) -> None:
    fields = {**api.form(api.page()), "decision": "approve"}
    answer = api.post(fields, headers=headers)
    assert answer["statusCode"] == 403
    unchanged(api)


def test_a_json_post_is_415(api: Api) -> None:
    answer = api.call(
        "POST",
        f"/approvals/{api.record.approval_id}",
        body="{}",
        headers={"content-type": "application/json"},
    )
    assert answer["statusCode"] == 415
    unchanged(api)


def test_self_approval_is_refused_and_the_page_says_why() -> None:
    with approval_world() as world:
        config = pipeline()
        record = world.ask(
            config=config,
            request=request("a" * 40, commit=CommitInfo(author_email=RELEASE, verified=True)),
            now=NOW,
        )
        api = Api(world, record)
        page = api.page()
        assert "you cannot approve your own change" in page["body"]
        answer = api.post({**api.form(page), "decision": "approve"})
        assert answer["statusCode"] == 403
        assert "commit&#x27;s author" in answer["body"]
        unchanged(api)


def test_n_approvals_show_progress_and_the_same_approver_cannot_count_twice() -> None:
    with approval_world() as world:
        api = make_api(world, required_approvals=2)
        first = api.approve(RELEASE)
        assert first["statusCode"] == 200
        assert "Approval recorded (1 of 2)" in first["body"]
        assert api.page(RELEASE)["statusCode"] == 409
        assert api.approve(SECOND)["statusCode"] == 200
        assert [call[0] for call in world.sfn.calls] == ["SendTaskSuccess"]


def test_a_superseded_requests_link_is_410_and_says_superseded() -> None:
    with approval_world() as world:
        api = make_api(world)
        world.ask(
            config=pipeline(approvers=[RELEASE, SECOND]),
            request=request("b" * 40, execution="newer"),
            now=NOW + 5,
        )
        answer = api.page()
        assert answer["statusCode"] == 410
        assert "Superseded" in answer["body"]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE"]),
    use_real_id=st.booleans(),
    other_id=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"),
        min_size=1,
        max_size=30,
    ),
    query=st.dictionaries(
        st.sampled_from(["approver", "expires", "sig", "intent", "x"]), st.text(max_size=70), max_size=5
    ),
    form=st.dictionaries(
        st.sampled_from(["approver", "expires", "sig", "csrf", "csrf_nonce", "decision", "reason", "x"]),
        st.text(max_size=70),
        max_size=8,
    ),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "text/plain", "", "multipart/form-data"]
    ),
    raw_body=st.one_of(st.none(), st.text(max_size=300)),
)
def test_fuzzed_requests_never_5xx_and_never_decide_without_a_valid_link_and_form(
    api: Api,
    method: str,
    use_real_id: bool,
    other_id: str,
    query: dict[str, str],
    form: dict[str, str],
    content_type: str,
    raw_body: str | None,
) -> None:
    approval_id = api.record.approval_id if use_real_id else other_id
    body = raw_body if raw_body is not None else urlencode(form)
    answer = api.call(
        method,
        f"/approvals/{approval_id}",
        query=urlencode(query),
        body=body,
        headers={"content-type": content_type} if content_type else {},
    )
    assert answer["statusCode"] < 500
    unchanged(api)


def test_the_emailed_link_opens_the_page(api: Api) -> None:
    mail = api.world.mailer.sent[0]
    (link,) = re.findall(r"Approve: (\S+)", mail["text"])
    split = urlsplit(link)
    answer = api.call("GET", split.path, query=split.query)
    assert answer["statusCode"] == 200
    assert 'id="approve" autofocus' in answer["body"]
