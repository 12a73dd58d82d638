"""Step Functions' payload and history quotas, enforced by the local plane as AWS enforces them.

AWS (Standard workflows):

- Payloads: at most 256 KiB (262,144 bytes of the JSON as UTF-8) for an execution's input, a state's
  input after Parameters, a task's result and a state's output. ``StartExecution`` and
  ``SendTaskSuccess`` refuse a larger ``input``/``output`` with ``ValidationException``; inside an
  execution the state fails with ``States.DataLimitExceeded``.
- History: 25,000 events. Event 25,000 may only close the execution; any other event in its place ends
  the execution FAILED with ``States.Runtime``, "The execution reached the maximum number of history
  events (25000)." as event 25,000.
- ``States.ALL`` matches neither ``States.DataLimitExceeded`` nor ``States.Runtime``: a Retry or Catch on
  ``States.ALL`` lets them end the execution. Naming the error explicitly still matches.

moto 5.2.5's interpreter checks some results and outputs, but with a strict ``<``, on JSON written with
spaces and ASCII escapes, on a Lambda task's whole invocation response rather than its payload; it never
checks the input after Parameters, the execution input or the history length; and its ``States.ALL``
matches every error. ``apply`` corrects all of that, in moto's own components, so the ASL, the handlers
and the history stay exactly as they are on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

PAYLOAD_LIMIT_BYTES: Final = 262_144
HISTORY_LIMIT_EVENTS: Final = 25_000

DATA_LIMIT_EXCEEDED: Final = "States.DataLimitExceeded"
RUNTIME: Final = "States.Runtime"
WILDCARD: Final = "States.ALL"
# Errors States.ALL does not match: they end the execution unless a Retry or Catch names them.
UNMATCHED_BY_WILDCARD: Final = frozenset({DATA_LIMIT_EXCEEDED, RUNTIME})

HISTORY_LIMIT_CAUSE: Final = (
    f"The execution reached the maximum number of history events ({HISTORY_LIMIT_EVENTS})."
)
# The events that close an execution: the only ones allowed to be event 25,000.
CLOSING_EVENTS: Final = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)


def payload_size(value: Any) -> int:
    """Bytes of ``value`` as Step Functions counts a payload: its JSON (no spaces) in UTF-8."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))


def within_payload_limit(value: Any) -> bool:
    return payload_size(value) <= PAYLOAD_LIMIT_BYTES


def matches(error_equals: Iterable[str], error: str | None) -> bool:
    """Whether a Retrier's or Catcher's ``ErrorEquals`` matches ``error``, as far as the wildcard goes."""
    names = list(error_equals)
    if error in names:
        return True
    return WILDCARD in names and error not in UNMATCHED_BY_WILDCARD


def history_limit_cause() -> str:
    return f"The execution reached the maximum number of history events ({HISTORY_LIMIT_EVENTS})."


def history_admits(event_id: int, event_type: str) -> bool:
    """Whether the execution may record event number ``event_id`` (1-based) of type ``event_type``."""
    if event_id < HISTORY_LIMIT_EVENTS:
        return True
    return event_id == HISTORY_LIMIT_EVENTS and event_type in CLOSING_EVENTS


def oversized_request_message(member: str) -> str:
    """The message of AWS's ValidationException for an oversized ``input`` (StartExecution) or ``output``."""
    return (
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"Member must have size less than or equal to {PAYLOAD_LIMIT_BYTES} bytes in UTF-8 encoding"
    )


_applied = False


def apply() -> None:
    """Install every limit into moto's Step Functions (idempotent)."""
    global _applied
    if _applied:
        return
    _apply_payload_sizes()
    _apply_parameters_size()
    _apply_request_sizes()
    _apply_wildcard()
    _apply_history_limit()
    _applied = True


def _data_limit_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)  # type: ignore[typeddict-item]
            ),
        )
    )


def _apply_payload_sizes() -> None:
    """moto's own checks of results and outputs, measured as AWS measures them."""
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service

    for module in (state_module, state_task_lambda, state_task_service):
        module.is_within_size_quota = within_payload_limit  # type: ignore[attr-defined]

    lambda_task = state_task_lambda.StateTaskLambda
    original_verify = lambda_task._verify_size_quota

    def verify_lambda_result(self: Any, env: Any, value: Any) -> None:
        # The task's result is the function's payload, not the whole Invoke response around it.
        result = value.get("Payload") if isinstance(value, dict) and "Payload" in value else value
        original_verify(self, env, result)

    lambda_task._verify_size_quota = verify_lambda_result  # type: ignore[method-assign]


def _apply_parameters_size() -> None:
    """A state's input after Parameters: AWS fails the state before it runs the task."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    def checked(original: Any, effective_input: Any) -> Any:
        def eval_parameters(self: Any, env: Any) -> Any:
            parameters = original(self, env)
            if self.parargs is not None and not within_payload_limit(effective_input(parameters)):
                raise _data_limit_failure(
                    env,
                    f"The state/task '{self.name}' has an input, after Parameters, with a size exceeding "
                    "the maximum number of bytes service limit.",
                )
            return parameters

        return eval_parameters

    # A Lambda task (function ARN as Resource) sends Parameters as the payload; other tasks take them whole.
    StateTaskLambda._eval_parameters = checked(  # type: ignore[method-assign]
        StateTaskLambda._eval_parameters, lambda parameters: parameters.get("Payload")
    )
    StateTask._eval_parameters = checked(  # type: ignore[method-assign]
        StateTask._eval_parameters, lambda parameters: parameters
    )


def _apply_request_sizes() -> None:
    """StartExecution's ``input`` and SendTaskSuccess's ``output``: refused by the API, as AWS does."""
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.responses import StepFunctionResponse

    def refusing(original: Any, member: str) -> Any:
        def handler(self: Any) -> Any:
            value = self._get_param(member)
            if isinstance(value, str) and len(value.encode("utf-8")) > PAYLOAD_LIMIT_BYTES:
                raise ValidationException(oversized_request_message(member))
            return original(self)

        return handler

    StepFunctionResponse.start_execution = refusing(  # type: ignore[method-assign]
        StepFunctionResponse.start_execution, "input"
    )
    StepFunctionResponse.send_task_success = refusing(  # type: ignore[method-assign]
        StepFunctionResponse.send_task_success, "output"
    )


def _apply_wildcard() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl

    original = ErrorEqualsDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        error = getattr(env.stack[-1], "error_name", None)
        if error in UNMATCHED_BY_WILDCARD and not matches((n.error_name for n in self.error_names), error):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = eval_body  # type: ignore[method-assign]


def _apply_history_limit() -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    class HistoryLimitReached(FailureEventException):
        """Raised in place of any event past the limit, so the execution ends with nothing more run.

        Its failure event is not a closing one: the state's failure handling cannot record it either,
        so the exception reaches the program, which records the ExecutionFailed event (number 25,000)."""

        def __init__(self) -> None:
            self.details = ExecutionFailedEventDetails(error=RUNTIME, cause=history_limit_cause())
            event = object.__new__(FailureEvent)
            vars(event).update(
                state_name=None,
                source_event_id=0,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(executionFailedEventDetails=self.details),  # type: ignore[typeddict-item]
            )
            super().__init__(failure_event=event)

        def get_execution_failed_event_details(self) -> ExecutionFailedEventDetails:
            return self.details

    original = EventManager.add_event

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        # The promotion's ASL runs one state at a time (no Parallel or Map): events arrive in order.
        if not history_admits(
            len(self._history_event_list) + 1, str(getattr(event_type, "value", event_type))
        ):
            raise HistoryLimitReached()
        return int(original(self, context, event_type, *args, **kwargs))

    EventManager.add_event = add_event  # type: ignore[method-assign]
