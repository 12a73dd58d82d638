"""The step behind functions/check_window: typed request in, ``$.window`` out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from promotion.adapters.config_store import PipelineConfigStore
from promotion.console import execution_console_url
from promotion.dal.window_overrides import WindowOverrideStore
from promotion.models.config import PipelineConfig
from promotion.models.steps import CheckWindowRequest
from promotion.pipeline.windows import check_window as check_deployment_window
from promotion.pipeline.windows import waiting_notice

# Tells the pipeline's people (subject, text) and the notifications topic (the event).
Announce = Callable[[PipelineConfig, str, str, dict[str, Any]], None]


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def check_window(
    configs: PipelineConfigStore,
    overrides: WindowOverrideStore,
    request: CheckWindowRequest,
    *,
    announce: Announce | None = None,
    console_base: str | None = None,
) -> dict[str, Any]:
    """The window's answer; when the promotion starts waiting (its first closed check), ``announce`` tells
    the team why and when it goes."""
    promotion = request.promotion
    config = configs.get(promotion.pipeline)
    previous = (promotion.window if request.environment == "prod" else promotion.preprod_window) or {}
    since = previous.get("waiting_since")
    answer = check_deployment_window(
        config.windows,
        environment=request.environment,
        now=_instant(request.checked_at),
        mode=promotion.settings.mode,
        waiting_since=_instant(since) if isinstance(since, str) else None,
        find_override=lambda: overrides.get(promotion.pipeline, request.execution_name),
    )
    payload = answer.to_payload()
    if not answer.open and since is None and announce is not None:
        console_url = execution_console_url(request.execution_arn, console_base)
        subject, text = waiting_notice(
            pipeline=config.name,
            environment=request.environment,
            sha=promotion.sha,
            execution_name=request.execution_name,
            answer=answer,
            console_url=console_url,
        )
        event = {
            "outcome": "waiting_for_window",
            "pipeline": config.name,
            "environment": request.environment,
            "repo": config.repo,
            "sha": promotion.sha,
            "execution_name": request.execution_name,
            "execution_arn": request.execution_arn,
            "subject": subject,
            "console_url": console_url,
            "window": payload,
        }
        announce(config, subject, text, event)
    return payload
