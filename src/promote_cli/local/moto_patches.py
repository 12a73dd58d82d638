"""Where moto's behaviour differs from AWS in ways a promotion depends on, the local plane corrects it here.

- UpdateFunctionCode with ``S3ObjectVersion``: moto reads the latest object of the key; AWS reads the named
  version. A promotion pins a version precisely so that a later overwrite cannot change what deploys.
- UpdateAlias with ``RevisionId``: moto ignores it and never changes an alias's revision; AWS refuses a
  stale revision with PreconditionFailedException. Deploys and rollbacks guard every alias move with it.
- StopExecution: moto flags the execution stopped but leaves a ``waitForTaskToken`` task waiting (the
  execution stays RUNNING until the task times out) and sleeps out a Retry interval (then invokes the
  task again, and reports RUNNING meanwhile); AWS ends the execution at once as ABORTED and runs nothing
  after. The patch reports ABORTED as soon as it is stopped, interrupts the execution's waiting tasks, so
  ``promote cancel`` ends a promotion waiting for approval, and makes the Retry backoff a wait that a stop
  ends (moto's retry loop runs only while the execution runs).
- GetMetricData with a percentile statistic (``p99``): moto computes only Sum, Average, Minimum, Maximum
  and SampleCount and answers None for the rest. The patch computes percentiles (nearest rank) from the
  single values put (``Values``/``Counts`` or ``Value``), which the canary analysis reads for Duration.
- A Wait with ``Timestamp``/``TimestampPath``: moto compares the UTC timestamp with the machine's local
  time and rounds the wait down to whole seconds (waking up to a second early); AWS waits until that UTC
  instant. The patch reads the clock in UTC and rounds up ("Wait for deployment window").
- SendTaskFailure's ``cause``: moto drops it (the task fails with a null cause); AWS keeps it. A rejection's
  reason and a superseded request's successor travel in it.

And work the interpreter repeats without need, done once (speed only, no change of behaviour):
``apply_interpreter_caches`` parses each state machine definition once instead of at every execution
start (moto parses the whole ASL with ANTLR, written in Python, per execution), parses each JSONPath once
instead of at every use, and reuses one Lambda client instead of creating one per Task; moto's server
lists its own package directory once, not at every request; and
``GetExecutionHistory`` writes the interpreter's events (already in the API's shape) as JSON directly,
instead of through moto's generic serializer, which walks every member of the 60-member HistoryEvent
shape for each event (about 130 ms of CPU for one promotion's history, and every poll reads it).

And one deliberate difference, only when asked for: ``apply_time_scale`` shrinks the interpreter's Wait
states, Retry intervals and task timeouts by one factor, so the long paths (artifact wait, approval
timeout, rollback retries) run in seconds. The ASL itself is unchanged. A Wait until a timestamp is a point
in real time, not a length, and still waits until it (the handlers keep the real clock).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.s3.models import s3_backends

from promote_cli.local import sfn_limits

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
    _apply_alias_revisions()
    _apply_metric_percentiles()
    _apply_task_failure_cause()
    _apply_timestamp_waits()
    _apply_stop_interrupts()
    sfn_limits.apply()
    apply_interpreter_caches()
    _apply_history_serialization()
    _apply_status_notifications()
    _applied = True


_status_listeners: list[Callable[[], None]] = []


def on_execution_status_change(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` (from moto's threads) whenever an execution starts or ends; returns the call
    that removes it. The local EventBridge polls at once instead of at its next tick."""
    _status_listeners.append(listener)
    return lambda: _status_listeners.remove(listener) if listener in _status_listeners else None


def _notify_status_change() -> None:
    for listener in list(_status_listeners):
        listener()


def _apply_status_notifications() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_start = Execution.start
    original_terminated = BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        original_start(self)
        _notify_status_change()

    def terminated(self: Any) -> None:
        original_terminated(self)
        _notify_status_change()

    Execution.start = start  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def _apply_history_serialization() -> None:
    import calendar
    import json as _json
    from datetime import UTC, datetime

    from moto.stepfunctions.responses import StepFunctionResponse

    original_response = StepFunctionResponse.get_execution_history

    def epoch_seconds(timestamp: str) -> float | int:
        # What moto's serializer writes for the JSON protocol: Unix seconds, truncated to milliseconds.
        value = datetime.fromisoformat(timestamp)
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        whole = calendar.timegm(value.astimezone(UTC).timetuple())
        return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items() if item is not None}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    def get_execution_history(self: Any) -> Any:
        history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
        events = history.get("events") if isinstance(history, dict) else None
        if not isinstance(events, list) or not all(isinstance(e.get("timestamp"), str) for e in events):
            return original_response(self)
        # Like moto's own answer, every event in one page (maxResults, reverseOrder are not applied).
        written = [{**plain(event), "timestamp": epoch_seconds(event["timestamp"])} for event in events]
        return _json.dumps({"events": written})

    StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]


def apply_interpreter_caches() -> None:
    """Parse each definition and JSONPath once, and create one Lambda client per region, not per use.

    A parsed definition is a tree of components that keep every per-execution value in the execution's
    own environment (``env.heap`` under the component's ``heap_key``, ``env.stack``), which is how moto's
    interpreter already runs a Map's iterations or a Parallel's branches on one tree; so executions can
    share it. The one lazily set attribute, ``heap_key``, is made race-free here, since two executions may
    now ask a component for it at the same moment.
    """
    import functools
    import threading

    import boto3
    from moto.stepfunctions.parser.asl.component import eval_component
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.utils import long_uid

    heap_key_lock = threading.Lock()

    def heap_key(self: Any) -> str:
        key: str | None = self.__dict__.get("_local_heap_key")
        if key is None:
            with heap_key_lock:
                key = self.__dict__.setdefault("_local_heap_key", long_uid())
        return str(key)

    eval_component.EvalComponent.heap_key = property(heap_key)  # type: ignore[assignment,method-assign]

    parse_definition = functools.lru_cache(maxsize=16)(AmazonStateLanguageParser.parse)
    AmazonStateLanguageParser.parse = staticmethod(parse_definition)  # type: ignore[method-assign]
    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[attr-defined]

    create_client = lambda_eval_utils.boto_client_for  # type: ignore[attr-defined]
    clients: dict[tuple[int, str, str, str], Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # Per default session too: the local plane's invoke hook lives on the session a client came from.
        key = (id(boto3.DEFAULT_SESSION), region, service, repr(state_credentials))
        with clients_lock:
            if key not in clients:
                clients[key] = create_client(
                    region=region, service=service, state_credentials=state_credentials
                )
            return clients[key]

    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[attr-defined]

    # moto's server lists its package directory on disk at every request to route it to a service.
    from moto import backends

    moto_modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: moto_modules  # type: ignore[assignment]


def _apply_stop_interrupts() -> None:
    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import Execution

    original_stop = Execution.stop
    original_set_error = environment.Environment.set_error

    def set_error(self: Any, error: Any) -> None:
        # A stopped execution stays ABORTED, whatever its interrupted task reports afterwards.
        if isinstance(self._program_state, ProgramStopped):
            return
        original_set_error(self, error)

    environment.Environment.set_error = set_error  # type: ignore[method-assign]

    from moto.stepfunctions.responses import StepFunctionResponse

    original_response = StepFunctionResponse.stop_execution

    def stop_execution(self: Any) -> Any:
        # moto drops StopExecution's error and cause; AWS records them on the aborted execution.
        answer = original_response(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        execution.error = self._get_param("error") or None
        execution.cause = self._get_param("cause") or None
        return answer

    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]

    from moto.stepfunctions.parser.api import ExecutionStatus

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            # As AWS: ABORTED from the moment StopExecution answers, not once the interpreter notices.
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            _notify_status_change()
        worker = getattr(self, "exec_worker", None)
        env = getattr(worker, "env", None)
        if env is None:
            return
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    Execution.stop = stop  # type: ignore[method-assign]
    _apply_interruptible_retry_backoff()


# The environment of the Retry whose interval this thread is waiting out.
_retrying = threading.local()
# Upper bound of one wait between looks at the execution's state: a stop is seen within it even if its
# wake-up came between the look and the wait.
_BACKOFF_SLICE_SECONDS = 0.25


def _apply_interruptible_retry_backoff() -> None:
    """moto's Retry sleeps its interval with ``time.sleep``: make it a wait that StopExecution (any end of
    the execution) interrupts. Intervals are scaled by ``apply_time_scale``'s factor."""
    import time as _time

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    original_eval_body = retrier_decl.RetrierDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        _retrying.env = env
        try:
            original_eval_body(self, env)
        finally:
            _retrying.env = None

    class _BackoffClock:
        """Stands in for the ``time`` module inside moto's retrier."""

        def __getattr__(self, name: str) -> Any:
            return getattr(_time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            env = getattr(_retrying, "env", None)
            deadline = _time.monotonic() + seconds * _time_scale
            while (env is None or env.is_running()) and (left := deadline - _time.monotonic()) > 0:
                if env is None:
                    _time.sleep(left)
                else:
                    env.program_state_event.wait(min(left, _BACKOFF_SLICE_SECONDS))

    retrier_decl.RetrierDecl._eval_body = eval_body  # type: ignore[method-assign]
    retrier_decl.time = _BackoffClock()  # type: ignore[assignment,attr-defined]


def percentile(values: list[float], statistic: str) -> float | None:
    """``statistic`` as CloudWatch names a percentile (``p99``, ``p99.9``) over ``values``, nearest rank."""
    try:
        rank = float(statistic[1:])
    except ValueError:
        return None
    if not values or not statistic.startswith("p") or not 0 <= rank <= 100:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[index]


def _apply_metric_percentiles() -> None:
    from moto.cloudwatch.models import Statistics

    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        value = original(self, stat)
        if value is None and stat.startswith("p"):
            return percentile(self.metric_single_values_list, stat)
        return value

    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]


def _apply_timestamp_waits() -> None:
    import datetime
    import math

    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp as timestamp_module
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    Timestamp = timestamp_module.Timestamp

    def get_wait_seconds(self: Any, env: Any) -> int:
        self.string.eval(env=env)
        text: str = env.stack.pop()
        moment = self._from_timestamp_string(timestamp=text)  # naive, UTC
        if moment is None:
            raise FailureEventException(self._create_failure_event(env, text))
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        seconds: int = max(0, math.ceil((moment - now).total_seconds()))
        return seconds

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        # The base class's, unscaled: apply_time_scale replaces WaitFunction._wait_interval.
        WaitFunction.__dict__["_wait_interval_unscaled"](self, env, wait_seconds)

    WaitFunction._wait_interval_unscaled = WaitFunction._wait_interval  # type: ignore[attr-defined]
    Timestamp._get_wait_seconds = get_wait_seconds  # type: ignore[method-assign]
    Timestamp._wait_interval = wait_interval  # type: ignore[method-assign]


def _apply_task_failure_cause() -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def _apply_alias_revisions() -> None:
    import json as _json

    from moto.awslambda.exceptions import PreconditionFailedException
    from moto.awslambda.responses import LambdaResponse
    from moto.moto_api._internal import mock_random

    original_update = lambda_models.LambdaAlias.update
    original_response = LambdaResponse.update_alias

    def update(self: Any, description: Any, function_version: Any, routing_config: Any) -> None:
        original_update(self, description, function_version, routing_config)
        self.revision_id = str(mock_random.uuid4())

    def update_alias(self: Any) -> Any:
        revision = _json.loads(self.body or "{}").get("RevisionId")
        if revision:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            alias = self.backend.get_alias(alias_name, function_name)
            if alias.revision_id != revision:
                raise PreconditionFailedException(
                    "The RevisionId provided does not match the latest RevisionId for the Lambda alias. "
                    "Call the GetAlias API to retrieve the latest RevisionId"
                )
        return original_response(self)

    lambda_models.LambdaAlias.update = update  # type: ignore[method-assign]
    LambdaResponse.update_alias = update_alias  # type: ignore[method-assign]


_time_scale = 1.0


def apply_time_scale(scale: float) -> None:
    """Shrink (or stretch) every Wait, Retry interval and task timeout of moto's ASL interpreter."""
    global _time_scale
    if not 0 < scale <= 1:
        raise ValueError(f"time scale must be in (0, 1], got {scale}")
    first = _time_scale == 1.0
    _time_scale = scale
    if not first:
        return
    # Retry intervals: the backoff clock of _apply_interruptible_retry_backoff reads _time_scale.
    from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeout_module
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * _time_scale)

    wait_function.WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]

    default = timeout_module.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS

    def timeout_body(self: Any, env: Any) -> None:
        seconds = self._eval_seconds(env=env)
        env.stack.append(seconds if seconds >= default else max(seconds * _time_scale, 0.001))

    timeout_module.Timeout._eval_body = timeout_body  # type: ignore[method-assign]
