"""Deployment windows and freezes: may prod be deployed now, and if not, when?

The calendar is dateutil's (RFC 5545 recurrence rules) and zoneinfo's (IANA time zones); this module only
walks forward from now past whatever closes the window: a dated freeze, an occurrence of a deny window,
or (when allow windows are declared) a time outside all of them. Occurrences are computed in the
windows' local wall-clock time and placed on the time line with zoneinfo, so "Friday 16:00 to Monday
08:00 Europe/Berlin" means those local times in winter and in summer, and across a clock change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from promotion.dal.window_overrides import WindowOverride
from promotion.errors import DeploymentWindowClosed
from promotion.models.config import DatedFreeze, Environment, RecurringWindow, WindowSettings

# How far ahead an opening is looked for; a window closed longer than this is reported as never opening.
HORIZON = timedelta(days=400)
# Each step moves past one closing interval; a calendar that needs more steps than this is refused.
MAX_STEPS = 2_000


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


@lru_cache(maxsize=256)
def parse_rule(text: str, dtstart: datetime) -> rrule:
    """An RRULE (with or without its ``RRULE:`` prefix) starting at ``dtstart`` (naive local time)."""
    body = text.strip().removeprefix("RRULE:")
    if "\n" in body or "DTSTART" in body.upper():
        raise ValueError("give one RRULE; its first start is the window's dtstart")
    try:
        rule = rrulestr(body, dtstart=dtstart, forceset=False)
    except (ValueError, TypeError) as error:
        raise ValueError(f"rrule {text!r}: {error}") from error
    if not isinstance(rule, rrule):
        raise ValueError(f"rrule {text!r} is not a single recurrence rule")
    return rule


@dataclass(frozen=True)
class Closure:
    """Why the window is closed at some instant, and the instant that reason ends (None: never)."""

    reason: str
    until: datetime | None


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _placed(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def _describe(window: RecurringWindow, kind: str) -> str:
    return f"{kind} window {window.name!r}" if window.name else f"{kind} window {window.rrule}"


def _occurrence_at(
    window: RecurringWindow, instant: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` that contains ``instant`` as (start, end), if any. With one duration
    for every occurrence, the latest start at or before the instant has the latest end."""
    rule = parse_rule(window.rrule, window.dtstart)
    start = rule.before(_local(instant, zone), inc=True)
    if start is None:
        return None
    begins, ends = _placed(start, zone), _placed(start + window.duration, zone)
    return (begins, ends) if begins <= instant < ends else None


def _next_start(window: RecurringWindow, instant: datetime, zone: ZoneInfo) -> datetime | None:
    rule = parse_rule(window.rrule, window.dtstart)
    after = rule.after(_local(instant, zone), inc=False)
    while after is not None and _placed(after, zone) <= instant:  # a repeated hour when clocks go back
        after = rule.after(after, inc=False)
    return None if after is None else _placed(after, zone)


def _freeze_bounds(freeze: DatedFreeze, zone: ZoneInfo) -> tuple[datetime, datetime]:
    def placed(moment: datetime) -> datetime:
        return moment.astimezone(UTC) if moment.tzinfo else _placed(moment, zone)

    return placed(freeze.start), placed(freeze.end)


def closure_at(settings: WindowSettings, instant: datetime) -> Closure | None:
    """What closes the window at ``instant`` (an aware datetime), or None when prod may be deployed."""
    zone = time_zone(settings.time_zone)
    for freeze in settings.freezes:
        start, end = _freeze_bounds(freeze, zone)
        if start <= instant < end:
            return Closure(f"freeze: {freeze.reason}", end)
    for window in settings.deny:
        occurrence = _occurrence_at(window, instant, zone)
        if occurrence is not None:
            return Closure(f"inside {_describe(window, 'deny')}", occurrence[1])
    if settings.allow and not any(_occurrence_at(w, instant, zone) for w in settings.allow):
        starts = [s for s in (_next_start(w, instant, zone) for w in settings.allow) if s is not None]
        return Closure("outside every allow window", min(starts) if starts else None)
    return None


@dataclass(frozen=True)
class Opening:
    """The answer for one instant: open now, or closed for ``reason`` until ``opens_at`` (None: not
    within the horizon)."""

    open: bool
    reason: str
    opens_at: datetime | None


def next_opening(settings: WindowSettings, now: datetime) -> Opening:
    """Whether prod may be deployed at ``now``, and if not, the first instant it may."""
    first = closure_at(settings, now)
    if first is None:
        return Opening(True, "inside the deployment windows", None)
    candidate = first.until
    for _ in range(MAX_STEPS):
        if candidate is None or candidate - now > HORIZON:
            return Opening(False, first.reason, None)
        closure = closure_at(settings, candidate)
        if closure is None:
            return Opening(False, first.reason, candidate)
        # Each closure ends after the instant it closes (intervals are [start, end)): always forward.
        candidate = closure.until
    return Opening(False, first.reason, None)


# ---- the step's decision --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowCheck:
    """What "Check deployment window" answers: ``$.window`` (``$.preprod_window`` for preprod)."""

    open: bool
    reason: str
    checked_at: datetime
    opens_at: datetime | None = None
    # When the Wait ends: the opening, or the next recheck when that comes sooner.
    wait_until: datetime | None = None
    waiting_since: datetime | None = None
    override: WindowOverride | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "reason": self.reason,
            "checked_at": timestamp(self.checked_at),
            "opens_at": timestamp(self.opens_at),
            "wait_until": timestamp(self.wait_until),
            "waiting_since": timestamp(self.waiting_since),
            "override": self.override.to_payload() if self.override else None,
        }


def timestamp(moment: datetime | None) -> str | None:
    """UTC, to the second, with ``Z``: the form a Wait state's TimestampPath takes."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def check_window(
    settings: WindowSettings | None,
    *,
    environment: Environment = "prod",
    now: datetime,
    mode: Literal["promote", "rollback", "redeploy"],
    waiting_since: datetime | None,
    find_override: Callable[[], WindowOverride | None],
) -> WindowCheck:
    """May this promotion deploy ``environment`` at ``now``? Raises DeploymentWindowClosed when it may not
    and must not wait (``outside: fail``, no opening in sight, or the opening after its longest wait)."""
    if settings is None:
        return WindowCheck(True, "no deployment windows configured", now)
    if environment not in settings.environments:
        return WindowCheck(True, f"no deployment windows for {environment}", now)
    if mode == "rollback":
        return WindowCheck(True, "rollbacks are always allowed", now)
    opening = next_opening(settings, now)
    if opening.open:
        return WindowCheck(True, opening.reason, now)
    override = find_override()
    if override is not None:
        return WindowCheck(
            True, f"overridden by {override.by}: {override.reason} ({opening.reason})", now, override=override
        )
    # To the second, never before the real opening (a Wait's timestamp has whole seconds).
    opens_at = _ceil_second(opening.opens_at) if opening.opens_at else None
    opens = f"opens {timestamp(opens_at)}" if opens_at else "does not open within 400 days"
    if settings.outside == "fail":
        raise DeploymentWindowClosed(
            f"{environment}'s deployment window is closed ({opening.reason}); it {opens}"
        )
    since = waiting_since or now
    deadline = since + timedelta(hours=settings.max_wait_hours)
    if opens_at is None or opens_at > deadline:
        raise DeploymentWindowClosed(
            f"{environment}'s deployment window is closed ({opening.reason}); it {opens}, after the longest "
            f"wait of {settings.max_wait_hours:g} h (until {timestamp(deadline)})"
        )
    recheck = now + timedelta(seconds=settings.recheck_seconds)
    return WindowCheck(
        False,
        opening.reason,
        now,
        opens_at=opens_at,
        wait_until=min(opens_at, _ceil_second(recheck)),
        waiting_since=since,
    )


def approval_notice(settings: WindowSettings | None, now: datetime) -> str | None:
    """The line an approval request carries about prod's window: None when no window holds prod."""
    if settings is None or "prod" not in settings.environments:
        return None
    opening = next_opening(settings, now)
    if opening.open:
        return "open now (checked again when approved)"
    when = (
        f"opens {timestamp(_ceil_second(opening.opens_at))}"
        if opening.opens_at
        else "not open within 400 days"
    )
    return f"closed ({opening.reason}), {when}; once approved, the promotion waits for it"


def waiting_notice(
    *,
    pipeline: str,
    environment: Environment,
    sha: str,
    execution_name: str,
    answer: WindowCheck,
    console_url: str | None,
) -> tuple[str, str]:
    """The subject and text of the notice a promotion sends when it starts waiting for a window."""
    opens = timestamp(answer.opens_at)
    subject = f"{pipeline} {sha[:12]} waits for {environment}'s deployment window (opens {opens})"
    lines = [
        f"{pipeline} commit {sha} is ready for {environment}, but its deployment window is closed.",
        "",
        f"Why:        {answer.reason}",
        f"Goes at:    {opens} (UTC), if nothing closes the window again by then",
        f"Execution:  {execution_name}",
        f"Console:    {console_url or 'n/a'}",
        "",
        "To let this promotion go now: promote window override --pipeline "
        f"{pipeline} --execution {execution_name} --reason ...",
    ]
    return subject, "\n".join(lines)


def waiting_slack_blocks(subject: str, text: str) -> list[dict[str, Any]]:
    """The waiting notice as a Slack message: its subject in bold, then its text as sent by email."""
    from promotion.approvals.slack import mrkdwn

    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{mrkdwn(subject)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{mrkdwn(text)}```"}},
    ]
