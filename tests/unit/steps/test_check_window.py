"""The "Check deployment window" step: its request as the ASL sends it, the previous answer carried over."""

from __future__ import annotations

from typing import Any

import pytest

from promotion.dal.window_overrides import WindowOverride
from promotion.errors import DeploymentWindowClosed
from promotion.models.config import PipelineConfig
from promotion.models.steps import CheckWindowRequest
from promotion.pipeline.windows import waiting_slack_blocks
from promotion.steps.check_window import check_window
from tests.support.pipelines import sample_config

NAME = "sentiment-service-aaaaaaaaaaaa-a1"
WEEKEND = {"name": "weekend", "rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", "duration": "P2DT16H"}


class Configs:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def get(self, pipeline: str) -> PipelineConfig:
        assert pipeline == self.config.name
        return self.config


class Overrides:
    def __init__(self, override: WindowOverride | None = None) -> None:
        self.override = override
        self.asked: list[tuple[str, str]] = []

    def get(self, pipeline: str, execution_name: str) -> WindowOverride | None:
        self.asked.append((pipeline, execution_name))
        return self.override

    def put(self, pipeline: str, override: WindowOverride) -> None:
        raise AssertionError("the step never writes an override")


def request(
    checked_at: str,
    *,
    mode: str = "promote",
    window: dict[str, Any] | None = None,
    environment: str = "prod",
) -> CheckWindowRequest:
    promotion: dict[str, Any] = {"pipeline": "sentiment-service", "sha": "a" * 40, "settings": {"mode": mode}}
    if window is not None:
        promotion["window"] = window
    return CheckWindowRequest.model_validate(
        {
            "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:rp-promotion:{NAME}",
            "execution_name": NAME,
            "environment": environment,
            "checked_at": checked_at,
            "promotion": promotion,
        }
    )


CONFIG = sample_config(windows={"time_zone": "Europe/Berlin", "deny": [WEEKEND], "max_wait_hours": 62})


def test_the_first_check_starts_the_wait_and_a_later_one_keeps_its_start() -> None:
    first = check_window(Configs(CONFIG), Overrides(), request("2026-12-04T17:00:00.123Z"))
    assert (first["open"], first["waiting_since"], first["opens_at"]) == (
        False,
        "2026-12-04T17:00:00Z",
        "2026-12-07T07:00:00Z",
    )
    later = check_window(Configs(CONFIG), Overrides(), request("2026-12-05T17:00:00Z", window=first))
    assert later["waiting_since"] == first["waiting_since"]
    # Waiting since a minute earlier, Monday 08:00 would be past the 62 hours.
    too_early = {**first, "waiting_since": "2026-12-04T16:59:00Z"}
    with pytest.raises(DeploymentWindowClosed):
        check_window(Configs(CONFIG), Overrides(), request("2026-12-05T17:00:00Z", window=too_early))


def test_the_override_is_looked_up_for_this_execution_only_when_the_window_is_closed() -> None:
    overrides = Overrides(WindowOverride("sentiment-service-aaaaaaaaaaaa-a1", "hotfix", "alice", 1))
    assert check_window(Configs(CONFIG), overrides, request("2026-12-07T09:00:00Z"))["override"] is None
    assert overrides.asked == []
    answer = check_window(Configs(CONFIG), overrides, request("2026-12-05T09:00:00Z"))
    assert answer["override"] == {"reason": "hotfix", "by": "alice", "at": 1}
    assert overrides.asked == [("sentiment-service", "sentiment-service-aaaaaaaaaaaa-a1")]


def test_a_rollback_run_passes_without_asking() -> None:
    overrides = Overrides()
    answer = check_window(Configs(CONFIG), overrides, request("2026-12-05T09:00:00Z", mode="rollback"))
    assert (answer["open"], answer["reason"]) == (True, "rollbacks are always allowed")
    assert overrides.asked == []


def test_the_team_hears_once_when_the_promotion_starts_waiting_and_when_it_goes() -> None:
    heard: list[tuple[str, str, dict[str, Any]]] = []

    def announce(config: PipelineConfig, subject: str, text: str, event: dict[str, Any]) -> None:
        heard.append((subject, text, event))

    first = check_window(
        Configs(CONFIG), Overrides(), request("2026-12-04T17:00:00Z"), announce=announce, console_base=None
    )
    check_window(
        Configs(CONFIG), Overrides(), request("2026-12-05T17:00:00Z", window=first), announce=announce
    )
    check_window(
        Configs(CONFIG), Overrides(), request("2026-12-07T09:00:00Z", window=first), announce=announce
    )
    ((subject, text, event),) = heard
    assert (
        subject
        == f"sentiment-service {'a' * 12} waits for prod's deployment window (opens 2026-12-07T07:00:00Z)"
    )
    assert "Why:        inside deny window 'weekend'" in text
    assert f"promote window override --pipeline sentiment-service --execution {NAME}" in text
    assert "https://" in text  # the execution's console page
    assert (event["outcome"], event["window"]) == ("waiting_for_window", first)


def test_preprod_is_held_only_when_the_windows_name_it() -> None:
    saturday = request("2026-12-05T09:00:00Z", environment="preprod")
    answer = check_window(Configs(CONFIG), Overrides(), saturday)
    assert (answer["open"], answer["reason"]) == (True, "no deployment windows for preprod")
    both = sample_config(
        windows={"time_zone": "Europe/Berlin", "deny": [WEEKEND], "environments": ["preprod", "prod"]}
    )
    assert check_window(Configs(both), Overrides(), saturday)["open"] is False
    # A waiting preprod check carries its own start ($.preprod_window), not prod's.
    first = check_window(Configs(both), Overrides(), saturday)
    later = request("2026-12-06T09:00:00Z", environment="preprod")
    carried = later.model_copy(
        update={"promotion": later.promotion.model_copy(update={"preprod_window": first})}
    )
    assert check_window(Configs(both), Overrides(), carried)["waiting_since"] == first["waiting_since"]


def test_the_waiting_notice_on_slack_is_its_subject_then_its_text_escaped() -> None:
    blocks = waiting_slack_blocks("p abc waits for prod's deployment window", "Why:        freeze: a <b> & c")
    assert [block["text"]["type"] for block in blocks] == ["mrkdwn", "mrkdwn"]
    assert blocks[0]["text"]["text"] == "*p abc waits for prod's deployment window*"
    assert blocks[1]["text"]["text"] == "```Why:        freeze: a &lt;b&gt; &amp; c```"
