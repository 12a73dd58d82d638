"""Structured approver input: the fields an approver fills in when approving (a change ticket, a risk), as
the pipeline's ``approval.inputs`` declares them, and their validation.

Every channel hands the values over as claims (a form's strings, a Slack modal's state, the CLI's
``name=value``); :func:`validate_inputs` turns them into typed values or refuses them field by field. The
decision path validates them against the rules snapshot of the approval record, never the page's copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promotion.errors import PromotionError

InputValue = str | int | bool
InputType = Literal["string", "enum", "boolean", "integer"]
INPUT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_INPUTS = 8
MAX_STRING_LENGTH = 500
# Slack's limit for an option's text, and a sane bound for a form.
MAX_CHOICE_LENGTH = 75
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")


class ApproverInputInvalid(PromotionError):
    """Approver input that does not match the pipeline's ``approval.inputs``; ``errors`` is per field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class ApproverInputField(BaseModel):
    """One field the approver fills in."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    name: str = Field(pattern=INPUT_NAME_PATTERN, description="Identifier: the key in the recorded values")
    label: str = Field(min_length=1, max_length=80, description="What the approver is asked")
    type: InputType = "string"
    required: bool = Field(
        default=False,
        description="An approval needs a value (a required boolean must be true); a rejection never does",
    )
    pattern: str | None = Field(
        default=None,
        max_length=200,
        description="string: a Python regular expression the whole value must match",
    )
    max_length: int = Field(default=200, ge=1, le=MAX_STRING_LENGTH, description="string: at most")
    choices: list[str] | None = Field(default=None, description="enum: the values to choose from")
    minimum: int | None = Field(default=None, description="integer: at least")
    maximum: int | None = Field(default=None, description="integer: at most")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _fits_type(self) -> ApproverInputField:
        if self.type == "enum":
            if not self.choices:
                raise ValueError(f"input {self.name!r}: an enum needs choices")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError(f"input {self.name!r}: choices repeat")
            for choice in self.choices:
                if not 1 <= len(choice) <= MAX_CHOICE_LENGTH:
                    raise ValueError(f"input {self.name!r}: choice {choice!r} is empty or too long")
        elif self.choices is not None:
            raise ValueError(f"input {self.name!r}: choices are for enum inputs only")
        if self.type != "string" and self.pattern is not None:
            raise ValueError(f"input {self.name!r}: pattern is for string inputs only")
        if self.type != "integer" and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"input {self.name!r}: minimum and maximum are for integer inputs only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"input {self.name!r}: minimum exceeds maximum")
        return self


def check_input_names(fields: list[ApproverInputField]) -> None:
    """Names are keys: each once, and at most :data:`MAX_INPUTS` fields."""
    names = [field.name for field in fields]
    if len(names) > MAX_INPUTS:
        raise ValueError(f"at most {MAX_INPUTS} approval inputs")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"approval input names repeat: {', '.join(repeated)}")


def _typed(field: ApproverInputField, raw: object) -> InputValue | None:
    """The value of one field, None when absent; raises ValueError with the approver's message."""
    if raw is None:
        return None
    if field.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return None if text == "" else False
        raise ValueError("must be true or false")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError("must be text")
    text = str(raw).strip()
    if not text:
        return None
    if field.type == "integer":
        try:
            number = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if field.minimum is not None and number < field.minimum:
            raise ValueError(f"must be at least {field.minimum}")
        if field.maximum is not None and number > field.maximum:
            raise ValueError(f"must be at most {field.maximum}")
        return number
    if field.type == "enum":
        if text not in (field.choices or []):
            raise ValueError(f"must be one of {', '.join(field.choices or [])}")
        return text
    if len(text) > field.max_length:
        raise ValueError(f"must be at most {field.max_length} characters")
    if field.pattern is not None and re.fullmatch(field.pattern, text) is None:
        raise ValueError(f"must match {field.pattern}")
    return text


def validate_inputs(
    fields: list[ApproverInputField], raw: Mapping[str, object], *, require: bool = True
) -> dict[str, InputValue]:
    """The typed values of ``raw`` per ``fields``; raises :class:`ApproverInputInvalid` naming each bad
    field. A name that is not a field is refused (a typo must not pass as an answer). ``require`` False
    (a rejection) lets required fields be empty."""
    known = {field.name for field in fields}
    errors = {name: "is not an input of this pipeline" for name in raw if name not in known}
    values: dict[str, InputValue] = {}
    for field in fields:
        try:
            value = _typed(field, raw.get(field.name))
        except ValueError as error:
            errors[field.name] = f"{field.label} {error}"
            continue
        if require and field.required and (value is None or value is False):
            errors[field.name] = f"{field.label} is required" + (
                " (must be confirmed)" if field.type == "boolean" else ""
            )
        elif value is not None:
            values[field.name] = value
    if errors:
        raise ApproverInputInvalid(errors)
    return values


def input_text(values: Mapping[str, InputValue]) -> str:
    """``name=value, ...`` for notices and audit details."""
    return ", ".join(f"{name}={_shown(value)}" for name, value in values.items())


def _shown(value: InputValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
