"""Data access: DynamoDB tables behind small interfaces."""

from __future__ import annotations

from botocore.exceptions import ClientError


def conditional_check_failed(error: ClientError) -> bool:
    """True when a conditional write was refused because its condition did not hold."""
    return str(error.response.get("Error", {}).get("Code")) == "ConditionalCheckFailedException"
