"""The JSON bodies of the operator routes: size-limited, a JSON object, validated by a pydantic model.

Every ``reason`` is stripped first, so a reason of blanks is as missing as none. A refusal is
``BodyInvalid`` (400) with a message that says what is wrong and what the body should look like.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from promotion.models.validation import describe_validation_error

MAX_BODY_BYTES = 8 * 1024

BodyT = TypeVar("BodyT", bound=BaseModel)


class BodyInvalid(Exception):
    pass


def json_body(raw: str, model: type[BodyT], *, shape: str) -> BodyT:
    """``raw`` as ``model``; ``shape``: an example body, named when the body is not a JSON object."""
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise BodyInvalid(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(raw or "null")
    except ValueError:
        raise BodyInvalid("the body is not JSON") from None
    if not isinstance(document, dict):
        raise BodyInvalid(f"the body must be a JSON object: {shape}")
    if isinstance(document.get("reason"), str):
        document = {**document, "reason": document["reason"].strip()}
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise BodyInvalid(describe_validation_error(error)) from None
