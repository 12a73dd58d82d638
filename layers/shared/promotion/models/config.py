"""The pipeline configuration schema: one document per pipeline (one service, one repository).

AWS keeps each document in SSM Parameter Store under ``{PIPELINE_CONFIG_PREFIX}{name}``; the local plane
loads the same JSON from files into its own Parameter Store. docs/contracts.md describes every field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from promotion.errors import InvalidPipelineConfig
from promotion.models.approver_input import ApproverInputField, check_input_names
from promotion.models.validation import describe_validation_error
from promotion.naming import PIPELINE_NAME_PATTERN

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# An IAM role ARN (any partition, any path); the account is its fifth field.
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
# STS's ExternalId: 2-1224 characters of [\w+=,.@:/-].
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]+$"
_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:([0-9]{12}):function:([A-Za-z0-9_-]+)")
REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
ENVIRONMENTS = ("preprod", "prod")
Environment = Literal["preprod", "prod"]


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


class HttpCheck(_Strict):
    """One request against the service and what its answer must be."""

    name: str = Field(min_length=1, max_length=80)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/", max_length=1024)
    json_body: dict[str, Any] | list[Any] | None = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_json: dict[str, Any] = Field(
        default_factory=dict,
        description="Each key must be present in the JSON answer with exactly this value (top level only)",
    )
    expect_body_contains: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    function: str | None = Field(
        default=None,
        description="The function key the canary calls directly for this check (default: http_entry)",
    )


# The run_checks function's Timeout (template.yaml) holds the hook and the test Lambda (each up to
# timeout_seconds) and the pipeline's HTTP checks: 900 s = 2 x 360 s + 180 s for the checks.
RUN_CHECKS_TIMEOUT_SECONDS = 900
MAX_SERVICE_TEST_SECONDS = 360
DEFAULT_SERVICE_TEST_SECONDS = 120
_FUNCTION_NAME_OR_ARN = r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}$"
_NAME_SEPARATORS = re.compile(r"[-_]")


class DeployedTestFunction(_Strict):
    """A test Lambda deployed beside the service and not promoted with the build: invoked as deployed."""

    function_name: str = Field(
        pattern=_FUNCTION_NAME_OR_ARN,
        max_length=140,
        description="Its name or ARN, in the environment's account and under the environment's function "
        "name prefix (the deployer role's FunctionNamePrefix, roles/deployer.yaml)",
    )
    qualifier: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="An alias or version to invoke (default: its $LATEST)",
    )

    def label(self) -> str:
        return f"{function_name(self.function_name)}:{self.qualifier or '$LATEST'}"


# A key of the environment's functions (shipped in the build), or a function deployed beside the service.
TestFunction = Annotated[str, Field(min_length=1)] | DeployedTestFunction


class ServiceTestSettings(_Strict):
    """The service's own test Lambda and pre-traffic hook in one environment (docs/release-policy.md).

    Each is either a key of the environment's ``functions`` (a string): a function shipped in the build,
    deployed with the rest, and invoked at the version this promotion published (never through its alias),
    so the tests that run are the commit's own; or ``{"function_name", "qualifier"}``: a function deployed
    beside the service, not promoted with the build, invoked as it is deployed. Both off by default.
    """

    test_function: TestFunction | None = Field(
        default=None,
        description="Invoked after the HTTP checks (preprod integration, prod canary) with the "
        "release-promotion/test/v1 contract; its cases join the check report. A function key, or "
        "{function_name, qualifier} for a test Lambda deployed beside the service",
    )
    pre_traffic_hook: TestFunction | None = Field(
        default=None,
        description="Invoked with the same contract and hook 'pre_traffic' before the checks, before any "
        "prod traffic moves; its failure fails the step. A function key, or {function_name, qualifier}",
    )
    timeout_seconds: int = Field(
        default=DEFAULT_SERVICE_TEST_SECONDS,
        ge=1,
        le=MAX_SERVICE_TEST_SECONDS,
        description="How long the test Lambda and the hook each have to answer; past it the run fails "
        f"(at most {MAX_SERVICE_TEST_SECONDS}: both fit in run_checks' {RUN_CHECKS_TIMEOUT_SECONDS} s "
        "with the HTTP checks)",
    )

    def function_keys(self) -> list[str]:
        return [key for key in (self.pre_traffic_hook, self.test_function) if isinstance(key, str)]

    def deployed_functions(self) -> list[DeployedTestFunction]:
        return [
            function
            for function in (self.pre_traffic_hook, self.test_function)
            if isinstance(function, DeployedTestFunction)
        ]


def shared_name_prefix(names: set[str]) -> str:
    """The start the environment's function names share, cut after its last ``-`` or ``_``: the least the
    deployer role's FunctionNamePrefix covers when it covers them all ("" when they share none)."""
    if not names:
        return ""
    first, last = min(names), max(names)  # what the smallest and the largest share, all share
    length = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
    common = first[:length]
    cut = max((m.end() for m in _NAME_SEPARATORS.finditer(common)), default=0)
    return common[:cut]


class EnvironmentTarget(_Strict):
    """Where one environment of the service lives."""

    functions: dict[str, str] = Field(
        min_length=1, description="Service function key -> the Lambda function's name or ARN here"
    )
    alias: str = Field(default="live", pattern=r"^[A-Za-z0-9_-]{1,128}$")
    http_entry: str = Field(description="The key of the function behind the environment's HTTP endpoint")
    base_url: str = Field(
        pattern=r"^https?://",
        description="Base URL the integration checks call (API Gateway stage, function URL, ...)",
    )
    alarms: list[str] = Field(default_factory=list)
    # The role every step that reads or changes this environment assumes (roles/deployer.yaml), in the
    # environment's own account or the control plane's. Absent: the control-plane function's own role,
    # which template.yaml gives no rights on any environment (docs/security.md).
    role_arn: str | None = Field(default=None, pattern=ROLE_ARN_PATTERN, max_length=2048)
    external_id: str | None = Field(
        default=None,
        pattern=EXTERNAL_ID_PATTERN,
        min_length=2,
        max_length=1224,
        description="Sent as sts:ExternalId when the role's trust policy asks for one",
    )
    service_tests: ServiceTestSettings = Field(default_factory=ServiceTestSettings)

    @model_validator(mode="after")
    def _entry_is_a_function(self) -> EnvironmentTarget:
        if self.http_entry not in self.functions:
            raise ValueError(
                f"http_entry {self.http_entry!r} is not one of functions {sorted(self.functions)}"
            )
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id is only sent when assuming role_arn, which is not set")
        for name in self.functions.values():
            account = function_account(name)
            if account is not None and self.account is not None and account != self.account:
                raise ValueError(
                    f"function {name} is in account {account}, role_arn in account {self.account}"
                )
        for key in self.service_tests.function_keys():
            if key not in self.functions:
                raise ValueError(
                    f"service_tests names {key!r}, which is not one of functions {sorted(self.functions)}; "
                    'a test Lambda deployed beside the service is {"function_name": ...}'
                )
        self._deployed_tests_in_scope()
        return self

    def _deployed_tests_in_scope(self) -> None:
        """A test Lambda deployed beside the service is one the environment's deployer role may invoke: in
        its account and under the name prefix the role grants (roles/deployer.yaml's FunctionNamePrefix
        covers the environment's functions, so at least the start their names share)."""
        prefix = shared_name_prefix(self.function_names())
        for deployed in self.service_tests.deployed_functions():
            name = function_name(deployed.function_name)
            account = function_account(deployed.function_name)
            if account is not None and self.account is not None and account != self.account:
                raise ValueError(
                    f"service_tests function {deployed.function_name} is in account {account}, "
                    f"role_arn in account {self.account}"
                )
            if name in self.function_names():
                raise ValueError(
                    f"service_tests function {name} is one of functions: name its key to test the "
                    "version this promotion publishes"
                )
            if not prefix or not name.startswith(prefix):
                raise ValueError(
                    f"service_tests function {name} is outside the environment's function name prefix "
                    f"{prefix!r} (the start of {sorted(self.function_names())}): the deployer role may "
                    "invoke only functions under its FunctionNamePrefix (roles/deployer.yaml)"
                )

    @property
    def account(self) -> str | None:
        """The account the environment's role lives in (None: the control plane's own)."""
        return self.role_arn.split(":")[4] if self.role_arn else None

    def function_names(self) -> set[str]:
        """The environment's functions by bare name (a function may be configured by ARN)."""
        return {function_name(name) for name in self.functions.values()}

    def deployed_test_names(self) -> set[str]:
        """The test Lambdas deployed beside the service, by bare name (invoked, never changed)."""
        return {function_name(f.function_name) for f in self.service_tests.deployed_functions()}


def function_account(name_or_arn: str) -> str | None:
    """The account in a function ARN (None for a bare name: the caller's account)."""
    found = _FUNCTION_ARN.match(name_or_arn)
    return found.group(1) if found else None


def function_name(name_or_arn: str) -> str:
    """A Lambda function's bare name, given its name, ``name:qualifier`` or ARN."""
    found = _FUNCTION_ARN.match(name_or_arn)
    return found.group(2) if found else name_or_arn.split(":", 1)[0]


class Environments(_Strict):
    preprod: EnvironmentTarget
    prod: EnvironmentTarget

    @model_validator(mode="after")
    def _same_service_functions(self) -> Environments:
        # The same build moves through both: each environment must run the same set of functions.
        if set(self.preprod.functions) != set(self.prod.functions):
            raise ValueError(
                f"preprod functions {sorted(self.preprod.functions)} and prod functions "
                f"{sorted(self.prod.functions)} must have the same keys"
            )
        # In one account (or with one role) a name shared by both environments would let one environment's
        # credentials change the other's function.
        if self.preprod.account == self.prod.account:
            shared = (self.preprod.function_names() | self.preprod.deployed_test_names()) & (
                self.prod.function_names() | self.prod.deployed_test_names()
            )
            if shared:
                raise ValueError(
                    f"preprod and prod share functions {sorted(shared)} in one account; each environment "
                    "needs functions of its own"
                )
            shared_alarms = set(self.preprod.alarms) & set(self.prod.alarms)
            if shared_alarms:
                raise ValueError(f"preprod and prod share alarms {sorted(shared_alarms)} in one account")
        if self.preprod.role_arn is not None and self.preprod.role_arn == self.prod.role_arn:
            raise ValueError("preprod and prod name the same role_arn; each environment needs its own role")
        return self

    def target(self, environment: Environment) -> EnvironmentTarget:
        return self.preprod if environment == "preprod" else self.prod


class ArtifactSource(_Strict):
    """Where CI puts builds: ``s3://{bucket}/{prefix}{owner}/{repo}/{sha}/manifest.json``."""

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="builds/", pattern=r"^$|^[^/].*/$")
    # How long a promotion waits for CI to finish uploading the build before it gives up. The ASL's
    # Retry schedule on ArtifactNotFound (5 s doubling to 60 s, 30 attempts) covers at most ~27 minutes.
    wait_seconds: int = Field(default=900, ge=0, le=1_500)


SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,20}$"


class SlackApprovalSettings(_Strict):
    """Where the Block Kit approval message goes and which Slack users stand for which approvers."""

    channel: str = Field(pattern=r"^[CGD][A-Z0-9]{2,20}$")
    # The workspace (``T...``; ``E...`` for an Enterprise Grid org) whose clicks count: user ids are only
    # unique within one, and a Slack app can be installed in several.
    team_id: str = Field(pattern=r"^[TE][A-Z0-9]{2,20}$")
    approvers: dict[str, str] = Field(
        min_length=1, description="Slack user id -> the approver (an email on the list) that user acts as"
    )

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, approvers: dict[str, str]) -> dict[str, str]:
        for user in approvers:
            if not re.match(SLACK_USER_PATTERN, user):
                raise ValueError(f"{user!r} is not a Slack user id")
        return approvers


class ApprovalSettings(_Strict):
    approvers: list[str] = Field(min_length=1)
    channels: list[Literal["email", "slack"]] = Field(default=["email"], min_length=1)
    timeout_seconds: int = Field(
        default=86_400, ge=10, le=7 * 86_400, description="The approval task's timeout and the links' expiry"
    )
    required_approvals: int = Field(
        default=1, ge=1, le=10, description="Distinct approvers who must approve; one rejection ends it"
    )
    allow_self_approval: bool = Field(
        default=False, description="False: the commit's verified author cannot approve their own change"
    )
    # When the author is unknown or unverified the two-person rule cannot be checked: "refuse" (fail closed)
    # refuses every approval of such a promotion; "allow" lets it through, said on the page and in the audit.
    unverified_author: Literal["refuse", "allow"] = "refuse"
    on_newer_request: Literal["supersede", "queue"] = Field(
        default="supersede",
        description="A newer promotion asking while an older one waits: end the older, or queue the newer",
    )
    slack: SlackApprovalSettings | None = None
    operators: dict[str, str] = Field(
        default_factory=dict,
        description="IAM principal ARN (or a prefix ending in *) -> the approver an operator acts as",
    )
    github_logins: dict[str, str] = Field(
        default_factory=dict,
        description="Approver -> GitHub login, for the two-person rule (else commit emails are compared)",
    )
    inputs: list[ApproverInputField] = Field(
        default_factory=list,
        description="Fields the approver fills in when approving (docs/release-policy.md); none by default",
    )

    @field_validator("approvers")
    @classmethod
    def _approvers_are_emails(cls, approvers: list[str]) -> list[str]:
        for approver in approvers:
            if not re.match(EMAIL_PATTERN, approver):
                raise ValueError(f"approver {approver!r} is not an email address")
        return approvers

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalSettings:
        if self.required_approvals > len(set(self.approvers)):
            distinct = len(set(self.approvers))
            raise ValueError(f"required_approvals {self.required_approvals} exceeds the {distinct} approvers")
        if "slack" in self.channels and self.slack is None:
            raise ValueError("channel 'slack' needs the 'slack' settings (channel and approvers)")
        check_input_names(self.inputs)
        for approver in self.github_logins:
            if approver not in self.approvers:
                raise ValueError(f"github_logins names {approver!r}, who is not on the approvers list")
        mapped = {**(self.slack.approvers if self.slack else {}), **self.operators}
        for identity, approver in mapped.items():
            if approver not in self.approvers:
                raise ValueError(f"{identity} maps to {approver!r}, who is not on the approvers list")
        return self


# Step Functions ends an execution at 25,000 history events, past any Catch: no Record failure, no
# rollback. A bake poll records 9 (Check prod alarms 5, Bake complete? 2, Bake 2); 2,000 polls (18,000)
# leave room for the longest rollout (100 steps of 14) and a bad day's retries (bench/sfn_limits_bench.py).
MAX_BAKE_POLLS = 2_000


class BakeSettings(_Strict):
    duration_seconds: int = Field(default=600, ge=0, le=86_400)
    poll_interval_seconds: int = Field(default=60, ge=1, le=3_600)
    # An alarm that stays INSUFFICIENT_DATA through the whole bake proves nothing (a canary that got no
    # traffic): "fail" treats that as a failed bake; "ok" accepts it.
    insufficient_data: Literal["fail", "ok"] = "fail"

    @model_validator(mode="after")
    def _fits_the_execution_history(self) -> BakeSettings:
        polls = self.polls()
        if polls > MAX_BAKE_POLLS:
            raise ValueError(
                f"a {self.duration_seconds} s bake polled every {self.poll_interval_seconds} s takes {polls} "
                f"polls; at most {MAX_BAKE_POLLS} fit in Step Functions' execution history "
                "(poll less often or bake for less)"
            )
        return self

    def polls(self) -> int:
        """Alarm polls of a bake that passes: one at the start, then one every interval to the end."""
        return -(-self.duration_seconds // self.poll_interval_seconds) + 1


class CanaryAnalysisSettings(_Strict):
    """Judge the new prod versions against the previous ones on Lambda's per-version metrics.

    Lambda publishes, for invocations through an alias, ``AWS/Lambda`` metrics with the dimensions
    ``FunctionName``, ``Resource`` (``function:alias``) and ``ExecutedVersion``: each version's
    Invocations, Errors, Throttles and Duration. At every alarm check of the traffic shift and the bake,
    both versions are read over the last ``window_seconds``: the new version fails when its error rate
    exceeds the previous version's by more than ``max_error_rate_increase`` or its p99 Duration exceeds
    the previous one's by more than ``max_p99_increase_percent`` (and ``p99_tolerance_ms``), once each
    version has ``min_invocations``. Before that the result is inconclusive: see ``inconclusive``.
    """

    enabled: bool = False
    # The keys of the functions judged (default: every function the promotion changes). A function with
    # too little traffic through its alias to ever reach min_invocations belongs outside this list.
    functions: list[str] | None = Field(default=None, min_length=1)
    # Fail when the new error rate (0..1) exceeds the previous version's by more than this.
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    # Fail when the new p99 Duration exceeds the previous one's by more than this percentage ...
    max_p99_increase_percent: float = Field(default=20.0, ge=0, le=10_000)
    # ... and by more than this many milliseconds (noise on fast functions never fails).
    p99_tolerance_ms: float = Field(default=0.0, ge=0, le=60_000)
    # Invocations each version needs in the window before a verdict (until then: inconclusive).
    min_invocations: int = Field(default=100, ge=1, le=10_000_000)
    # How far back both versions' metrics are read at each check.
    window_seconds: int = Field(default=900, ge=60, le=86_400)
    # When the bake ends without a verdict: "continue" passes, "fail" fails, "hold" keeps polling for up
    # to max_hold_seconds past the bake's duration, then fails.
    inconclusive: Literal["continue", "hold", "fail"] = "hold"
    max_hold_seconds: int = Field(default=600, ge=0, le=86_400)


# The Wait between two checks of a closed window records about 7 history events; 2,000 rechecks (14,000)
# leave room for the rest of the promotion under Step Functions' 25,000 (see MAX_BAKE_POLLS).
MAX_WINDOW_RECHECKS = 2_000
# A window's rule starts here (in its time zone) unless it says otherwise: a Monday, midnight.
DEFAULT_WINDOW_DTSTART = datetime(2024, 1, 1)


class RecurringWindow(_Strict):
    """A window that recurs: when each occurrence starts (an RFC 5545 RRULE, in the windows' time zone)
    and how long it lasts (wall-clock time there, so a window that ends Monday 08:00 ends at 08:00
    whether or not the clocks changed over the weekend)."""

    name: str = Field(default="", max_length=80, description="Said in the notice and the console")
    rrule: str = Field(
        min_length=5,
        max_length=1000,
        description="RFC 5545 recurrence rule of the starts, e.g. FREQ=WEEKLY;BYDAY=FR;BYHOUR=16",
    )
    duration: timedelta = Field(description="How long each occurrence lasts (ISO 8601, e.g. P2DT16H)")
    dtstart: datetime = Field(
        default=DEFAULT_WINDOW_DTSTART,
        description="The rule's first start, local time without offset (default 2024-01-01T00:00, a "
        "Monday); hours, minutes and seconds the rule does not set come from it",
    )

    @model_validator(mode="after")
    def _a_rule_dateutil_reads(self) -> RecurringWindow:
        from promotion.pipeline.windows import parse_rule

        if self.dtstart.tzinfo is not None:
            raise ValueError("dtstart is local time in the windows' time_zone: give it without an offset")
        if not timedelta(minutes=1) <= self.duration <= timedelta(days=31):
            raise ValueError("duration must be between one minute and 31 days")
        parse_rule(self.rrule, self.dtstart)
        return self


class DatedFreeze(_Strict):
    """No prod deploy from ``start`` to ``end`` (a holiday, a sale, a release of someone else's)."""

    start: datetime = Field(description="ISO 8601; without an offset, local time in the windows' time_zone")
    end: datetime
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> DatedFreeze:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with an offset or both without")
        if self.end <= self.start:
            raise ValueError(f"freeze {self.reason!r} ends before it starts")
        return self


def _prod_only() -> list[Environment]:
    return ["prod"]


class WindowSettings(_Strict):
    """When prod may be deployed. Inside an allow window (if any is declared) and inside no deny window
    or freeze; otherwise the promotion waits for the next opening (``outside: wait``, at most
    ``max_wait_hours``) or fails (``outside: fail``) with DeploymentWindowClosed. Rollbacks always go."""

    time_zone: str = Field(default="UTC", description="IANA time zone of the rules and of local freezes")
    allow: list[RecurringWindow] = Field(default_factory=list, max_length=20)
    deny: list[RecurringWindow] = Field(default_factory=list, max_length=20)
    freezes: list[DatedFreeze] = Field(default_factory=list, max_length=100)
    environments: list[Environment] = Field(
        default_factory=_prod_only,
        min_length=1,
        description="The environments the windows hold (default prod only)",
    )
    outside: Literal["wait", "fail"] = Field(
        default="wait", description="Outside the windows: wait for the next opening, or fail at once"
    )
    max_wait_hours: float = Field(
        default=72, ge=0, le=14 * 24, description="The longest a promotion waits (from its first check)"
    )
    recheck_seconds: int = Field(
        default=900,
        ge=10,
        le=3_600,
        description="A waiting promotion checks again at least this often, so an override, a lifted "
        "freeze or a changed window applies without waiting for the old opening",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from promotion.pipeline.windows import time_zone

        time_zone(zone)
        return zone

    @model_validator(mode="after")
    def _fits_the_execution_history(self) -> WindowSettings:
        rechecks = int(self.max_wait_hours * 3_600 // self.recheck_seconds) + 1
        if self.outside == "wait" and rechecks > MAX_WINDOW_RECHECKS:
            raise ValueError(
                f"waiting {self.max_wait_hours} h with a check every {self.recheck_seconds} s takes "
                f"{rechecks} checks; at most {MAX_WINDOW_RECHECKS} fit in Step Functions' execution "
                "history (check less often or wait less)"
            )
        return self


class RolloutSettings(_Strict):
    """How prod's traffic moves to the new version after the canary checks pass.

    ``all_at_once``: the alias moves in one step. ``canary``: ``canary_percent`` of requests for
    ``interval_seconds``, then all. ``linear``: ``step_percent`` more every ``interval_seconds``. The alarms
    are polled at every step, and any failure puts 100% back on the previous version.
    """

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: int = Field(default=10, ge=1, le=99)
    step_percent: int = Field(default=10, ge=1, le=99)
    interval_seconds: int = Field(default=60, ge=1, le=3_600)

    def weights(self) -> list[float]:
        """The share of traffic on the new version at each step, ending at 1.0."""
        if self.strategy == "canary":
            return [self.canary_percent / 100, 1.0]
        if self.strategy == "linear":
            steps = list(range(self.step_percent, 100, self.step_percent))
            return [step / 100 for step in steps] + [1.0]
        return [1.0]


class LockSettings(_Strict):
    # How long a deploy lock lasts without renewal; a lock whose owner execution has ended is reclaimed
    # at once, so this only bounds a lock left by an execution that is still running but stuck.
    lease_seconds: int = Field(default=3 * 3_600, ge=60, le=7 * 86_400)


class NotificationSettings(_Strict):
    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _are_emails(cls, emails: list[str]) -> list[str]:
        for email in emails:
            if not re.match(EMAIL_PATTERN, email):
                raise ValueError(f"{email!r} is not an email address")
        return emails


# Lock files only: they pin exact versions and run no code. Manifests such as package.json or pyproject.toml
# can carry scripts or build settings, so a pipeline that wants them must list them itself.
DEFAULT_DEPENDENCY_MANIFESTS = (
    "requirements*.txt",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.sum",
    "Cargo.lock",
    "Gemfile.lock",
    "composer.lock",
)
SECRET_ID_PATTERN = r"^[A-Za-z0-9/_+=.@:-]{1,2048}$"  # noqa: S105 (a name pattern, not a secret)
# Which functions may read a secret follows from its name (template.yaml's IAM): webhook secrets under
# {stack}/github/webhook/ (the webhook only), API tokens under {stack}/github/api/ (the functions that call
# GitHub's API only).
WEBHOOK_SECRET_SEGMENT = "/github/webhook/"  # noqa: S105 (a name part, not a secret)
API_TOKEN_SEGMENT = "/github/api/"  # noqa: S105 (a name part, not a secret)
_SECRET_ARN = re.compile(r"^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:(.+)$")


def secret_name(secret_id: str) -> str:
    """The name in a Secrets Manager id given as a name or as an ARN (which may end in AWS's ``-XXXXXX``)."""
    match = _SECRET_ARN.match(secret_id)
    return match.group(1) if match else secret_id


def webhook_secret_prefix(stack_name: str) -> str:
    return f"{stack_name}{WEBHOOK_SECRET_SEGMENT}"


def api_token_prefix(stack_name: str) -> str:
    return f"{stack_name}{API_TOKEN_SEGMENT}"


def _under(secret_id: str | None, segment: str, field: str) -> str | None:
    if secret_id is None:
        return None
    name = secret_name(secret_id)
    stack, found, rest = name.partition(segment)
    if not found or not stack or "/" in stack or not rest:
        raise ValueError(f"{field} {secret_id!r} must be named {{stack}}{segment}...")
    return secret_id


class GitHubSettings(_Strict):
    """How the pipeline talks to GitHub: webhook triggers, the Dependabot proof and deployment statuses."""

    # The workflow whose successful run on ``branch`` starts a promotion: its file path
    # (``.github/workflows/build.yml``). Never its name: any workflow file can call itself anything.
    build_workflow: str = Field(
        default=".github/workflows/build.yml",
        pattern=r"^\.github/workflows/[^/@]+\.ya?ml$",
        max_length=255,
    )
    push_triggers: bool = Field(
        default=False, description="Start on a push to branch too (the build must be published first)"
    )
    # Globs a Dependabot bypass may change: without "/" a glob matches the file name in any directory,
    # with "/" it matches the whole path.
    dependency_manifests: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DEPENDENCY_MANIFESTS), max_length=100
    )
    api_url: str = Field(
        default="https://api.github.com",
        pattern=r"^https?://[^\s]+$",
        description="REST API root: https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise",
    )
    # Secrets Manager ids. The webhook secret ({stack}/github/webhook/{pipeline}) defaults to the stack's
    # own; the API token is {stack}/github/api/{pipeline}. Without a token nothing can be proven (every
    # change needs approval) and no deployment statuses are posted.
    webhook_secret_id: str | None = Field(default=None, pattern=SECRET_ID_PATTERN)
    token_secret_id: str | None = Field(default=None, pattern=SECRET_ID_PATTERN)

    @field_validator("webhook_secret_id")
    @classmethod
    def _webhook_secret_named_as_one(cls, secret_id: str | None) -> str | None:
        return _under(secret_id, WEBHOOK_SECRET_SEGMENT, "webhook_secret_id")

    @field_validator("token_secret_id")
    @classmethod
    def _token_named_as_one(cls, secret_id: str | None) -> str | None:
        return _under(secret_id, API_TOKEN_SEGMENT, "token_secret_id")

    @field_validator("dependency_manifests")
    @classmethod
    def _globs_are_sane(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            # A glob without a single letter or digit (``*``, ``*.*``, ``**/*``) would match any file.
            if not re.search(r"[A-Za-z0-9]", glob) or len(glob) > 200:
                raise ValueError(f"dependency manifest glob {glob!r} is too broad or too long")
        return globs


class PipelineConfig(_Strict):
    """One pipeline: one service, its repository, its two environments, and how a build moves through them."""

    # Editors find the JSON Schema through this key (docs/pipeline.schema.json); the control plane
    # ignores it, and unknown keys stay refused.
    json_schema: str | None = Field(
        default=None,
        alias="$schema",
        max_length=2048,
        description="The JSON Schema this file follows, for editors (docs/pipeline.schema.json); ignored",
    )
    name: str = Field(pattern=PIPELINE_NAME_PATTERN)
    repo: str = Field(pattern=REPO_PATTERN)
    branch: str = Field(default="main", min_length=1)
    artifacts: ArtifactSource
    environments: Environments
    checks: list[HttpCheck] = Field(min_length=1)
    canary_checks: list[HttpCheck] | None = Field(
        default=None, description="Checks on the new prod versions, called directly (default: checks)"
    )
    approval: ApprovalSettings
    bake: BakeSettings = Field(default_factory=BakeSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    canary_analysis: CanaryAnalysisSettings = Field(default_factory=CanaryAnalysisSettings)
    locks: LockSettings = Field(default_factory=LockSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    windows: WindowSettings | None = Field(
        default=None, description="When prod may be deployed (absent: at any time)"
    )

    @model_validator(mode="after")
    def _check_functions_exist(self) -> PipelineConfig:
        for check in [*self.checks, *(self.canary_checks or [])]:
            if check.function is not None and check.function not in self.environments.prod.functions:
                raise ValueError(f"check {check.name!r} names unknown function {check.function!r}")
        unknown = sorted(set(self.canary_analysis.functions or []) - set(self.environments.prod.functions))
        if unknown:
            raise ValueError(f"canary_analysis names unknown functions: {', '.join(unknown)}")
        analysis = self.canary_analysis
        if analysis.enabled and analysis.inconclusive == "hold":
            held = BakeSettings.model_construct(
                duration_seconds=self.bake.duration_seconds + analysis.max_hold_seconds,
                poll_interval_seconds=self.bake.poll_interval_seconds,
            )
            if held.polls() > MAX_BAKE_POLLS:
                raise ValueError(
                    f"a bake held up to {analysis.max_hold_seconds} s past its end takes {held.polls()} "
                    f"polls; at most {MAX_BAKE_POLLS} fit in Step Functions' execution history"
                )
        return self

    @property
    def effective_canary_checks(self) -> list[HttpCheck]:
        return list(self.canary_checks) if self.canary_checks is not None else list(self.checks)


def parse_pipeline_config(raw: str | bytes | dict[str, Any], *, source: str) -> PipelineConfig:
    """Validate one pipeline document; ``source`` names where it came from in the error."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except json.JSONDecodeError as error:
        raise InvalidPipelineConfig(f"{source}: not JSON: {error}") from error
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise InvalidPipelineConfig(f"{source}: {describe_validation_error(error)}") from error
