"""The operator's ``promote`` CLI against the local plane in its own process, and IAM users to sign as."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from promote_cli.local.plane import LocalControlPlane


def promote(
    plane: LocalControlPlane,
    *args: str,
    credentials: dict[str, str] | None = None,
    local: bool = False,
    variables: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The operator's ``promote`` CLI in its own process. ``local``: as the local plane's operator (its ready
    line's credentials); otherwise signed with ``credentials`` against the plane's API URL. ``variables``:
    more environment variables (none of the caller's ``AWS_*`` or ``GITHUB_*`` reach it)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    environment.update(variables or {})
    if local:
        state_dir = Path(tempfile.mkdtemp(prefix="promote-state-"))
        (state_dir / "local.json").write_text(json.dumps(plane.ready_info()))
        environment["PROMOTE_STATE_DIR"] = str(state_dir)
        target = ["--local"]
    else:
        environment.update(credentials or {})
        target = ["--region", plane.options.region]
    command = [*target, *args] if local else [*target, *args, "--api-url", plane.api_url]
    return subprocess.run(
        [sys.executable, "-m", "promote_cli", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def iam_user(plane: LocalControlPlane, name: str, *, operator_policy: bool) -> dict[str, str]:
    """A new IAM user of the local plane (with the template's operator policy, or none): its credentials."""
    iam = plane.client("iam")
    user = iam.create_user(UserName=f"{name}-{secrets.token_hex(3)}")["User"]
    if operator_policy:
        iam.attach_user_policy(UserName=user["UserName"], PolicyArn=plane.operator["policy_arn"])
    else:
        # Everything an operator used to need to decide directly, but not the route.
        iam.put_user_policy(
            UserName=user["UserName"],
            PolicyName="direct",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": ["states:*", "dynamodb:*"], "Resource": "*"},
                        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:s3:::x"},
                    ],
                }
            ),
        )
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "arn": user["Arn"],
    }
