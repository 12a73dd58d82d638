"""Times the state machine hands its steps ($$.State.EnteredTime)."""

from __future__ import annotations

from datetime import datetime


def parse_time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
