"""Deployment windows: when prod may be deployed, and when a closed window opens
(promotion.pipeline.windows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promotion.dal.window_overrides import WindowOverride
from promotion.errors import DeploymentWindowClosed, InvalidPipelineConfig
from promotion.models.config import WindowSettings, parse_pipeline_config
from promotion.pipeline.windows import approval_notice, check_window, next_opening, timestamp
from tests.support.pipelines import sample_config_dict

BERLIN_WEEKEND = {"name": "weekend", "rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", "duration": "P2DT16H"}


def settings(**fields: Any) -> WindowSettings:
    return WindowSettings.model_validate({"time_zone": "Europe/Berlin", **fields})


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def opens(window: WindowSettings, iso: str) -> datetime | None:
    opening = next_opening(window, at(iso))
    assert not opening.open, f"open at {iso}"
    return opening.opens_at


# ---- a weekly deny window, Friday 16:00 to Monday 08:00 Europe/Berlin --------------------------------------
@pytest.mark.parametrize(
    "instant",
    ["2026-12-04T15:59:59+01:00", "2026-12-07T08:00:00+01:00", "2026-12-09T12:00:00+01:00"],
)
def test_outside_the_weekend_prod_may_be_deployed(instant: str) -> None:
    assert next_opening(settings(deny=[BERLIN_WEEKEND]), at(instant)).open


@pytest.mark.parametrize(
    "instant", ["2026-12-04T16:00:00+01:00", "2026-12-05T12:00:00+01:00", "2026-12-07T07:59:59+01:00"]
)
def test_in_the_weekend_it_opens_monday_at_eight_berlin_time(instant: str) -> None:
    window = settings(deny=[BERLIN_WEEKEND])
    assert opens(window, instant) == at("2026-12-07T08:00:00+01:00")
    assert next_opening(window, at(instant)).reason == "inside deny window 'weekend'"


def test_a_weekend_when_summer_time_begins_still_ends_monday_at_eight_local() -> None:
    # Clocks go forward on Sunday 29 March 2026: 64 h of wall clock are 63 h of time.
    window = settings(deny=[BERLIN_WEEKEND])
    monday = opens(window, "2026-03-28T12:00:00+01:00")
    assert monday == at("2026-03-30T08:00:00+02:00")
    assert timestamp(monday) == "2026-03-30T06:00:00Z"
    # Friday 16:00 CET is 15:00 UTC.
    assert next_opening(window, at("2026-03-27T15:00:00Z") - timedelta(seconds=1)).open
    assert not next_opening(window, at("2026-03-27T15:00:00Z")).open


def test_a_weekend_when_summer_time_ends_still_ends_monday_at_eight_local() -> None:
    # Clocks go back on Sunday 25 October 2026: 64 h of wall clock are 65 h of time.
    window = settings(deny=[BERLIN_WEEKEND])
    assert opens(window, "2026-10-23T16:00:00+02:00") == at("2026-10-26T08:00:00+01:00")
    assert timestamp(opens(window, "2026-10-25T02:30:00+01:00")) == "2026-10-26T07:00:00Z"


def test_a_daily_window_in_the_hour_that_does_not_exist_starts_when_the_clocks_have_moved() -> None:
    # 02:30 does not exist on 29 March 2026 in Berlin; the occurrence is placed at 03:30 CEST (01:30 UTC).
    window = settings(allow=[{"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "duration": "PT2H"}])
    assert opens(window, "2026-03-29T00:00:00+01:00") == at("2026-03-29T01:30:00Z")


# ---- allow windows ------------------------------------------------------------------------------------
WORKING_DAYS = {"name": "working days", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9", "duration": "PT8H"}


def test_inside_an_allow_window_prod_may_be_deployed() -> None:
    opening = next_opening(settings(allow=[WORKING_DAYS]), at("2026-12-03T10:00:00+01:00"))
    assert opening.open


def test_outside_every_allow_window_it_opens_at_the_next_one() -> None:
    window = settings(allow=[WORKING_DAYS])
    assert opens(window, "2026-12-03T17:00:00+01:00") == at("2026-12-07T09:00:00+01:00")  # Thursday evening
    assert opens(window, "2026-12-07T08:59:00+01:00") == at("2026-12-07T09:00:00+01:00")
    assert next_opening(window, at("2026-12-07T10:00:00+01:00")).reason == "inside the deployment windows"
    assert next_opening(window, at("2026-12-03T17:00:00+01:00")).reason == "outside every allow window"


def test_an_allow_window_inside_a_deny_window_opens_when_both_agree() -> None:
    # Allowed 09:00-17:00 Monday to Thursday, but Monday mornings are denied until 12:00.
    monday_morning = {"name": "monday", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=0", "duration": "PT12H"}
    window = settings(allow=[WORKING_DAYS], deny=[monday_morning])
    assert opens(window, "2026-12-04T10:00:00+01:00") == at("2026-12-07T12:00:00+01:00")


# ---- dated freezes ------------------------------------------------------------------------------------
CHRISTMAS = {"start": "2026-12-24T00:00:00", "end": "2026-12-27T00:00:00", "reason": "Christmas"}


def test_a_freeze_closes_the_window_until_its_end_then_the_weekend_until_monday() -> None:
    window = settings(deny=[BERLIN_WEEKEND], freezes=[CHRISTMAS])
    assert next_opening(window, at("2026-12-23T23:59:59+01:00")).open
    opening = next_opening(window, at("2026-12-24T00:00:00+01:00"))
    assert opening.reason == "freeze: Christmas"
    # Sunday 27th 00:00 is inside the weekend that began on Friday 25th: Monday 28th 08:00.
    assert opening.opens_at == at("2026-12-28T08:00:00+01:00")


def test_a_freeze_with_an_offset_is_that_instant_whatever_the_time_zone() -> None:
    freeze = {"start": "2026-12-24T00:00:00Z", "end": "2026-12-24T06:00:00Z", "reason": "maintenance"}
    window = settings(freezes=[freeze])
    assert opens(window, "2026-12-24T01:00:00Z") == at("2026-12-24T06:00:00Z")
    assert next_opening(window, at("2026-12-24T06:00:00Z")).open


def test_a_window_that_never_opens_within_the_horizon_has_no_opening() -> None:
    window = settings(freezes=[{"start": "2026-01-01T00:00:00", "end": "2030-01-01T00:00:00", "reason": "x"}])
    assert opens(window, "2026-12-03T00:00:00Z") is None


# ---- the step's decision -------------------------------------------------------------------------------
FRIDAY_EVENING = at("2026-12-04T18:00:00+01:00")
MONDAY_EIGHT = at("2026-12-07T08:00:00+01:00")


def decide(window: WindowSettings | None, now: datetime, **kwargs: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"mode": "promote", "waiting_since": None, "find_override": lambda: None}
    return check_window(window, now=now, **{**arguments, **kwargs}).to_payload()


def test_without_windows_or_inside_them_the_check_is_open() -> None:
    assert decide(None, FRIDAY_EVENING)["open"] is True
    answer = decide(settings(deny=[BERLIN_WEEKEND]), MONDAY_EIGHT)
    assert (answer["open"], answer["opens_at"], answer["wait_until"]) == (True, None, None)


def test_closed_it_waits_until_the_next_recheck_and_says_when_it_opens() -> None:
    window = settings(deny=[BERLIN_WEEKEND], recheck_seconds=900)
    answer = decide(window, FRIDAY_EVENING)
    assert answer["open"] is False
    assert answer["opens_at"] == "2026-12-07T07:00:00Z"
    assert answer["wait_until"] == "2026-12-04T17:15:00Z"
    assert answer["waiting_since"] == "2026-12-04T17:00:00Z"
    # Close to the opening, the wait ends at the opening itself.
    assert decide(window, MONDAY_EIGHT - timedelta(minutes=5))["wait_until"] == "2026-12-07T07:00:00Z"


def test_the_longest_wait_counts_from_the_first_check() -> None:
    window = settings(deny=[BERLIN_WEEKEND], max_wait_hours=62)
    # Friday 18:00 to Monday 08:00 is 62 hours: within the longest wait.
    assert decide(window, FRIDAY_EVENING)["open"] is False
    # Friday 17:59 is 62 h 1 min before: too long.
    with pytest.raises(DeploymentWindowClosed, match=r"after the longest wait of 62 h"):
        decide(window, FRIDAY_EVENING - timedelta(minutes=1))
    # A later check of a promotion waiting since then is refused too.
    with pytest.raises(DeploymentWindowClosed, match="opens 2026-12-07T07:00:00Z"):
        decide(window, FRIDAY_EVENING, waiting_since=FRIDAY_EVENING - timedelta(minutes=1))


def test_outside_fail_fails_at_once_saying_when_it_opens() -> None:
    window = settings(deny=[BERLIN_WEEKEND], outside="fail")
    with pytest.raises(
        DeploymentWindowClosed, match=r"\(inside deny window 'weekend'\); it opens 2026-12-07"
    ):
        decide(window, FRIDAY_EVENING)


def test_a_rollback_always_goes_and_an_override_lets_one_promotion_through() -> None:
    window = settings(deny=[BERLIN_WEEKEND], outside="fail")
    assert decide(window, FRIDAY_EVENING, mode="rollback")["reason"] == "rollbacks are always allowed"
    override = WindowOverride("exec-1", "hotfix for the checkout outage", "alice", 1_800_000_000)
    answer = decide(window, FRIDAY_EVENING, mode="redeploy", find_override=lambda: override)
    assert answer["open"] is True
    assert answer["override"] == {
        "reason": "hotfix for the checkout outage",
        "by": "alice",
        "at": 1_800_000_000,
    }
    assert "overridden by alice" in answer["reason"]
    with pytest.raises(DeploymentWindowClosed):
        decide(window, FRIDAY_EVENING, mode="redeploy")


# ---- the config ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"deny": [{"rrule": "FREQ=SOMETIMES", "duration": "PT1H"}]}, "rrule"),
        ({"deny": [{"rrule": "FREQ=DAILY", "duration": "PT0S"}]}, "duration"),
        (
            {"deny": [{"rrule": "FREQ=DAILY", "duration": "PT1H", "dtstart": "2024-01-01T00:00:00Z"}]},
            "dtstart",
        ),
        (
            {"freezes": [{"start": "2026-12-27T00:00", "end": "2026-12-24T00:00", "reason": "x"}]},
            "ends before",
        ),
        ({"max_wait_hours": 300, "recheck_seconds": 60}, "execution history"),
    ],
)
def test_a_bad_windows_section_is_refused_naming_the_field(windows: dict[str, Any], message: str) -> None:
    document = {**sample_config_dict(), "windows": windows}
    with pytest.raises(InvalidPipelineConfig, match=message) as refused:
        parse_pipeline_config(document, source="test")
    assert "windows" in str(refused.value)


def test_a_pipeline_without_windows_keeps_working_unchanged() -> None:
    assert parse_pipeline_config(sample_config_dict(), source="test").windows is None


def test_the_approval_request_says_whether_prod_s_window_is_open_and_when_it_opens() -> None:
    window = settings(deny=[BERLIN_WEEKEND])
    assert approval_notice(None, FRIDAY_EVENING) is None
    assert approval_notice(settings(deny=[BERLIN_WEEKEND], environments=["preprod"]), FRIDAY_EVENING) is None
    assert approval_notice(window, MONDAY_EIGHT) == "open now (checked again when approved)"
    assert approval_notice(window, FRIDAY_EVENING) == (
        "closed (inside deny window 'weekend'), opens 2026-12-07T07:00:00Z; once approved, the promotion "
        "waits for it"
    )
