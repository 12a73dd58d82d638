"""Who sent an HTTP API request, as API Gateway saw it: recorded in the approval audit trail."""

from __future__ import annotations

from typing import Any

from promotion.approvals.audit import Requester


def requester_of(event: Any) -> Requester:
    http = ((event.raw_event.get("requestContext") or {}).get("http")) or {}
    return Requester(source_ip=str(http.get("sourceIp") or ""), user_agent=str(http.get("userAgent") or ""))
