"""Runs one invocation of a deployed service function in a fresh interpreter, as Lambda would.

Usage: ``python -I -m promote_cli.local.target_runner CODE_DIR HANDLER`` with the event as JSON on stdin.
Prints one JSON line: ``{"result": ...}`` or ``{"errorType", "errorMessage"}``. The code directory (the
extracted zip) is the only import path, like /var/task.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
import types
import uuid


class _Context:
    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_INVOKED_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main() -> int:
    code_dir, handler = sys.argv[1], sys.argv[2]
    sys.path.insert(0, code_dir)
    module_name, _, function_name = handler.rpartition(".")
    event = json.loads(sys.stdin.read() or "null")
    try:
        module: types.ModuleType = importlib.import_module(module_name)
        result = getattr(module, function_name)(event, _Context())
        line = json.dumps({"result": result})
    except Exception as error:
        line = json.dumps(
            {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error),
            }
        )
    sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
