"""ASL in JSONPath mode as Step Functions runs it: missing ``.$`` paths, ``States.Format``
templates from paths, and runtime causes worded as AWS words them.

AWS's wording (Step Functions developer guide, "Error handling"; the cause of a
``States.Runtime`` in an execution's history)::

    An error occurred while executing the state 'P' (entered at the event id #2).
    The JSONPath '$.missing' specified for the field 'x.$' could not be found in the
    input '{"a":1}'
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.workflows.engine import Interpreter, intrinsics, validate


def machine(states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def no_tasks(resource: str, payload: Any, *, context: dict[str, Any], token: str | None) -> Any:
    return {"echo": payload}


def run(definition: dict[str, Any], input: Any) -> dict[str, Any]:
    validate(definition)
    engine = Interpreter(definition, tasks=no_tasks)
    state = engine.start(input, execution_id="arn:e", name="e")
    engine.advance(state)
    return state


CATCH_ALL = {
    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
}


@pytest.mark.parametrize(
    ("state", "field", "path"),
    [
        (
            {"Type": "Task", "Resource": "step:x", "Parameters": {"x.$": "$.missing"}},
            "x.$",
            "$.missing",
        ),
        (
            {"Type": "Task", "Resource": "step:x", "Parameters": {"deep": {"y.$": "$.nope"}}},
            "y.$",
            "$.nope",
        ),
        (
            {"Type": "Task", "Resource": "step:x", "ResultSelector": {"r.$": "$.missing"}},
            "r.$",
            "$.missing",
        ),
        (
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"v.$": "$.missing"},
                "ItemProcessor": machine({"In": {"Type": "Pass", "End": True}}),
            },
            "v.$",
            "$.missing",
        ),
    ],
)
def test_missing_dollar_path_fails_with_runtime_that_catch_and_retry_cannot_intercept(
    state: dict[str, Any], field: str, path: str
) -> None:
    definition = machine({"P": {**state, **CATCH_ALL, "End": True}, "Caught": {"Type": "Succeed"}})
    result = run(definition, {"a": 1, "items": [1]})
    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert result["cause"].startswith(
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        f"The JSONPath '{path}' specified for the field '{field}' could not be found in the "
        "input '"
    )
    assert result["frame"]["retry_count"] == 0  # never retried, never caught


def test_missing_path_cause_quotes_the_input_compactly() -> None:
    definition = machine({"P": {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": True}})
    result = run(definition, {"a": 1, "b": [1, 2]})
    assert result["cause"] == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONPath '$.missing' specified for the field 'x.$' could not be found in the "
        'input \'{"a":1,"b":[1,2]}\''
    )


def test_entered_event_id_counts_the_history_before_the_state() -> None:
    # ExecutionStarted #1, A entered #2 / exited #3, B entered #4
    definition = machine(
        {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "InputPath": "$.missing", "End": True},
        }
    )
    result = run(definition, {})
    assert "(entered at the event id #4)" in result["cause"]
    assert result["cause"].startswith("An error occurred while executing the state 'B' ")


def test_context_path_missing_names_the_double_dollar_path() -> None:
    definition = machine(
        {"P": {"Type": "Pass", "Parameters": {"x.$": "$$.Execution.Nope"}, "End": True}}
    )
    result = run(definition, {})
    assert "The JSONPath '$$.Execution.Nope' specified for the field 'x.$'" in result["cause"]


def test_intrinsic_failure_is_worded_like_aws_and_stays_catchable() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Task",
                "Resource": "step:x",
                "Parameters": {"x.$": "States.ArrayGetItem($.a, 5)"},
                "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        }
    )
    result = run(definition, {"a": [1]})
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["Cause"].startswith(
        "An error occurred while executing the state 'P' (entered at the event id #2). "
    )


def test_format_takes_its_template_from_a_path() -> None:
    data = {"template": "Hello, {}! You are {}.", "name": "Ada", "age": 36}
    assert (
        intrinsics.evaluate("States.Format($.template, $.name, $.age)", data, {})
        == "Hello, Ada! You are 36."
    )


def test_format_template_from_a_path_keeps_escapes_and_other_backslashes() -> None:
    data = {"t": "\\{{}\\} in C:\\dir"}
    assert intrinsics.evaluate("States.Format($.t, 'x')", data, {}) == "{x} in C:\\dir"


def test_format_template_from_a_nested_intrinsic() -> None:
    data = {"parts": ["{} and {}", "rest"]}
    assert (
        intrinsics.evaluate("States.Format(States.ArrayGetItem($.parts, 0), 1, 2)", data, {})
        == "1 and 2"
    )


def test_format_template_that_is_not_a_string_fails() -> None:
    from apps.workflows.engine.errors import StatesError

    with pytest.raises(StatesError, match="needs a string template") as info:
        intrinsics.evaluate("States.Format($.t, 1)", {"t": 5}, {})
    assert info.value.error == "States.IntrinsicFailure"


def test_format_template_path_in_a_running_state() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"greeting.$": "States.Format($.t, $.who)"},
                "End": True,
            }
        }
    )
    assert run(definition, {"t": "hi {}", "who": "you"})["output"] == {"greeting": "hi you"}
