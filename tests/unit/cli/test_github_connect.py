"""``promote github connect``'s webhook: its URL, events and secret from the pipeline, and the page and
steps for a repository on github.com or on GitHub Enterprise Server."""

from __future__ import annotations

import json
from typing import Any

from promote_cli.github_connect import manual_steps, settings_page, webhook_spec
from promotion.models.config import PipelineConfig, parse_pipeline_config
from tests.support.paths import REPO_ROOT

EXAMPLE = json.loads((REPO_ROOT / "docs" / "examples" / "pipeline.json").read_text())


def config(**github: Any) -> PipelineConfig:
    document = {**EXAMPLE, "github": {**EXAMPLE.get("github", {}), **github}}
    return parse_pipeline_config(document, source="test")


def test_the_webhook_posts_to_the_pipelines_route_for_finished_builds_with_the_stacks_secret() -> None:
    pipeline = config(push_triggers=False, webhook_secret_id=None)
    spec = webhook_spec(pipeline, stack="release", api_url="https://abc.execute-api.eu-west-1.amazonaws.com/")
    assert spec.url == f"https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/github/{pipeline.name}"
    assert spec.events == ("workflow_run",)
    assert spec.secret_id == "release/github/webhook/default"
    body = spec.hook_body("s" * 32)
    assert body["config"] == {
        "url": spec.url,
        "content_type": "json",
        "insecure_ssl": "0",
        "secret": "s" * 32,
    }
    assert body["active"] is True


def test_push_triggers_add_the_push_event_and_a_pipelines_own_secret_is_used() -> None:
    pipeline = config(push_triggers=True, webhook_secret_id="release/github/webhook/payments")
    spec = webhook_spec(pipeline, stack="release", api_url="https://api.example.com")
    assert spec.events == ("workflow_run", "push")
    assert spec.secret_id == "release/github/webhook/payments"


def test_the_settings_page_is_on_github_com_or_the_enterprise_host() -> None:
    assert settings_page(config()) == f"https://github.com/{EXAMPLE['repo']}/settings/hooks/new"
    enterprise = config(api_url="https://ghe.example.com/api/v3")
    assert settings_page(enterprise) == f"https://ghe.example.com/{EXAMPLE['repo']}/settings/hooks/new"


def test_the_steps_say_why_they_are_printed_and_read_the_secret_in_the_stacks_region() -> None:
    pipeline = config(push_triggers=True)
    spec = webhook_spec(pipeline, stack="release", api_url="https://api.example.com")
    steps = manual_steps(pipeline, spec, region="eu-west-1", token_env="GITHUB_TOKEN")
    assert steps[0].startswith("No GitHub token in $GITHUB_TOKEN: ")
    assert any(
        line.strip()
        == f"aws secretsmanager get-secret-value --secret-id {spec.secret_id} --region eu-west-1 "
        "--query SecretString --output text"
        for line in steps
    )
    assert any(line.endswith("Workflow runs, Pushes (nothing else)") for line in steps)
