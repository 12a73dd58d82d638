"""Secrets from Secrets Manager through powertools parameters (cached in the warm function)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters


def get_secret_bytes(secret_id: str, *, max_age: int = 300) -> bytes:
    value = parameters.get_secret(secret_id, max_age=max_age)
    secret = value.encode() if isinstance(value, str) else bytes(value)
    if len(secret) < 32:
        # Fail closed: a short or empty key would make every signature guessable.
        raise RuntimeError(f"secret {secret_id} is shorter than 32 bytes")
    return secret
