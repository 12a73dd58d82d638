"""Where "the console" shows a promotion's execution: the one place that decides, for every link to one
(approval emails and pages, Slack messages, GitHub deployment statuses, the CLI).

On AWS it is the Step Functions console of the execution's partition and region. A control plane with a
console of its own names that console's base URL instead (the local plane sets ``EXECUTION_CONSOLE_URL``
for its handlers, and its ready line carries the same value as ``console_url``); the execution's page is
then ``{base}/executions/{the URL-encoded execution ARN}``.
"""

from __future__ import annotations

from urllib.parse import quote

# The console host of each AWS partition (the region is a subdomain of it).
AWS_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
EXECUTIONS_PATH = "executions"


def execution_console_url(execution_arn: str, console_base: str | None = None) -> str | None:
    """The execution's page: under ``console_base`` when given, else in the AWS Step Functions console.

    None for a string that is not a Step Functions execution ARN (or of a partition without a known
    console): a link that leads nowhere is worse than none.
    """
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "execution":
        return None
    if console_base:
        return f"{console_base.rstrip('/')}/{EXECUTIONS_PATH}/{quote(execution_arn, safe='')}"
    partition, region = parts[1], parts[3]
    host = AWS_CONSOLE_HOSTS.get(partition)
    if host is None or not region:
        return None
    return f"https://{region}.{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"
