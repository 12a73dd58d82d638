"""``promote status`` as text: what each alias serves, with its CodeSha256; nothing recorded reads "none"."""

from __future__ import annotations

from typing import Any

from promote_cli.cli import status_lines

CODE = "DYWgrwRxod1mVQOr9MtLTb2MhrwJ25qkmQAqUL2CUSE="
SERVING_LINE = f"    api        svc-sentiment-prod-api alias live -> v3  CodeSha256 {CODE}"


def environment(sha: str | None, known_good: str | None, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "serving": {
            "api": {
                "function": "svc-sentiment-prod-api",
                "alias": "live",
                "version": "3",
                "code_sha256": CODE,
            }
        },
        "sha": sha,
        "known_good_sha": known_good,
        "frozen": None,
        "locked_by": None,
        "history": history,
    }


def test_status_names_alias_version_and_code_and_never_prints_none() -> None:
    report = {
        "pipeline": "sentiment-service",
        "repo": "example-org/sentiment-service",
        "frozen": None,
        "environments": {
            "preprod": environment(None, None, []),
            "prod": environment(
                "6d6a723bad67e6be7bd1ecdcaf4b4ae6dcd0fe27",
                "6d6a723bad67e6be7bd1ecdcaf4b4ae6dcd0fe27",
                [
                    {
                        "execution": "sentiment-service-6d6a723bad67-a1",
                        "mode": "promote",
                        "outcome": "rolled_back",
                        "approver": None,
                    }
                ],
            ),
        },
    }
    lines = status_lines(report)
    assert lines == [
        "sentiment-service (example-org/sentiment-service)",
        "  preprod: commit none, known-good none",
        SERVING_LINE,
        "  prod: commit 6d6a723bad67, known-good 6d6a723bad67",
        SERVING_LINE,
        "    sentiment-service-6d6a723bad67-a1             promote  rolled_back      approver none",
    ]
    assert not any("None" in line for line in lines)
