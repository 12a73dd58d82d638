"""The step behind functions/check_window: typed request in, ``$.window`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.dal.window_overrides import WindowOverrideStore
from promotion.models.steps import CheckWindowRequest
from promotion.pipeline.windows import check_window as check_deployment_window


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def check_window(
    configs: PipelineConfigStore, overrides: WindowOverrideStore, request: CheckWindowRequest
) -> dict[str, Any]:
    promotion = request.promotion
    config = configs.get(promotion.pipeline)
    previous = promotion.window or {}
    since = previous.get("waiting_since")
    return check_deployment_window(
        config.windows,
        now=_instant(request.checked_at),
        mode=promotion.settings.mode,
        waiting_since=_instant(since) if isinstance(since, str) else None,
        find_override=lambda: overrides.get(promotion.pipeline, request.execution_name),
    ).to_payload()
