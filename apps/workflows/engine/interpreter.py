"""The ASL interpreter: advances a resumable, JSON-serialisable run of a state machine.

A *run* is a plain dict (stored as JSON by the durable driver)::

    {"status": "RUNNING", "context": {...}, "frame": {...}, "output": ..., "error": ...,
     "cause": ..., "wake_at": "<ISO time or null>", "deadline": "<ISO time or null>"}

A *frame* runs one (sub-)machine: the top level, a Parallel branch or a Map iteration. It
records the current state, its raw input and the phase inside the state, so a run can stop
anywhere a state waits (a Wait, a Retry interval, a task token) and be resumed later by
another process: :meth:`Interpreter.advance` moves a run forward until every frame is done
or blocked, and never sleeps. Waiting frames set ``wake_at``; a pending task token is
resolved with :meth:`Interpreter.resolve_token`.

Tasks are delegated to a ``TaskRunner``; a ``.waitForTaskToken`` resource gets a fresh token
(``$$.Task.Token``) and only its SHA-256 hash is kept in the run.

States run in their query language (:mod:`apps.workflows.engine.jsonata` for JSONata).
Workflow variables live in each frame's ``variables`` (the scope it sees): a Parallel
branch or Map iteration starts with a copy of its parent's, and what it assigns ends with
it. ``Assign`` is evaluated with the variables as they were when the state was entered,
alongside ``Output``, and each ``...StateExited`` event records ``assignedVariables``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apps.workflows.engine import choice, errors, jsonata, paths, templates
from apps.workflows.engine.definition import query_language, sub_machine
from apps.workflows.engine.errors import StatesError
from apps.workflows.engine.jsonata import JSONATA

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = (
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
)
TOKEN_SUFFIX = ".waitForTaskToken"  # noqa: S105 (a resource suffix)

Event = dict[str, Any]


class TaskRunner(Protocol):
    """Runs a Task's resource. Raise to fail the task (the class name is the Error)."""

    def __call__(
        self, resource: str, payload: Any, *, context: dict[str, Any], token: str | None
    ) -> Any: ...


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    parsed = choice.parse_timestamp(text)
    if parsed is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return parsed


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def error_of(exc: BaseException) -> tuple[str, str]:
    """The Error/Cause Step Functions reports for an exception raised by a task."""
    if isinstance(exc, StatesError):
        return exc.error, exc.cause
    name = getattr(exc, "workflow_error", None) or type(exc).__name__
    cause = json.dumps({"errorMessage": str(exc), "errorType": name})
    return str(name), cause


class Interpreter:
    """Runs one definition. ``now`` is the clock seam (tests drive Waits with it)."""

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        tasks: TaskRunner,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_token: Callable[[str, dict[str, Any]], None] | None = None,
        checkpoint: Callable[[dict[str, Any], list[Event]], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.definition = definition
        self.tasks = tasks
        self.now = now
        self.on_token = on_token
        self.checkpoint = checkpoint
        self.rng = rng or random.Random()
        self.events: list[Event] = []
        self._run: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------

    def start(
        self, input: Any, *, execution_id: str, name: str, state_machine: str = ""
    ) -> dict[str, Any]:
        """A new run (nothing executed yet; call :meth:`advance`)."""
        started = self.now()
        run: dict[str, Any] = {
            "status": RUNNING,
            "context": {
                "Execution": {
                    "Id": execution_id,
                    "Name": name,
                    "Input": input,
                    "StartTime": iso(started),
                    "RedriveCount": 0,
                },
                "StateMachine": {"Id": state_machine, "Name": state_machine.split(":")[-1]},
            },
            "frame": self._frame([], self.definition["StartAt"], input),
            "output": None,
            "error": None,
            "cause": None,
            "wake_at": None,
            "deadline": None,
        }
        if "TimeoutSeconds" in self.definition:
            run["deadline"] = iso(started + timedelta(seconds=self.definition["TimeoutSeconds"]))
        self._run = run
        self._emit("ExecutionStarted", None, input=input)
        return run

    def advance(self, run: dict[str, Any]) -> list[Event]:
        """Move ``run`` forward as far as possible; returns the new history events."""
        self._run = run
        if run["status"] != RUNNING:
            return self._flush()
        if run["deadline"] and self.now() >= parse_iso(run["deadline"]):
            self._finish(TIMED_OUT, error=errors.TIMEOUT, cause="The execution timed out.")
            return self._flush()
        frame = run["frame"]
        self._run_frame(frame)
        if frame["status"] == SUCCEEDED:
            self._finish(SUCCEEDED, output=frame["output"])
        elif frame["status"] == FAILED:
            self._finish(FAILED, error=frame["error"], cause=frame["cause"])
        else:
            wakes = [w for w in (frame.get("wake_at"), run["deadline"]) if w]
            run["wake_at"] = min(wakes, key=parse_iso) if wakes else None
        return self._flush()

    def abort(self, run: dict[str, Any], *, error: str = "", cause: str = "") -> list[Event]:
        self._run = run
        if run["status"] == RUNNING:
            self._finish(ABORTED, error=error or None, cause=cause or None)
        return self._flush()

    def redrive(self, run: dict[str, Any]) -> list[Event]:
        """Restart a failed/timed-out run from the states that did not succeed."""
        self._run = run
        if run["status"] not in (FAILED, TIMED_OUT, ABORTED):
            raise ValueError(f"only failed executions can be redriven (status {run['status']})")
        _reset_failed(run["frame"])
        run.update(status=RUNNING, output=None, error=None, cause=None, deadline=None)
        run["context"]["Execution"]["RedriveCount"] += 1
        self._emit(
            "ExecutionRedriven", None, redriveCount=run["context"]["Execution"]["RedriveCount"]
        )
        return self._flush()

    def resolve_token(
        self,
        run: dict[str, Any],
        hashed: str,
        *,
        output: Any = None,
        error: str | None = None,
        cause: str | None = None,
        heartbeat: bool = False,
    ) -> bool:
        """Record the outcome of the task waiting on a token; False if no task waits on it."""
        for frame in _active_frames(run["frame"]) if run["status"] == RUNNING else ():
            if frame.get("phase") == "token" and frame.get("token_hash") == hashed:
                if heartbeat:
                    seconds = frame.get("heartbeat_seconds")
                    if seconds:
                        frame["heartbeat_at"] = iso(self.now() + timedelta(seconds=seconds))
                    return True
                frame["token_outcome"] = (
                    {"error": error or "", "cause": cause or ""}
                    if error is not None
                    else {"output": output}
                )
                return True
        return False

    # -- internals -------------------------------------------------------------------

    def take_events(self) -> list[Event]:
        """The events recorded since last taken (e.g. ExecutionStarted after start())."""
        return self._flush()

    def _flush(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def _save(self) -> None:
        """A transition of the run. Transitions that only compute (Pass, Choice, Succeed, a
        Map or Parallel moving on, a Wait starting, a retry or catch being chosen) are not
        checkpointed one by one: redoing them from the last checkpoint after a crash gives
        the same run, and nobody saw the lost events. They are saved with the next
        :meth:`_checkpoint` (around every task call) or, when :meth:`advance` returns, by
        the caller, with what it returns. One transaction per step, not per transition."""

    def _checkpoint(self) -> None:
        """Persist the run and its new events now (the durable driver's transaction)."""
        if self.checkpoint and self.events:
            self.checkpoint(self._run, self._flush())

    def _emit(self, kind: str, state: str | None, **details: Any) -> int:
        """Record a history event; returns its id (1 for ExecutionStarted, as on AWS)."""
        self._run["event_id"] = self._run.get("event_id", 0) + 1
        self.events.append({"type": kind, "state": state, "timestamp": iso(self.now()), **details})
        return int(self._run["event_id"])

    def _finish(
        self, status: str, *, output: Any = None, error: Any = None, cause: Any = None
    ) -> None:
        run = self._run
        run.update(status=status, output=output, error=error, cause=cause, wake_at=None)
        kind = {
            SUCCEEDED: "ExecutionSucceeded",
            FAILED: "ExecutionFailed",
            TIMED_OUT: "ExecutionTimedOut",
            ABORTED: "ExecutionAborted",
        }[status]
        if status == SUCCEEDED:
            self._emit(kind, None, output=output)
        else:
            self._emit(kind, None, error=error, cause=cause)

    @staticmethod
    def _frame(route: list[Any], state: str, input: Any) -> dict[str, Any]:
        return {
            "route": route,
            "state": state,
            "input": input,
            "phase": "enter",
            "status": RUNNING,
            "retries": {},
            "retry_count": 0,
            "wake_at": None,
        }

    def _machine(self, frame: dict[str, Any]) -> dict[str, Any]:
        return sub_machine(self.definition, frame["route"])

    def _context(self, frame: dict[str, Any], **extra: Any) -> dict[str, Any]:
        ctx = copy.deepcopy(self._run["context"])
        ctx["State"] = {
            "Name": frame["state"],
            "EnteredTime": frame.get("entered", ""),
            "RetryCount": frame["retry_count"],
        }
        ctx.update(extra)
        return ctx

    def _run_frame(self, frame: dict[str, Any]) -> None:
        while frame["status"] == RUNNING:
            state = self._machine(frame)["States"][frame["state"]]
            try:
                progressed = self._step(frame, state)
            except StatesError as exc:
                self._fail_state(frame, state, exc.error, self._runtime_cause(frame, exc))
                progressed = True
            if not progressed:
                return

    @staticmethod
    def _runtime_cause(frame: dict[str, Any], exc: StatesError) -> str:
        """The cause of an error the engine itself raised, worded as Step Functions words
        it (users grep for it): ``An error occurred while executing the state 'X' (entered
        at the event id #N). <reason>``."""
        if exc.error not in errors.ENGINE_ERRORS or exc.cause.startswith("An error occurred"):
            return exc.cause
        return (
            f"An error occurred while executing the state '{frame['state']}' "
            f"(entered at the event id #{frame.get('entered_event', 0)}). {exc.cause}"
        )

    def _step(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        kind, name = state["Type"], frame["state"]
        if frame["phase"] == "enter":
            frame["entered"] = iso(self.now())
            frame["entered_event"] = self._emit(f"{kind}StateEntered", name, input=frame["input"])
            frame["phase"] = "start"
        return bool(getattr(self, f"_step_{kind.lower()}")(frame, state))

    def _effective_input(self, frame: dict[str, Any], state: dict[str, Any], **ctx: Any) -> Any:
        if self._jsonata(state):
            if "Arguments" not in state:
                return frame["input"]
            return self._query(frame, state["Arguments"], "Arguments", context=ctx)
        data = self._input_path(frame, state)
        if "Parameters" in state and state["Type"] != "Map":
            data = templates.render(
                state["Parameters"],
                data,
                self._context(frame, **ctx),
                variables=_variables(frame),
            )
        return data

    # -- query languages and variables -----------------------------------------------

    def _jsonata(self, state: dict[str, Any]) -> bool:
        return query_language(self.definition, state) == JSONATA

    def _query(
        self,
        frame: dict[str, Any],
        value: Any,
        field: str,
        *,
        context: dict[str, Any] | None = None,
        **states: Any,
    ) -> Any:
        """A JSONata field's value; ``$states.input`` is the state's input."""
        bindings = {
            "input": frame["input"],
            "context": self._context(frame, **(context or {})),
            **states,
        }
        return jsonata.render(value, field=field, states=bindings, variables=_variables(frame))

    def _assigned(
        self,
        frame: dict[str, Any],
        state: dict[str, Any],
        assign: Any,
        *,
        data: Any,
        **states: Any,
    ) -> dict[str, Any]:
        """The values an ``Assign`` block gives, computed from the variables as they are
        (all of a block's expressions see the same, earlier values).

        JSONPath: ``.$`` keys read ``data`` (a Task's result after ResultSelector, a
        catcher's error output, otherwise the state's input after InputPath). JSONata:
        expressions see ``$states`` (``result``/``errorOutput`` where the state has one).
        """
        if not assign:
            return {}
        if self._jsonata(state):
            return {
                name: self._query(frame, value, f"Assign.{name}", **states)
                for name, value in assign.items()
            }
        rendered = templates.render(
            assign, data, self._context(frame), field="Assign", variables=_variables(frame)
        )
        return dict(rendered)

    def _state_output(
        self,
        frame: dict[str, Any],
        holder: dict[str, Any],
        default: Any,
        **states: Any,
    ) -> Any:
        """A JSONata state's (or rule's, or catcher's) ``Output``, else ``default``."""
        if "Output" not in holder:
            return default
        return self._query(frame, holder["Output"], "Output", **states)

    @staticmethod
    def _input_path(frame: dict[str, Any], state: dict[str, Any]) -> Any:
        path = state.get("InputPath", "$")
        return {} if path is None else paths.read(path, frame["input"], field="InputPath")

    def _output(
        self, frame: dict[str, Any], state: dict[str, Any], result: Any
    ) -> tuple[Any, dict[str, Any]]:
        """A state's output and assigned variables from its result: JSONata ``Output``
        and ``Assign`` over ``$states.result``, or ResultSelector, ``Assign``, ResultPath
        and OutputPath in JSONPath."""
        if self._jsonata(state):
            output = self._state_output(frame, state, result, result=result)
            return output, self._assigned(
                frame, state, state.get("Assign"), data=None, result=result
            )
        if "ResultSelector" in state:
            result = templates.render(
                state["ResultSelector"],
                result,
                self._context(frame),
                field="ResultSelector",
                variables=_variables(frame),
            )
        assigned = self._assigned(frame, state, state.get("Assign"), data=result)
        data = paths.write(state.get("ResultPath", "$"), frame["input"], result)
        return self._output_path(state, data), assigned

    @staticmethod
    def _output_path(state: dict[str, Any], data: Any) -> Any:
        path = state.get("OutputPath", "$")
        return {} if path is None else paths.read(path, data, field="OutputPath")

    def _transition(
        self,
        frame: dict[str, Any],
        state: dict[str, Any],
        output: Any,
        assigned: dict[str, Any] | None = None,
    ) -> bool:
        self._exited(frame, state, output, assigned)
        if state.get("End"):
            frame.update(status=SUCCEEDED, output=output, wake_at=None)
        else:
            _replace(frame, self._frame(frame["route"], state["Next"], output))
        self._save()
        return True

    def _exited(
        self,
        frame: dict[str, Any],
        state: dict[str, Any],
        output: Any,
        assigned: dict[str, Any] | None,
    ) -> None:
        """Record the state's exit; its assigned variables take effect from here on."""
        details: dict[str, Any] = {"output": output}
        if assigned:
            frame.setdefault("variables", {}).update(copy.deepcopy(assigned))
            details["assignedVariables"] = assigned
        self._emit(f"{state['Type']}StateExited", frame["state"], **details)

    # -- states ----------------------------------------------------------------------

    def _step_pass(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        if self._jsonata(state):
            output = self._state_output(frame, state, frame["input"])
            assigned = self._assigned(frame, state, state.get("Assign"), data=None)
            return self._transition(frame, state, output, assigned)
        result = state["Result"] if "Result" in state else self._effective_input(frame, state)
        assigned = self._assigned(frame, state, state.get("Assign"), data=result)
        data = paths.write(state.get("ResultPath", "$"), frame["input"], result)
        return self._transition(frame, state, self._output_path(state, data), assigned)

    def _step_succeed(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        if self._jsonata(state):
            output = self._state_output(frame, state, frame["input"])
        else:
            output = self._output_path(state, self._input_path(frame, state))
        self._emit("SucceedStateExited", frame["state"], output=output)
        frame.update(status=SUCCEEDED, output=output)
        self._save()
        return True

    def _step_fail(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        error, cause = state.get("Error"), state.get("Cause")
        if self._jsonata(state):
            error, cause = (self._fail_text(frame, state, field) for field in ("Error", "Cause"))
            frame.update(status=FAILED, error=error, cause=cause)
            return True
        if "ErrorPath" in state:
            error = self._fail_field(state["ErrorPath"], frame)
        if "CausePath" in state:
            cause = self._fail_field(state["CausePath"], frame)
        frame.update(status=FAILED, error=error, cause=cause)
        return True

    def _fail_text(self, frame: dict[str, Any], state: dict[str, Any], field: str) -> Any:
        if field not in state:
            return None
        value = self._query(frame, state[field], field)
        if not isinstance(value, str):
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR, f"The Fail state's {field} must be a string"
            )
        return value

    def _fail_field(self, expr: str, frame: dict[str, Any]) -> str:
        from apps.workflows.engine import intrinsics

        variables = _variables(frame)
        if expr.startswith("$"):
            value = paths.read(expr, frame["input"], self._context(frame), variables=variables)
        else:
            value = intrinsics.evaluate(
                expr, frame["input"], self._context(frame), variables=variables
            )
        if not isinstance(value, str):
            raise StatesError(errors.RUNTIME, f"The value at {expr} is not a string")
        return value

    def _step_choice(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        data = self._input_path(frame, state)
        rule = next((r for r in state["Choices"] if self._holds(frame, state, r, data)), None)
        target = rule["Next"] if rule else state.get("Default")
        if target is None:
            raise StatesError(
                errors.NO_CHOICE_MATCHED, f"No Choice rule matched in state '{frame['state']}'"
            )
        # A matched rule's Assign/Output, else the state's (they apply to Default too).
        holder = rule if rule and ("Assign" in rule or "Output" in rule) else state
        assigned = self._assigned(frame, state, holder.get("Assign"), data=data)
        if self._jsonata(state):
            output = self._state_output(frame, holder, frame["input"])
        else:
            output = self._output_path(state, data)
        self._exited(frame, state, output, assigned)
        _replace(frame, self._frame(frame["route"], target, output))
        self._save()
        return True

    def _holds(
        self, frame: dict[str, Any], state: dict[str, Any], rule: dict[str, Any], data: Any
    ) -> bool:
        if not self._jsonata(state):
            return choice.evaluate(rule, data, self._context(frame), _variables(frame))
        condition = self._query(frame, rule["Condition"], "Condition")
        if not isinstance(condition, bool):
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"The Condition of a Choice rule must be true or false, got {paths.compact(condition)}",
            )
        return condition

    def _step_wait(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        if frame["phase"] == "start":
            data = self._input_path(frame, state)
            frame["wake_at"] = iso(self._wait_until(frame, state, data))
            frame["phase"] = "waiting"
            self._save()
        if self.now() < parse_iso(frame["wake_at"]):
            return False
        frame["wake_at"] = None
        data = self._input_path(frame, state)
        assigned = self._assigned(frame, state, state.get("Assign"), data=data)
        if self._jsonata(state):
            output = self._state_output(frame, state, frame["input"])
        else:
            output = self._output_path(state, data)
        return self._transition(frame, state, output, assigned)

    def _wait_until(self, frame: dict[str, Any], state: dict[str, Any], data: Any) -> datetime:
        entered = parse_iso(frame["entered"])
        if self._jsonata(state):
            return self._jsonata_wait(frame, state, entered)
        if "Seconds" in state:
            return entered + timedelta(seconds=state["Seconds"])
        if "Timestamp" in state:
            return parse_iso(state["Timestamp"])
        if "SecondsPath" in state:
            seconds = paths.read(state["SecondsPath"], data, field="SecondsPath")
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
                raise StatesError(
                    errors.RUNTIME, "SecondsPath must point to a non-negative integer"
                )
            return entered + timedelta(seconds=seconds)
        stamp = choice.parse_timestamp(
            paths.read(state["TimestampPath"], data, field="TimestampPath")
        )
        if stamp is None:
            raise StatesError(errors.RUNTIME, "TimestampPath must point to a timestamp")
        return stamp

    def _jsonata_wait(
        self, frame: dict[str, Any], state: dict[str, Any], entered: datetime
    ) -> datetime:
        if "Seconds" in state:
            seconds = self._query(frame, state["Seconds"], "Seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
                raise StatesError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The Wait's Seconds must be a non-negative integer, got {paths.compact(seconds)}",
                )
            return entered + timedelta(seconds=seconds)
        stamp = self._query(frame, state["Timestamp"], "Timestamp")
        parsed = choice.parse_timestamp(stamp) if isinstance(stamp, str) else None
        if parsed is None:
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"The Wait's Timestamp must be an RFC 3339 timestamp, got {paths.compact(stamp)}",
            )
        return parsed

    def _seconds_field(self, frame: dict[str, Any], state: dict[str, Any], field: str) -> Any:
        """``TimeoutSeconds``/``HeartbeatSeconds``: a number, or in JSONata an expression
        evaluated when the task starts (a positive integer)."""
        value = state.get(field)
        if not (self._jsonata(state) and jsonata.is_expression(value)):
            return value
        seconds = self._query(frame, value, field)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"{field} must be a positive integer, got {paths.compact(seconds)}",
            )
        return seconds

    # -- Task ------------------------------------------------------------------------

    def _step_task(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        phase = frame["phase"]
        if phase == "retry_wait":
            if self.now() < parse_iso(frame["wake_at"]):
                return False
            frame.update(phase="start", wake_at=None)
            phase = "start"
        if phase == "start":
            return self._task_call(frame, state)
        return self._task_token_wait(frame, state)

    def _task_call(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        resource, name = state["Resource"], frame["state"]
        token = secrets.token_urlsafe(32) if resource.endswith(TOKEN_SUFFIX) else None
        extra = {"Task": {"Token": token}} if token else {}
        payload = self._effective_input(frame, state, **extra)
        self._emit("TaskScheduled", name, resource=resource, parameters=payload)
        self._emit("TaskStarted", name, resource=resource)
        if token:
            frame.update(phase="token", token_hash=token_hash(token))
            self._token_deadlines(frame, state)
            if self.on_token:
                self.on_token(token, {"state": name, "expires": frame.get("timeout_at")})
        # A task has effects: the path that led to it and its start are durable before it
        # runs, and its outcome as soon as it returns.
        self._checkpoint()
        progressed = self._task_outcome(frame, state, resource, payload, token, extra)
        self._checkpoint()
        return progressed

    def _task_outcome(
        self,
        frame: dict[str, Any],
        state: dict[str, Any],
        resource: str,
        payload: Any,
        token: str | None,
        extra: dict[str, Any],
    ) -> bool:
        name = frame["state"]
        started = time.monotonic()
        try:
            result = self.tasks(
                resource, payload, context=self._context(frame, **extra), token=token
            )
        except Exception as exc:  # any failure of the task is a state error
            error, cause = error_of(exc)
            self._emit("TaskFailed", name, error=error, cause=cause)
            self._fail_state(frame, state, error, cause)
            return True
        if token:
            self._emit("TaskSubmitted", name, output=result)
            return True
        timeout = self._seconds_field(frame, state, "TimeoutSeconds")
        if timeout and time.monotonic() - started > timeout:
            self._emit("TaskTimedOut", name, error=errors.TIMEOUT)
            self._fail_state(frame, state, errors.TIMEOUT, "")
            return True
        return self._task_succeeded(frame, state, result)

    def _token_deadlines(self, frame: dict[str, Any], state: dict[str, Any]) -> None:
        now = self.now()
        timeout = self._seconds_field(frame, state, "TimeoutSeconds")
        if "TimeoutSecondsPath" in state:
            timeout = paths.read(state["TimeoutSecondsPath"], frame["input"])
        heartbeat = self._seconds_field(frame, state, "HeartbeatSeconds")
        if "HeartbeatSecondsPath" in state:
            heartbeat = paths.read(state["HeartbeatSecondsPath"], frame["input"])
        frame["timeout_at"] = iso(now + timedelta(seconds=timeout)) if timeout else None
        frame["heartbeat_seconds"] = heartbeat
        frame["heartbeat_at"] = iso(now + timedelta(seconds=heartbeat)) if heartbeat else None

    def _task_token_wait(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        name = frame["state"]
        outcome = frame.pop("token_outcome", None)
        if outcome is not None:
            frame.pop("token_hash", None)
            if "error" in outcome:
                self._emit("TaskFailed", name, error=outcome["error"], cause=outcome["cause"])
                self._fail_state(frame, state, outcome["error"], outcome["cause"])
                return True
            return self._task_succeeded(frame, state, outcome["output"])
        now = self.now()
        for key, error in (
            ("timeout_at", errors.TIMEOUT),
            ("heartbeat_at", errors.HEARTBEAT_TIMEOUT),
        ):
            if frame.get(key) and now >= parse_iso(frame[key]):
                frame.pop("token_hash", None)
                self._emit("TaskTimedOut", name, error=error)
                self._fail_state(frame, state, error, "")
                return True
        wakes = [frame[k] for k in ("timeout_at", "heartbeat_at") if frame.get(k)]
        frame["wake_at"] = min(wakes, key=parse_iso) if wakes else None
        return False

    def _task_succeeded(self, frame: dict[str, Any], state: dict[str, Any], result: Any) -> bool:
        self._emit("TaskSucceeded", frame["state"], output=result)
        return self._transition(frame, state, *self._output(frame, state, result))

    # -- Parallel and Map ------------------------------------------------------------

    def _step_parallel(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        if frame["phase"] == "retry_wait":
            if self.now() < parse_iso(frame["wake_at"]):
                return False
            frame.update(phase="start", wake_at=None)
        if frame["phase"] == "start":
            data = self._effective_input(frame, state)
            route, name = frame["route"], frame["state"]
            frame["children"] = [
                _scoped(self._frame([*route, name, i], branch["StartAt"], data), frame)
                for i, branch in enumerate(state["Branches"])
            ]
            frame["phase"] = "children"
            self._emit("ParallelStateStarted", name)
        return self._step_children(frame, state, "Parallel")

    def _step_map(self, frame: dict[str, Any], state: dict[str, Any]) -> bool:
        if frame["phase"] == "retry_wait":
            if self.now() < parse_iso(frame["wake_at"]):
                return False
            frame.update(phase="start", wake_at=None)
        if frame["phase"] == "start":
            data = self._input_path(frame, state)
            if self._jsonata(state):
                items = self._query(frame, state.get("Items", "{% $states.input %}"), "Items")
                if not isinstance(items, list):
                    raise StatesError(
                        errors.QUERY_EVALUATION_ERROR, "The Map's Items must be an array"
                    )
            else:
                items = paths.read(
                    state.get("ItemsPath", "$"),
                    data,
                    self._context(frame),
                    field="ItemsPath",
                    variables=_variables(frame),
                )
            if not isinstance(items, list):
                raise StatesError(errors.RUNTIME, "Map ItemsPath must point to an array")
            frame.update(phase="children", children=[], items_total=len(items), map_input=data)
            frame["items"] = items
            self._emit("MapStateStarted", frame["state"], length=len(items))
        return self._step_children(frame, state, "Map")

    def _spawn_iterations(self, frame: dict[str, Any], state: dict[str, Any]) -> None:
        limit = state.get("MaxConcurrency", 0)
        if self._jsonata(state) and jsonata.is_expression(limit):
            limit = frame.setdefault("max_concurrency", self._query(frame, limit, "MaxConcurrency"))
        processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
        selector = state.get("ItemSelector", state.get("Parameters"))
        while len(frame["children"]) < frame["items_total"]:
            active = sum(1 for c in frame["children"] if c["status"] == RUNNING)
            if limit and active >= limit:
                return
            index = len(frame["children"])
            item = frame["items"][index]
            where = {"Map": {"Item": {"Index": index, "Value": item}}}
            if selector is not None and self._jsonata(state):
                item = self._query(frame, selector, "ItemSelector", context=where)
            elif selector is not None:
                item = templates.render(
                    selector,
                    frame["map_input"],
                    self._context(frame, **where),
                    field="ItemSelector",
                    variables=_variables(frame),
                )
            child = self._frame([*frame["route"], frame["state"], 0], processor["StartAt"], item)
            _scoped(child, frame)
            child["index"] = index
            frame["children"].append(child)
            self._emit("MapIterationStarted", frame["state"], index=index)

    def _step_children(self, frame: dict[str, Any], state: dict[str, Any], kind: str) -> bool:
        name = frame["state"]
        while True:
            if kind == "Map":
                self._spawn_iterations(frame, state)
            settled = 0
            for child in frame["children"]:
                if child["status"] == RUNNING:
                    self._run_frame(child)
                if child["status"] == RUNNING or child.get("reported"):
                    continue
                child["reported"] = True
                settled += 1
                if kind == "Map":
                    outcome = "Succeeded" if child["status"] == SUCCEEDED else "Failed"
                    self._emit(f"MapIteration{outcome}", name, index=child["index"])
                if child["status"] == FAILED:
                    self._emit(f"{kind}StateFailed", name)
                    self._fail_state(frame, state, child["error"], child["cause"])
                    return True
            if not settled or kind != "Map":
                break
        children = frame["children"]
        total = frame.get("items_total", len(children))
        if len(children) == total and all(c["status"] == SUCCEEDED for c in children):
            self._emit(f"{kind}StateSucceeded", name)
            results = [c["output"] for c in children]
            frame.pop("items", None)
            return self._transition(frame, state, *self._output(frame, state, results))
        wakes = [c["wake_at"] for c in _running(children) if c.get("wake_at")]
        frame["wake_at"] = min(wakes, key=parse_iso) if wakes else None
        return False

    # -- errors ----------------------------------------------------------------------

    def _fail_state(
        self, frame: dict[str, Any], state: dict[str, Any], error: str, cause: str
    ) -> None:
        """Apply the state's Retry and Catch to an error, or fail the frame."""
        if error != errors.RUNTIME and self._retry(frame, state, error):
            return
        if error != errors.RUNTIME:
            for catcher in state.get("Catch", []):
                if _matches(catcher["ErrorEquals"], error, state):
                    self._catch(frame, state, catcher, {"Error": error, "Cause": cause})
                    return
        frame.update(status=FAILED, error=error, cause=cause, wake_at=None)
        self._save()

    def _catch(
        self,
        frame: dict[str, Any],
        state: dict[str, Any],
        catcher: dict[str, Any],
        error_output: dict[str, Any],
    ) -> None:
        """Go to the catcher's Next with the error output placed (ResultPath) or shaped
        (JSONata ``Output``, default ``$states.errorOutput``), assigning its variables."""
        try:
            if self._jsonata(state):
                output = self._state_output(frame, catcher, error_output, errorOutput=error_output)
            else:
                output = paths.write(catcher.get("ResultPath", "$"), frame["input"], error_output)
            assigned = self._assigned(
                frame, state, catcher.get("Assign"), data=error_output, errorOutput=error_output
            )
        except StatesError as exc:
            frame.update(
                status=FAILED, error=exc.error, cause=self._runtime_cause(frame, exc), wake_at=None
            )
            self._save()
            return
        self._exited(frame, state, output, assigned)
        _replace(frame, self._frame(frame["route"], catcher["Next"], output))
        self._save()

    def _retry(self, frame: dict[str, Any], state: dict[str, Any], error: str) -> bool:
        for index, retrier in enumerate(state.get("Retry", [])):
            if not _matches(retrier["ErrorEquals"], error, state):
                continue
            done = frame["retries"].get(str(index), 0)
            if done >= retrier.get("MaxAttempts", 3):
                return False
            delay = retry_delay(retrier, done, rng=self.rng)
            frame["retries"][str(index)] = done + 1
            frame["retry_count"] += 1
            frame.update(phase="retry_wait", wake_at=iso(self.now() + timedelta(seconds=delay)))
            frame.pop("children", None)
            self._save()
            return True
        return False


def retry_delay(retrier: dict[str, Any], done: int, *, rng: random.Random) -> float:
    """Seconds before retry number ``done + 1`` of ``retrier``, as Step Functions waits.

    ``IntervalSeconds * BackoffRate ** done``, capped at ``MaxDelaySeconds``; with
    ``JitterStrategy: FULL``, a uniform draw between 0 and that capped interval.
    """
    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** done
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = rng.uniform(0, delay)
    return float(delay)


def _replace(frame: dict[str, Any], new: dict[str, Any]) -> None:
    """Move a frame to its next state, keeping its identity (the Map item index) and the
    variables of its scope."""
    index, variables = frame.get("index"), frame.get("variables")
    frame.clear()
    frame.update(new)
    if index is not None:
        frame["index"] = index
    if variables is not None:
        frame["variables"] = variables


def _variables(frame: dict[str, Any]) -> dict[str, Any]:
    """The variables a frame's states see: its own scope and, copied in, the outer ones."""
    variables: dict[str, Any] = frame.setdefault("variables", {})
    return variables


def _scoped(child: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    """A Parallel branch or Map iteration reads its parent's variables (a copy: what it
    assigns stays in its own scope and is gone when it ends)."""
    child["variables"] = copy.deepcopy(parent.get("variables", {}))
    return child


def _matches(names: list[str], error: str, state: dict[str, Any]) -> bool:
    return errors.error_matches(names, error, state_type=state["Type"])


def _running(frames: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (f for f in frames if f["status"] == RUNNING)


def _active_frames(frame: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The frames still running, depth first (children only of a running parent)."""
    if frame["status"] != RUNNING:
        return
    yield frame
    if frame.get("phase") == "children":
        for child in frame.get("children", []):
            yield from _active_frames(child)


def _reset_failed(frame: dict[str, Any]) -> None:
    if frame["status"] == SUCCEEDED:
        return
    children = frame.get("children") if frame.get("phase") == "children" else None
    frame.update(status=RUNNING, error=None, cause=None, wake_at=None)
    if children:
        for child in children:
            if child["status"] != SUCCEEDED:
                child.pop("reported", None)
                _reset_failed(child)
    else:
        frame.update(phase="enter", retries={}, retry_count=0)


def pending_tokens(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The task-token waits of a run: ``{"state", "token_hash", "timeout_at"}``."""
    if run["status"] != RUNNING:
        return []
    return [
        {"state": f["state"], "token_hash": f["token_hash"], "timeout_at": f.get("timeout_at")}
        for f in _active_frames(run["frame"])
        if f.get("phase") == "token" and f.get("token_hash")
    ]
