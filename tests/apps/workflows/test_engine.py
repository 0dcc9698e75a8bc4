"""The plain-Python ASL engine: validation, data flow, errors, retries, tokens, redrive."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.workflows.engine import (
    DefinitionError,
    Interpreter,
    StatesError,
    choice,
    intrinsics,
    validate,
)
from apps.workflows.engine.interpreter import pending_tokens, retry_delay, token_hash


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def machine(states: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states, **extra}


@pytest.mark.parametrize(
    ("definition", "state", "reason"),
    [
        (machine({"A": {"Type": "Pass"}}), "A", "exactly one of 'Next' or 'End: true'"),
        (machine({"A": {"Type": "Pass", "Next": "Nope"}}), "A", "'Next' names no state"),
        (machine({"A": {"Type": "Pass", "End": True, "Bogus": 1}}), "A", "Bogus not supported"),
        (machine({"A": {"Type": "Wait", "End": True}}), "A", "exactly one of Seconds"),
        (
            machine({"A": {"Type": "Pass", "End": True}, "B": {"Type": "Succeed"}}),
            "B",
            "not reachable",
        ),
        (
            machine(
                {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Bad": 1, "Next": "A"}]}}
            ),
            "A",
            "unknown operator",
        ),
        (
            machine(
                {
                    "A": {
                        "Type": "Parallel",
                        "Branches": [machine({"B": {"Type": "Succeed"}})],
                        "Catch": [
                            {"ErrorEquals": ["States.ALL"], "Next": "C"},
                            {"ErrorEquals": ["X"], "Next": "C"},
                        ],
                        "End": True,
                    },
                    "C": {"Type": "Succeed"},
                }
            ),
            "A",
            "States.ALL must appear alone in the last",
        ),
        (
            machine({"A": {"Type": "Pass", "Parameters": {"x.$": "States.Nope(1)"}, "End": True}}),
            "A",
            "unknown intrinsic function",
        ),
        (machine({"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": True}}), "A", "reference"),
    ],
)
def test_invalid_definitions_name_the_state_and_reason(definition, state, reason):
    with pytest.raises(DefinitionError) as caught:
        validate(definition)
    assert caught.value.state == state
    assert reason in caught.value.reason


def test_string_matches_only_star_is_special():
    assert choice.string_matches("log-1.txt", "log-*.txt")
    assert choice.string_matches("a*b", "a\\*b")
    assert not choice.string_matches("axb", "a\\*b")
    assert not choice.string_matches("foo", "f?o")
    assert choice.string_matches("f?o", "f?o")


def test_format_escapes_and_errors():
    assert intrinsics.evaluate("States.Format('\\{{}\\} it\\'s \\\\', $.a)", {"a": 1}, {}) == (
        "{1} it's \\"
    )
    with pytest.raises(StatesError) as caught:
        intrinsics.evaluate("States.Format('{} {}', $.a)", {"a": 1}, {})
    assert caught.value.error == "States.IntrinsicFailure"


def test_intrinsics_not_covered_by_moto():
    assert intrinsics.evaluate("States.ArrayRange(5, 1, -2)", {}, {}) == [5, 3, 1]
    assert intrinsics.evaluate("States.Array('a', null)", {}, {}) == ["a", None]
    assert intrinsics.evaluate("States.MathAdd(2.5, 1)", {}, {}) == 3.5
    assert intrinsics.evaluate("States.MathRandom(1, 3, 7)", {}, {}) in (1, 2, 3)
    assert intrinsics.evaluate("States.ArrayContains($.a, 1)", {"a": [True]}, {}) is False


class Flaky:
    """A task runner that fails ``failures`` times with ``error`` before succeeding."""

    def __init__(self, failures: int, error: type[Exception]) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, resource: str, payload: Any, *, context: dict[str, Any], token: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("try again")
        return {"ok": True, "retries": context["State"]["RetryCount"]}


class Transient(Exception):
    pass


def run_until_blocked(engine: Interpreter, run: dict[str, Any]) -> list[str]:
    return [event["type"] for event in engine.advance(run)]


def test_retry_backoff_caps_at_max_delay_and_resumes_after_interval():
    clock = Clock()
    task = Flaky(3, Transient)
    definition = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "step:x",
                "Retry": [
                    {
                        "ErrorEquals": ["Transient"],
                        "IntervalSeconds": 2,
                        "BackoffRate": 3,
                        "MaxDelaySeconds": 5,
                        "MaxAttempts": 3,
                    }
                ],
                "End": True,
            }
        }
    )
    engine = Interpreter(definition, tasks=task, now=clock)
    run = engine.start({}, execution_id="e", name="n")
    delays = []
    for _ in range(3):
        engine.advance(run)
        assert run["status"] == "RUNNING"
        wake = datetime.fromisoformat(run["wake_at"].replace("Z", "+00:00"))
        delays.append((wake - clock.now).total_seconds())
        engine.advance(run)  # not yet due: nothing happens
        assert task.calls == len(delays)
        clock.now = wake
    engine.advance(run)
    assert delays == [2, 5, 5]
    assert run["status"] == "SUCCEEDED"
    assert run["output"] == {"ok": True, "retries": 3}


def test_full_jitter_stays_within_the_interval():
    clock = Clock()
    definition = machine(
        {"T": {"Type": "Task", "Resource": "step:x", "End": True,
               "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10,
                          "JitterStrategy": "FULL"}]}}
    )  # fmt: skip
    engine = Interpreter(definition, tasks=Flaky(1, Transient), now=clock, rng=random.Random(1))
    run = engine.start({}, execution_id="e", name="n")
    engine.advance(run)
    delay = datetime.fromisoformat(run["wake_at"].replace("Z", "+00:00")) - clock.now
    assert timedelta(0) <= delay <= timedelta(seconds=10)


class Ceiling(random.Random):
    """An RNG whose uniform draw is always its upper bound, recording each draw's range."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


LAMBDA_RETRIER = {
    "ErrorEquals": ["Lambda.TooManyRequestsException"],
    "IntervalSeconds": 1,
    "BackoffRate": 2,
    "MaxAttempts": 6,
    "JitterStrategy": "FULL",
}


@pytest.mark.parametrize(
    ("retrier", "expected"),
    [
        ({"ErrorEquals": ["X"]}, [1, 2, 4, 8]),  # AWS's defaults: 1 s, rate 2.0
        ({"ErrorEquals": ["X"], "IntervalSeconds": 2, "BackoffRate": 1}, [2, 2, 2, 2]),
        ({"ErrorEquals": ["X"], "IntervalSeconds": 3, "MaxDelaySeconds": 10}, [3, 6, 10, 10]),
        (
            {"ErrorEquals": ["X"], "BackoffRate": 1.5, "JitterStrategy": "NONE"},
            [1, 1.5, 2.25, 3.375],
        ),
    ],
)
def test_retry_delays_without_jitter_are_the_capped_backoff(retrier, expected):
    rng = Ceiling()
    assert [retry_delay(retrier, done, rng=rng) for done in range(4)] == expected
    assert rng.ranges == []  # no draw without JitterStrategy FULL


def test_full_jitter_draws_between_zero_and_the_capped_backoff():
    rng = Ceiling()
    retrier = {**LAMBDA_RETRIER, "MaxDelaySeconds": 5}
    assert [retry_delay(retrier, done, rng=rng) for done in range(5)] == [1, 2, 4, 5, 5]
    assert rng.ranges == [(0, 1), (0, 2), (0, 4), (0, 5), (0, 5)]  # capped, then jittered
    seeded = random.Random(7)
    draws = [retry_delay(LAMBDA_RETRIER, 5, rng=seeded) for _ in range(200)]
    assert all(0 <= d <= 32 for d in draws)
    assert len(set(draws)) == 200  # spread, not the ceiling every time
    assert min(draws) < 8
    assert max(draws) > 24


def test_the_interpreter_waits_the_jittered_capped_delay():
    clock = Clock()
    retrier = {**LAMBDA_RETRIER, "ErrorEquals": ["Transient"], "MaxDelaySeconds": 3}
    definition = machine(
        {"T": {"Type": "Task", "Resource": "step:x", "Retry": [retrier], "End": True}}
    )
    validate(definition)
    rng = Ceiling()
    engine = Interpreter(definition, tasks=Flaky(4, Transient), now=clock, rng=rng)
    run = engine.start({}, execution_id="e", name="n")
    delays = []
    for _ in range(4):
        engine.advance(run)
        wake = datetime.fromisoformat(run["wake_at"].replace("Z", "+00:00"))
        delays.append((wake - clock.now).total_seconds())
        clock.now = wake
    engine.advance(run)
    assert delays == [1, 2, 3, 3]
    assert rng.ranges == [(0, 1), (0, 2), (0, 3), (0, 3)]
    assert run["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("JitterStrategy", "PARTIAL", "JitterStrategy' must be FULL or NONE"),
        ("MaxDelaySeconds", 0, "MaxDelaySeconds' must be a positive integer"),
        ("MaxDelaySeconds", 2.5, "MaxDelaySeconds' must be a positive integer"),
    ],
)
def test_bad_jitter_or_max_delay_is_refused(field, value, reason):
    retrier = {**LAMBDA_RETRIER, field: value}
    definition = machine(
        {"T": {"Type": "Task", "Resource": "step:x", "Retry": [retrier], "End": True}}
    )
    with pytest.raises(DefinitionError) as caught:
        validate(definition)
    assert reason in caught.value.reason


def test_task_failed_catch_and_error_name_from_exception_class():
    definition = machine(
        {
            "T": {"Type": "Task", "Resource": "step:x", "End": True,
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err",
                             "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": True},
        }
    )  # fmt: skip
    engine = Interpreter(definition, tasks=Flaky(5, Transient))
    run = engine.start({"a": 1}, execution_id="e", name="n")
    events = run_until_blocked(engine, run)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["err"]["Error"] == "Transient"
    assert "TaskFailed" in events
    assert "TaskStateExited" in events


def test_runtime_errors_are_not_caught_by_states_all():
    definition = machine(
        {
            "T": {"Type": "Task", "Resource": "step:x", "InputPath": "$.missing", "End": True,
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
            "Caught": {"Type": "Succeed"},
        }
    )  # fmt: skip
    engine = Interpreter(definition, tasks=Flaky(0, Transient))
    run = engine.start({}, execution_id="e", name="n")
    engine.advance(run)
    assert (run["status"], run["error"]) == ("FAILED", "States.Runtime")


def token_machine(**task: Any) -> dict[str, Any]:
    return machine(
        {
            "Ask": {"Type": "Task", "Resource": "step:ask.waitForTaskToken",
                    "Parameters": {"token.$": "$$.Task.Token", "x.$": "$.x"},
                    "ResultPath": "$.answer", "End": True, **task}
        }
    )  # fmt: skip


def test_wait_for_task_token_holds_only_a_hash_and_resumes_on_success():
    issued: list[str] = []

    def ask(resource: str, payload: Any, *, context: dict[str, Any], token: Any) -> None:
        assert payload["token"] == token == context["Task"]["Token"]
        issued.append(token)

    engine = Interpreter(token_machine(), tasks=ask)
    run = engine.start({"x": 1}, execution_id="e", name="n")
    assert "TaskSubmitted" in run_until_blocked(engine, run)
    assert run["status"] == "RUNNING"
    assert run["wake_at"] is None
    assert issued[0] not in repr(run)
    assert pending_tokens(run)[0]["token_hash"] == token_hash(issued[0])
    assert not engine.resolve_token(run, token_hash("forged"), output={})
    assert engine.resolve_token(run, token_hash(issued[0]), output={"ok": 1})
    engine.advance(run)
    assert run["status"] == "SUCCEEDED"
    assert run["output"] == {"x": 1, "answer": {"ok": 1}}
    assert not engine.resolve_token(run, token_hash(issued[0]), output={})


def test_token_timeout_and_heartbeat():
    clock = Clock()
    engine = Interpreter(
        token_machine(TimeoutSeconds=60, HeartbeatSeconds=10),
        tasks=lambda *a, **k: None,
        now=clock,
    )
    run = engine.start({"x": 1}, execution_id="e", name="n")
    engine.advance(run)
    hashed = pending_tokens(run)[0]["token_hash"]
    clock.now += timedelta(seconds=8)
    assert engine.resolve_token(run, hashed, heartbeat=True)
    clock.now += timedelta(seconds=8)
    engine.advance(run)
    assert run["status"] == "RUNNING"
    clock.now += timedelta(seconds=3)
    engine.advance(run)
    assert (run["status"], run["error"]) == ("FAILED", "States.HeartbeatTimeout")


def test_redrive_restarts_from_the_failed_state():
    task = Flaky(1, Transient)
    definition = machine(
        {
            "First": {"Type": "Pass", "Result": {"n": 1}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "step:x", "End": True},
        }
    )
    engine = Interpreter(definition, tasks=task)
    run = engine.start({}, execution_id="e", name="n")
    engine.advance(run)
    assert (run["status"], run["error"]) == ("FAILED", "Transient")
    events = [e["type"] for e in engine.redrive(run)] + run_until_blocked(engine, run)
    assert run["status"] == "SUCCEEDED"
    assert events[:2] == ["ExecutionRedriven", "TaskStateEntered"]
    assert "PassStateEntered" not in events


def test_map_max_concurrency_runs_items_in_waves():
    clock = Clock()
    definition = machine(
        {"M": {"Type": "Map", "MaxConcurrency": 2, "End": True,
               "ItemProcessor": machine({"W": {"Type": "Wait", "SecondsPath": "$", "End": True}})}}
    )  # fmt: skip
    engine = Interpreter(definition, tasks=Flaky(0, Transient), now=clock)
    run = engine.start([5, 5, 5], execution_id="e", name="n")
    events = run_until_blocked(engine, run)
    assert events.count("MapIterationStarted") == 2
    clock.now += timedelta(seconds=5)
    events = run_until_blocked(engine, run)
    assert events.count("MapIterationStarted") == 1
    clock.now += timedelta(seconds=5)
    engine.advance(run)
    assert run["output"] == [5, 5, 5]


def test_execution_timeout():
    clock = Clock()
    definition = machine({"W": {"Type": "Wait", "Seconds": 100, "End": True}}, TimeoutSeconds=10)
    engine = Interpreter(definition, tasks=Flaky(0, Transient), now=clock)
    run = engine.start({}, execution_id="e", name="n")
    engine.advance(run)
    assert run["wake_at"].startswith("2026-01-01T00:00:10")
    clock.now += timedelta(seconds=10)
    assert [e["type"] for e in engine.advance(run)] == ["ExecutionTimedOut"]
    assert run["status"] == "TIMED_OUT"


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("States.ArrayRange(1, 5, 0)", "States.ArrayRange step must not be 0"),
        ("States.ArrayRange(0, 1000, 1)", "States.ArrayRange may produce at most 1000 items"),
        ("States.ArrayPartition($.a, 0)", "States.ArrayPartition chunk size must be positive"),
    ],
)
def test_array_intrinsics_refuse_what_step_functions_refuses(expression, reason):
    with pytest.raises(StatesError) as caught:
        intrinsics.evaluate(expression, {"a": [1, 2]}, {})
    assert caught.value.error == "States.IntrinsicFailure"
    assert reason in caught.value.cause
