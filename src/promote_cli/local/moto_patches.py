"""Where moto's behaviour differs from AWS in ways a promotion depends on, the local plane corrects it here.

- UpdateFunctionCode with ``S3ObjectVersion``: moto reads the latest object of the key; AWS reads the named
  version. A promotion pins a version precisely so that a later overwrite cannot change what deploys.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.s3.models import s3_backends

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    original = lambda_models.LambdaFunction._set_function_code

    def set_function_code(self: Any, updated_spec: dict[str, Any]) -> None:
        version_id = updated_spec.get("S3ObjectVersion")
        if version_id is None or "S3Bucket" not in updated_spec or updated_spec is self.code:
            original(self, updated_spec)
            return
        backend = s3_backends[self.account_id][self.partition]
        try:
            key = backend.get_object(updated_spec["S3Bucket"], updated_spec["S3Key"], version_id=version_id)
        except Exception as error:  # moto raises several types for a missing bucket, key or version
            raise InvalidParameterValueException(
                f"Error occurred while GetObject. S3 Error Message: {type(error).__name__}"
            ) from error
        if key is None:
            raise InvalidParameterValueException(
                "Error occurred while GetObject. S3 Error Code: NoSuchVersion. "
                "S3 Error Message: The specified version does not exist."
            )
        self.code_bytes, self.code_size, self.code_sha_256, self.code_digest = lambda_models._s3_content(key)
        self.code.update(
            S3Bucket=updated_spec["S3Bucket"], S3Key=updated_spec["S3Key"], S3ObjectVersion=version_id
        )

    lambda_models.LambdaFunction._set_function_code = set_function_code  # type: ignore[method-assign]
    _applied = True
