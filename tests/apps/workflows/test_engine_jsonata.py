"""JSONata states and workflow variables in the local engine, as Step Functions runs them.

Examples follow AWS's Step Functions developer guide: "Transforming data with JSONata in
Step Functions" (Arguments, Output, ``$states``, the Step Functions functions) and
"Passing data between states with variables" (Assign, scopes, evaluation order).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.workflows.engine import DefinitionError, Interpreter, validate
from apps.workflows.engine.interpreter import pending_tokens


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def jsonata(states: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": next(iter(states)), "States": states, **top}


class Tasks:
    """Records each task's payload; ``step:fail`` raises, others echo."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(
        self, resource: str, payload: Any, *, context: dict[str, Any], token: str | None
    ) -> Any:
        self.calls.append((resource, payload))
        if resource == "step:fail":
            raise LookupError("no such order")
        if resource.endswith(".waitForTaskToken"):
            return None
        return {"id": "o-1", "echo": payload}


def run(
    definition: dict[str, Any],
    input: Any,
    *,
    tasks: Tasks | None = None,
    clock: Clock | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    validate(definition)
    clock = clock or Clock()
    engine = Interpreter(definition, tasks=tasks or Tasks(), now=clock)
    state = engine.start(input, execution_id="arn:aws:states:::execution:m:e1", name="e1")
    events = engine.take_events()
    for _ in range(20):
        events += engine.advance(state)
        if state["status"] != "RUNNING" or not state["wake_at"]:
            break
        clock.now = max(clock.now, datetime.fromisoformat(state["wake_at"]))
    return state, events


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath"]
)
def test_jsonpath_only_fields_are_refused_in_a_jsonata_state(field: str) -> None:
    value = {"a": 1} if field in ("Parameters", "ResultSelector") else "$.a"
    definition = jsonata({"T": {"Type": "Task", "Resource": "step:x", field: value, "End": True}})
    with pytest.raises(DefinitionError, match=f"{field} are JSONPath-only") as info:
        validate(definition)
    assert info.value.state == "T"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"Type": "Pass", "Result": 1, "End": True}, "Result are JSONPath-only"),
        ({"Type": "Wait", "SecondsPath": "$.s", "End": True}, "SecondsPath are JSONPath-only"),
        ({"Type": "Map", "ItemsPath": "$.i", "End": True}, "ItemsPath are JSONPath-only"),
        ({"Type": "Fail", "ErrorPath": "$.e"}, "ErrorPath are JSONPath-only"),
        (
            {
                "Type": "Task",
                "Resource": "step:x",
                "End": True,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "T"}],
            },
            "ResultPath are JSONPath-only",
        ),
        (
            {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "T"}]},
            "Variable not supported",
        ),
        ({"Type": "Pass", "Output": "{% 1 + %}", "End": True}, "not a JSONata expression"),
        ({"Type": "Pass", "Output": "{%  %}", "End": True}, "empty"),
        ({"Type": "Pass", "Assign": {"states": 1}, "End": True}, "'states' is reserved"),
        ({"Type": "Pass", "Assign": {"1x": 1}, "End": True}, "not a variable name"),
        (
            {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True},
            "cannot use JSONPath when the state machine's QueryLanguage is JSONata",
        ),
    ],
)
def test_jsonata_states_refuse_what_step_functions_refuses(
    state: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=re.escape(message)):
        validate(jsonata({"T": state}))


@pytest.mark.parametrize("field", ["Arguments", "Output"])
def test_jsonata_fields_are_refused_in_a_jsonpath_state(field: str) -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "step:x", field: {}, "End": True}},
    }
    with pytest.raises(DefinitionError, match=f"{field} are JSONata-only"):
        validate(definition)


def test_an_inner_scope_cannot_assign_an_outer_variable() -> None:
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"total": 1}, "End": True}}}
    definition = jsonata(
        {
            "Init": {"Type": "Pass", "Assign": {"total": 0}, "Next": "M"},
            "M": {"Type": "Map", "ItemProcessor": inner, "End": True},
        }
    )
    with pytest.raises(DefinitionError, match="total belong to an outer scope") as info:
        validate(definition)
    assert info.value.state == "I"


def test_an_inner_scope_may_assign_its_own_variables() -> None:
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"mine": 1}, "End": True}}}
    validate(
        jsonata({"M": {"Type": "Map", "Assign": {"after": 1}, "ItemProcessor": inner, "End": True}})
    )


# -- data flow --------------------------------------------------------------------------


def test_task_arguments_and_output_as_in_the_aws_guide() -> None:
    definition = jsonata(
        {
            "Order": {
                "Type": "Task",
                "Resource": "step:order",
                "Arguments": {
                    "product": "{% $states.input.product %}",
                    "count": "{% $count($states.input.items) %}",
                    "literal": "plain text",
                },
                "Output": {
                    "orderId": "{% $states.result.id %}",
                    "sent": "{% $states.result.echo %}",
                },
                "End": True,
            }
        }
    )
    tasks = Tasks()
    state, _ = run(definition, {"product": "book", "items": [1, 2, 3]}, tasks=tasks)
    assert tasks.calls == [("step:order", {"product": "book", "count": 3, "literal": "plain text"})]
    assert state["output"] == {
        "orderId": "o-1",
        "sent": {"product": "book", "count": 3, "literal": "plain text"},
    }


def test_task_output_defaults_to_the_result_and_arguments_to_the_input() -> None:
    tasks = Tasks()
    state, _ = run(
        jsonata({"T": {"Type": "Task", "Resource": "step:x", "End": True}}), {"a": 1}, tasks=tasks
    )
    assert tasks.calls == [("step:x", {"a": 1})]
    assert state["output"] == {"id": "o-1", "echo": {"a": 1}}


def test_assign_sets_variables_for_later_states_and_history_records_them() -> None:
    definition = jsonata(
        {
            "Fetch": {
                "Type": "Task",
                "Resource": "step:x",
                "Assign": {"orderId": "{% $states.result.id %}", "n": 2},
                "Output": {"ignored": True},
                "Next": "Use",
            },
            "Use": {
                "Type": "Pass",
                "Output": "{% {'order': $orderId, 'twice': $n * 2} %}",
                "End": True,
            },
        }
    )
    state, events = run(definition, {})
    assert state["output"] == {"order": "o-1", "twice": 4}
    exited = next(e for e in events if e["type"] == "TaskStateExited")
    assert exited["assignedVariables"] == {"orderId": "o-1", "n": 2}
    assert "assignedVariables" not in next(e for e in events if e["type"] == "PassStateExited")


def test_assign_and_output_see_the_variables_as_they_were_before_the_state() -> None:
    # "Assign" expressions are evaluated together: y gets the old x, and so does Output.
    definition = jsonata(
        {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Swap"},
            "Swap": {
                "Type": "Pass",
                "Assign": {"x": 2, "y": "{% $x %}"},
                "Output": {"x_in_output": "{% $x %}"},
                "Next": "After",
            },
            "After": {
                "Type": "Pass",
                "Output": {"x": "{% $x %}", "y": "{% $y %}", "prev": "{% $states.input %}"},
                "End": True,
            },
        }
    )
    state, _ = run(definition, {})
    assert state["output"] == {"x": 2, "y": 1, "prev": {"x_in_output": 1}}


def test_states_context_and_input() -> None:
    definition = jsonata(
        {"P": {"Type": "Pass", "Output": {"name": "{% $states.context.Execution.Name %}",
                                            "state": "{% $states.context.State.Name %}",
                                            "in": "{% $states.input.v %}"}, "End": True}}
    )  # fmt: skip
    state, _ = run(definition, {"v": 7})
    assert state["output"] == {"name": "e1", "state": "P", "in": 7}


def test_choice_condition_with_rule_and_default_output_and_assign() -> None:
    definition = jsonata(
        {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": "{% $states.input.age >= 18 %}",
                        "Assign": {"group": "adult"},
                        "Output": {"who": "{% $states.input.name %}"},
                        "Next": "Done",
                    }
                ],
                "Default": "Done",
                "Assign": {"group": "minor"},
                "Output": {"who": "nobody"},
            },
            "Done": {
                "Type": "Pass",
                "Output": {"group": "{% $group %}", "in": "{% $states.input %}"},
                "End": True,
            },
        }
    )
    adult, _ = run(definition, {"age": 30, "name": "Ada"})
    minor, _ = run(definition, {"age": 3, "name": "Bo"})
    assert adult["output"] == {"group": "adult", "in": {"who": "Ada"}}
    assert minor["output"] == {"group": "minor", "in": {"who": "nobody"}}


def test_choice_condition_that_is_not_boolean_is_a_query_evaluation_error() -> None:
    definition = jsonata(
        {"C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.age %}", "Next": "D"}], "Default": "D"},
         "D": {"Type": "Succeed"}}
    )  # fmt: skip
    state, _ = run(definition, {"age": 3})
    assert state["error"] == "States.QueryEvaluationError"


def test_map_items_item_selector_scopes_and_output() -> None:
    processor = {
        "StartAt": "Line",
        "States": {
            "Line": {
                "Type": "Pass",
                "Assign": {"lineTotal": "{% $states.input.price * $states.input.qty %}"},
                "Output": "{% {'sku': $states.input.sku, 'total': $states.input.price * $states.input.qty, 'currency': $currency} %}",
                "End": True,
            }
        },
    }
    definition = jsonata(
        {
            "Init": {"Type": "Pass", "Assign": {"currency": "EUR"}, "Next": "Lines"},
            "Lines": {
                "Type": "Map",
                "Items": "{% $states.input.order.lines %}",
                "ItemSelector": {
                    "sku": "{% $states.context.Map.Item.Value.sku %}",
                    "price": "{% $states.context.Map.Item.Value.price %}",
                    "qty": "{% $states.context.Map.Item.Value.qty %}",
                    "index": "{% $states.context.Map.Item.Index %}",
                },
                "ItemProcessor": processor,
                "Assign": {"sum": "{% $sum($states.result.total) %}"},
                "Output": "{% $states.result %}",
                "Next": "Total",
            },
            "Total": {
                "Type": "Pass",
                "Output": {"sum": "{% $sum %}", "leaked": "{% $exists($lineTotal) %}"},
                "End": True,
            },
        }
    )
    order = {
        "order": {
            "lines": [{"sku": "a", "price": 2, "qty": 3}, {"sku": "b", "price": 1.5, "qty": 2}]
        }
    }
    state, _ = run(definition, order)
    assert state["output"] == {"sum": 9, "leaked": False}


def test_parallel_arguments_reach_every_branch_and_branches_read_outer_variables() -> None:
    branch = lambda name: {  # noqa: E731
        "StartAt": name,
        "States": {
            name: {
                "Type": "Pass",
                "Output": "{% $states.input.v & '-' & $tag & '-' & $states.context.State.Name %}",
                "End": True,
            }
        },
    }
    definition = jsonata(
        {
            "Init": {"Type": "Pass", "Assign": {"tag": "t"}, "Next": "Par"},
            "Par": {"Type": "Parallel", "Arguments": {"v": "{% $states.input.x %}"},
                    "Branches": [branch("A"), branch("B")], "End": True},
        }
    )  # fmt: skip
    state, _ = run(definition, {"x": "v"})
    assert state["output"] == ["v-t-A", "v-t-B"]


def test_wait_seconds_and_timestamp_expressions() -> None:
    clock = Clock()
    definition = jsonata(
        {
            "W1": {"Type": "Wait", "Seconds": "{% $states.input.delay * 2 %}", "Next": "W2"},
            "W2": {"Type": "Wait", "Timestamp": "{% $states.input.until %}", "End": True},
        }
    )
    until = "2026-01-01T01:00:00Z"
    state, events = run(definition, {"delay": 5, "until": until}, clock=clock)
    assert state["status"] == "SUCCEEDED"
    exits = [e["timestamp"] for e in events if e["type"] == "WaitStateExited"]
    assert exits == ["2026-01-01T00:00:10.000Z", "2026-01-01T01:00:00.000Z"]


def test_wait_seconds_that_is_not_an_integer_fails() -> None:
    state, _ = run(jsonata({"W": {"Type": "Wait", "Seconds": "{% 'soon' %}", "End": True}}), {})
    assert state["error"] == "States.QueryEvaluationError"


def test_fail_error_and_cause_expressions() -> None:
    definition = jsonata(
        {"F": {"Type": "Fail", "Error": "{% 'Order.' & $states.input.code %}", "Cause": "{% $string($states.input.detail) %}"}}
    )  # fmt: skip
    state, _ = run(definition, {"code": "Missing", "detail": {"id": 3}})
    assert (state["status"], state["error"], state["cause"]) == (
        "FAILED",
        "Order.Missing",
        '{"id":3}',
    )


def test_catch_output_and_assign_see_the_error_output() -> None:
    definition = jsonata(
        {
            "T": {
                "Type": "Task",
                "Resource": "step:fail",
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Assign": {"failedWith": "{% $states.errorOutput.Error %}"},
                        "Output": {
                            "error": "{% $states.errorOutput.Error %}",
                            "input": "{% $states.input %}",
                        },
                        "Next": "Handle",
                    }
                ],
                "End": True,
            },
            "Handle": {
                "Type": "Pass",
                "Output": {"seen": "{% $states.input %}", "var": "{% $failedWith %}"},
                "End": True,
            },
        }
    )
    state, _ = run(definition, {"a": 1})
    assert state["output"] == {
        "seen": {"error": "LookupError", "input": {"a": 1}},
        "var": "LookupError",
    }


def test_catch_without_output_passes_the_error_output() -> None:
    definition = jsonata(
        {"T": {"Type": "Task", "Resource": "step:fail", "End": True,
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
         "H": {"Type": "Succeed"}}
    )  # fmt: skip
    state, _ = run(definition, {})
    assert state["output"]["Error"] == "LookupError"


def test_undefined_output_is_a_catchable_query_evaluation_error_worded_as_aws() -> None:
    definition = jsonata(
        {
            "T": {
                "Type": "Task",
                "Resource": "step:x",
                "Output": "{% $states.result.missing %}",
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H"}],
                "End": True,
            },
            "H": {"Type": "Pass", "End": True},
        }
    )
    state, _ = run(definition, {})
    assert state["status"] == "SUCCEEDED"
    assert state["output"]["Error"] == "States.QueryEvaluationError"
    assert state["output"]["Cause"] == (
        "An error occurred while executing the state 'T' (entered at the event id #2). "
        "The JSONata expression '$states.result.missing' specified for the field 'Output' "
        "returned nothing (undefined)."
    )


def test_undefined_variable_in_an_outer_scope_is_a_query_evaluation_error() -> None:
    # a Map iteration's variables are gone when it ends
    processor = {
        "StartAt": "I",
        "States": {"I": {"Type": "Pass", "Assign": {"inner": 1}, "End": True}},
    }
    definition = jsonata(
        {"M": {"Type": "Map", "Items": [1], "ItemProcessor": processor, "Next": "Read"},
         "Read": {"Type": "Pass", "Output": "{% $inner %}", "End": True}}
    )  # fmt: skip
    state, _ = run(definition, {})
    assert state["error"] == "States.QueryEvaluationError"


def test_task_timeout_and_heartbeat_expressions() -> None:
    definition = jsonata(
        {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
               "Arguments": {"token": "{% $states.context.Task.Token %}"},
               "TimeoutSeconds": "{% $states.input.timeout %}",
               "HeartbeatSeconds": "{% $states.input.timeout - 10 %}", "End": True}}
    )  # fmt: skip
    tasks, clock = Tasks(), Clock()
    validate(definition)
    engine = Interpreter(definition, tasks=tasks, now=clock)
    state = engine.start({"timeout": 60}, execution_id="e", name="e")
    engine.advance(state)
    assert isinstance(tasks.calls[0][1]["token"], str)
    assert pending_tokens(state)[0]["timeout_at"] == "2026-01-01T00:01:00.000Z"
    clock.now += timedelta(seconds=51)
    engine.advance(state)
    assert state["error"] == "States.HeartbeatTimeout"


# -- Step Functions' JSONata functions (AWS guide examples) ------------------------------


def test_step_functions_functions() -> None:
    definition = jsonata(
        {
            "F": {
                "Type": "Pass",
                "Output": {
                    "partition": "{% $partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3) %}",
                    "range": "{% $range(0, 10, 2) %}",
                    "down": "{% $range(3, 1, -1) %}",
                    "hash": "{% $hash($states.input.content, 'SHA-256') %}",
                    "seeded": "{% $random($states.input.seed) = $random($states.input.seed) %}",
                    "random": "{% $random() %}",
                    "uuid": "{% $uuid() %}",
                    "parsed": "{% $parse($states.input.json) %}",
                },
                "End": True,
            }
        }
    )
    state, _ = run(definition, {"content": "hello", "seed": 42, "json": '{"a": [1, 2]}'})
    out = state["output"]
    assert out["partition"] == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert out["range"] == [0, 2, 4, 6, 8, 10]
    assert out["down"] == [3, 2, 1]
    assert out["hash"] == hashlib.sha256(b"hello").hexdigest()
    assert out["seeded"] is True
    assert 0 <= out["random"] < 1
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", out["uuid"]
    )
    assert out["parsed"] == {"a": [1, 2]}


def test_eval_is_refused_as_step_functions_refuses_it() -> None:
    # data never becomes an expression; $parse reads JSON text
    definition = jsonata(
        {"F": {"Type": "Pass", "Output": "{% $eval($states.input.e) %}", "End": True}}
    )
    state, _ = run(definition, {"e": "1 + 1"})
    assert state["error"] == "States.QueryEvaluationError"
    assert "use $parse" in state["cause"]


def test_hash_with_an_unknown_algorithm_fails() -> None:
    state, _ = run(
        jsonata({"F": {"Type": "Pass", "Output": "{% $hash('x', 'CRC32') %}", "End": True}}), {}
    )
    assert state["error"] == "States.QueryEvaluationError"


# -- variables in JSONPath states -----------------------------------------------------------


def test_jsonpath_assign_reads_the_result_and_later_states_read_variables() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "step:x",
                "ResultSelector": {"orderId.$": "$.id"},
                "Assign": {"order.$": "$.orderId", "fixed": {"k": 1}, "ctx.$": "$$.Execution.Name"},
                "ResultPath": "$.result",
                "Next": "C",
            },
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$order", "StringEquals": "o-1", "Next": "P"}],
                "Default": "F",
            },
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "o.$": "$order",
                    "k.$": "$fixed.k",
                    "who.$": "States.Format('{}/{}', $ctx, $order)",
                },
                "End": True,
            },
            "F": {"Type": "Fail"},
        },
    }
    state, events = run(definition, {"in": 1})
    assert state["output"] == {"o": "o-1", "k": 1, "who": "e1/o-1"}
    assert next(e for e in events if e["type"] == "TaskStateExited")["assignedVariables"] == {
        "order": "o-1",
        "fixed": {"k": 1},
        "ctx": "e1",
    }


def test_jsonpath_reference_to_an_unassigned_variable_is_a_runtime_error() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$nope"}, "End": True}},
    }
    state, _ = run(definition, {})
    assert state["error"] == "States.Runtime"
    assert "references the variable 'nope'" in state["cause"]


def test_a_jsonata_state_in_a_jsonpath_machine() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Pass",
                "Parameters": {"v.$": "$.x"},
                "Assign": {"seen.$": "$.v"},
                "Next": "B",
            },
            "B": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": "{% $seen + $states.input.v %}",
                "End": True,
            },
        },
    }
    state, _ = run(definition, {"x": 20})
    assert state["output"] == 40


# -- off the Lambda package -----------------------------------------------------------------


def test_the_engine_does_not_import_the_jsonata_library_until_an_expression_runs() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import apps.workflows.engine as e; "
        "e.validate({'StartAt': 'A', 'States': {'A': {'Type': 'Pass', 'End': True}}}); "
        "print('jsonata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_the_library_definitions_still_load_and_running_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from apps.workflows.engine import jsonata as engine_jsonata

    monkeypatch.setitem(sys.modules, "jsonata", None)  # as on Lambda: not installed
    engine_jsonata._compiled.cache_clear()
    definition = jsonata({"P": {"Type": "Pass", "Output": "{% $states.input %}", "End": True}})
    validate(definition)  # Step Functions checks the expressions on AWS
    engine = Interpreter(definition, tasks=Tasks())
    state = engine.start({}, execution_id="e", name="e")
    with pytest.raises(engine_jsonata.JsonataUnavailable, match=r"requirements-dev\.txt"):
        engine.advance(state)
    engine_jsonata._compiled.cache_clear()


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("$range(1, 5, 0)", "$range step must not be 0"),
        ("$range(0, 1000, 1)", "$range may produce at most 1000 items"),
        ("$partition([1, 2], 0)", "$partition takes an array and a positive chunk size"),
        ("$partition('ab', 1)", "$partition takes an array and a positive chunk size"),
    ],
)
def test_step_functions_array_functions_refuse_what_step_functions_refuses(
    expression, reason
) -> None:
    definition = jsonata({"F": {"Type": "Pass", "Output": "{% " + expression + " %}", "End": True}})
    state, _ = run(definition, {})
    assert state["error"] == "States.QueryEvaluationError"
    assert reason in state["cause"]
