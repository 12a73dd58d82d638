"""X-Hub-Signature-256: GitHub's published vector, every malformed form, and secret rotation."""

from __future__ import annotations

import json

import pytest

from promotion.github.webhook import (
    MIN_SECRET_LENGTH,
    WebhookKeys,
    WebhookSecretUnusable,
    parse_webhook_secret,
    sign,
    signature_problem,
)
from tests.support.github import signature_vector

VECTOR = signature_vector()
SECRET = VECTOR["secret"].encode()
BODY = VECTOR["body"].encode()


def test_github_published_vector_is_reproduced_and_accepted() -> None:
    assert sign(SECRET, BODY) == VECTOR["signature_256"]
    assert signature_problem(BODY, {"x-hub-signature-256": VECTOR["signature_256"]}, [SECRET]) is None


@pytest.mark.parametrize("position", [0, 5, len(BODY) - 1])
def test_a_one_byte_change_of_the_body_is_refused(position: int) -> None:
    changed = bytearray(BODY)
    changed[position] ^= 0x01
    problem = signature_problem(bytes(changed), {"x-hub-signature-256": VECTOR["signature_256"]}, [SECRET])
    assert problem == "X-Hub-Signature-256 does not match the webhook secret"


def test_a_one_digit_change_of_the_signature_is_refused() -> None:
    digest = VECTOR["signature_256"]
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    assert signature_problem(BODY, {"x-hub-signature-256": flipped}, [SECRET]) is not None


def test_the_right_body_with_another_secret_is_refused() -> None:
    problem = signature_problem(BODY, {"x-hub-signature-256": VECTOR["signature_256"]}, [b"x" * 32])
    assert problem is not None


def test_a_missing_signature_is_refused_with_a_hint() -> None:
    assert "missing" in (signature_problem(BODY, {}, [SECRET]) or "")


def test_sha1_only_is_refused_even_when_it_is_correct() -> None:
    import hashlib
    import hmac

    sha1 = "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    problem = signature_problem(BODY, {"x-hub-signature": sha1}, [SECRET])
    assert problem == "only X-Hub-Signature (SHA-1) was sent; X-Hub-Signature-256 is required"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha256",
        VECTOR["signature_256"].removeprefix("sha256="),  # no prefix
        "sha1=" + VECTOR["signature_256"].removeprefix("sha256="),
        VECTOR["signature_256"] + "00",
        VECTOR["signature_256"][:-2],
        " " + VECTOR["signature_256"],
        VECTOR["signature_256"].replace("7", "g"),
    ],
)
def test_malformed_signatures_are_refused(header: str) -> None:
    problem = signature_problem(BODY, {"x-hub-signature-256": header}, [SECRET])
    assert problem == "X-Hub-Signature-256 is not 'sha256=' and 64 hex digits"


def test_upper_case_hex_is_the_same_signature() -> None:
    upper = "sha256=" + VECTOR["signature_256"].removeprefix("sha256=").upper()
    assert signature_problem(BODY, {"x-hub-signature-256": upper}, [SECRET]) is None


def test_during_rotation_current_and_previous_both_verify_and_nothing_else() -> None:
    keys = parse_webhook_secret(json.dumps({"current": "n" * 40, "previous": VECTOR["secret"]}))
    assert keys == [b"n" * 40, SECRET]
    assert signature_problem(BODY, {"x-hub-signature-256": VECTOR["signature_256"]}, keys) is None
    assert signature_problem(BODY, {"x-hub-signature-256": sign(b"n" * 40, BODY)}, keys) is None
    assert signature_problem(BODY, {"x-hub-signature-256": sign(b"o" * 40, BODY)}, keys) is not None


def test_secret_forms() -> None:
    assert parse_webhook_secret("p" * 20) == [b"p" * 20]
    # Between rotations "previous" is empty and adds no key.
    assert parse_webhook_secret(json.dumps({"current": "c" * 20, "previous": ""})) == [b"c" * 20]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "s" * (MIN_SECRET_LENGTH - 1),
        json.dumps({"previous": "p" * 40}),
        json.dumps({"current": 12345678901234567890}),
        json.dumps({"current": "c" * 40, "previous": "short"}),
    ],
)
def test_unusable_secrets_fail_closed(value: str) -> None:
    with pytest.raises(WebhookSecretUnusable):
        parse_webhook_secret(value)


def test_a_fresh_read_of_the_secret_is_rate_limited() -> None:
    reads: list[tuple[str, bool]] = []
    now = [100.0]

    def fetch(secret_id: str, force: bool) -> str:
        reads.append((secret_id, force))
        return "k" * 32

    keys = WebhookKeys(fetch, clock=lambda: now[0], refresh_interval=10)
    assert keys.keys("s") == [b"k" * 32]
    assert keys.refreshed_keys("s") == [b"k" * 32]
    assert keys.refreshed_keys("s") is None  # too soon: no second forced read
    now[0] += 10
    assert keys.refreshed_keys("s") == [b"k" * 32]
    assert reads == [("s", False), ("s", True), ("s", True)]
