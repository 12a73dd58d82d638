"""Turning pydantic validation errors into one clear line."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(error: ValidationError) -> str:
    """``field.path: message; other.field: message`` — short enough for an HTTP body or a CLI line."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)
