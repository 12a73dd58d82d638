"""Release preprod lock: preprod is free for the next promotion while this one waits for approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promotion.observability import entry_point

from promotion.models.steps import ReleaseLockRequest
from promotion.runtime import environment_store, parse_request
from promotion.steps import release_lock as release_lock_step

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry_point
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return release_lock_step.release_lock(environment_store(), parse_request(event, ReleaseLockRequest))
