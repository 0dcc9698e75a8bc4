"""Parse and validate Amazon States Language definitions.

``validate()`` refuses what Step Functions refuses at ``CreateStateMachine`` (unknown
fields, missing transitions, unreachable states, bad paths, misplaced ``States.ALL``...)
with a :class:`DefinitionError` naming the state and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from apps.workflows.engine import choice, intrinsics, paths
from apps.workflows.engine.errors import DefinitionError

_COMMON = {"Type", "Comment"}
_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_RESULT = {"ResultPath"}
_ALLOWED: dict[str, set[str]] = {
    "Pass": _COMMON | _IO | _FLOW | _RESULT | {"Parameters", "Result"},
    "Task": _COMMON
    | _IO
    | _FLOW
    | _RESULT
    | {
        "Resource",
        "Parameters",
        "ResultSelector",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
    },
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _IO | _FLOW | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _COMMON
    | _IO
    | _FLOW
    | _RESULT
    | {"Branches", "Parameters", "ResultSelector", "Retry", "Catch"},
    "Map": _COMMON
    | _IO
    | _FLOW
    | _RESULT
    | {
        "Iterator",
        "ItemProcessor",
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ResultSelector",
        "Retry",
        "Catch",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "Label",
    },
}
STATE_TYPES = frozenset(_ALLOWED)


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate an ``*.asl.json`` file."""
    try:
        definition = json.loads(Path(path).read_text())
    except ValueError as exc:
        raise DefinitionError(f"{path} is not valid JSON: {exc}") from exc
    validate(definition)
    return definition  # type: ignore[no-any-return]


def validate(definition: Any) -> None:
    """Raise DefinitionError when ``definition`` is not a valid state machine."""
    names: set[str] = set()
    _validate_machine(definition, names, top=True)


def _validate_machine(machine: Any, names: set[str], *, top: bool = False) -> None:
    if not isinstance(machine, dict):
        raise DefinitionError("a state machine must be a JSON object")
    allowed = {"StartAt", "States", "Comment"} | ({"Version", "TimeoutSeconds"} if top else set())
    allowed |= {"ProcessorConfig"}
    _no_unknown_fields(machine, allowed, None)
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise DefinitionError("'States' must be a non-empty object")
    if machine.get("StartAt") not in states:
        raise DefinitionError(f"'StartAt' names no state: {machine.get('StartAt')!r}")
    if top and "TimeoutSeconds" in machine:
        _positive_int(machine["TimeoutSeconds"], "TimeoutSeconds", None)
    for name, state in states.items():
        if name in names:
            raise DefinitionError("state names must be unique in the whole machine", state=name)
        names.add(name)
        if len(name) > 80:
            raise DefinitionError("state names are at most 80 characters", state=name)
        _validate_state(name, state, states, names)
    _check_reachable(machine)


def _no_unknown_fields(obj: dict[str, Any], allowed: set[str], state: str | None) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DefinitionError(f"field(s) {', '.join(unknown)} not supported here", state=state)


def _positive_int(value: Any, field: str, state: str | None, *, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise DefinitionError(
            f"'{field}' must be a {'non-negative' if zero else 'positive'} integer", state=state
        )


def _validate_state(name: str, state: Any, states: dict[str, Any], names: set[str]) -> None:
    if not isinstance(state, dict):
        raise DefinitionError("a state must be a JSON object", state=name)
    kind = state.get("Type")
    if kind not in STATE_TYPES:
        raise DefinitionError(f"unknown state Type {kind!r}", state=name)
    _no_unknown_fields(state, _ALLOWED[kind], name)
    _validate_transition(name, kind, state, states)
    _validate_paths(name, state)
    for field in ("Parameters", "ItemSelector", "ResultSelector"):
        if field in state:
            _validate_template(name, field, state[field])
    for field in ("Retry", "Catch"):
        if field in state:
            _validate_handlers(name, field, state[field], states)
    validator = _VALIDATORS.get(kind)
    if validator:
        validator(name, state, states, names)


def _validate_transition(
    name: str, kind: str, state: dict[str, Any], states: dict[str, Any]
) -> None:
    if kind in ("Choice", "Succeed", "Fail"):
        return
    has_next, has_end = "Next" in state, state.get("End") is True
    if has_next == has_end:
        raise DefinitionError("exactly one of 'Next' or 'End: true' is required", state=name)
    if "End" in state and state["End"] is not True:
        raise DefinitionError("'End' must be true when present", state=name)
    if has_next and state["Next"] not in states:
        raise DefinitionError(f"'Next' names no state: {state['Next']!r}", state=name)


def _validate_paths(name: str, state: dict[str, Any]) -> None:
    for field in (
        "InputPath",
        "OutputPath",
        "ItemsPath",
        "ErrorPath",
        "CausePath",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
    ):
        value = state.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DefinitionError(f"'{field}' must be a JSONPath or null", state=name)
        if field in ("ErrorPath", "CausePath") and value.startswith("States."):
            _validate_intrinsic(name, field, value)
            continue
        try:
            paths.check_path(value)
        except ValueError as exc:
            raise DefinitionError(f"'{field}': {exc}", state=name) from None
    result_path = state.get("ResultPath")
    if result_path is not None:
        try:
            paths.check_reference_path(str(result_path))
        except ValueError as exc:
            raise DefinitionError(f"'ResultPath': {exc}", state=name) from None


def _validate_intrinsic(name: str, field: str, text: str) -> None:
    try:
        intrinsics.parse(text)
    except intrinsics.IntrinsicSyntaxError as exc:
        raise DefinitionError(f"'{field}': {exc}", state=name) from None


def _validate_template(name: str, field: str, template: Any) -> None:
    if isinstance(template, list):
        for item in template:
            _validate_template(name, field, item)
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        if not key.endswith(".$"):
            _validate_template(name, field, value)
            continue
        if not isinstance(value, str):
            raise DefinitionError(f"'{field}.{key}' must be a path or intrinsic", state=name)
        if value.startswith("$"):
            try:
                paths.check_path(value)
            except ValueError as exc:
                raise DefinitionError(f"'{field}.{key}': {exc}", state=name) from None
        else:
            _validate_intrinsic(name, f"{field}.{key}", value)


def _validate_handlers(name: str, field: str, handlers: Any, states: dict[str, Any]) -> None:
    if not isinstance(handlers, list):
        raise DefinitionError(f"'{field}' must be an array", state=name)
    for i, handler in enumerate(handlers):
        allowed = (
            {
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            }
            if field == "Retry"
            else {"ErrorEquals", "Next", "ResultPath", "Comment"}
        )
        if not isinstance(handler, dict):
            raise DefinitionError(f"'{field}[{i}]' must be an object", state=name)
        _no_unknown_fields(handler, allowed, name)
        errors_ = handler.get("ErrorEquals")
        if (
            not isinstance(errors_, list)
            or not errors_
            or not all(isinstance(e, str) for e in errors_)
        ):
            raise DefinitionError(f"'{field}[{i}].ErrorEquals' must list error names", state=name)
        if "States.ALL" in errors_ and (len(errors_) > 1 or i != len(handlers) - 1):
            raise DefinitionError(
                f"'{field}[{i}]': States.ALL must appear alone in the last {field.lower()}er",
                state=name,
            )
        if field == "Catch":
            if handler.get("Next") not in states:
                raise DefinitionError(f"'Catch[{i}].Next' names no state", state=name)
            if handler.get("ResultPath") is not None:
                try:
                    paths.check_reference_path(str(handler["ResultPath"]))
                except ValueError as exc:
                    raise DefinitionError(f"'Catch[{i}].ResultPath': {exc}", state=name) from None
        else:
            _validate_retrier(name, i, handler)


def _validate_retrier(name: str, i: int, retrier: dict[str, Any]) -> None:
    for field in ("IntervalSeconds", "MaxDelaySeconds"):
        if field in retrier:
            _positive_int(retrier[field], f"Retry[{i}].{field}", name)
    if "MaxAttempts" in retrier:
        _positive_int(retrier["MaxAttempts"], f"Retry[{i}].MaxAttempts", name, zero=True)
    rate = retrier.get("BackoffRate", 2.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 1.0:
        raise DefinitionError(f"'Retry[{i}].BackoffRate' must be a number >= 1.0", state=name)
    if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
        raise DefinitionError(f"'Retry[{i}].JitterStrategy' must be FULL or NONE", state=name)


def _validate_task(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    if not isinstance(state.get("Resource"), str) or not state["Resource"]:
        raise DefinitionError("a Task needs a 'Resource'", state=name)
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        if field in state:
            _positive_int(state[field], field, name)
    if "HeartbeatSeconds" in state and state["HeartbeatSeconds"] >= state.get(
        "TimeoutSeconds", 99999999
    ):
        raise DefinitionError(
            "'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'", state=name
        )


def _validate_wait(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in state]
    if len(given) != 1:
        raise DefinitionError(
            "a Wait needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
            state=name,
        )
    if "Seconds" in state:
        _positive_int(state["Seconds"], "Seconds", name, zero=True)
    if "Timestamp" in state and choice.parse_timestamp(state["Timestamp"]) is None:
        raise DefinitionError("'Timestamp' must be an RFC 3339 timestamp", state=name)


def _validate_fail(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    for field in ("Error", "Cause"):
        if field in state and f"{field}Path" in state:
            raise DefinitionError(f"'{field}' and '{field}Path' are exclusive", state=name)


def _validate_choice(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    rules = state.get("Choices")
    if not isinstance(rules, list) or not rules:
        raise DefinitionError("a Choice needs a non-empty 'Choices' array", state=name)
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or rule.get("Next") not in states:
            raise DefinitionError(f"'Choices[{i}].Next' names no state", state=name)
        _validate_rule(name, f"Choices[{i}]", {k: v for k, v in rule.items() if k != "Next"})
    if "Default" in state and state["Default"] not in states:
        raise DefinitionError(f"'Default' names no state: {state['Default']!r}", state=name)


def _validate_rule(name: str, where: str, rule: Any) -> None:
    if not isinstance(rule, dict):
        raise DefinitionError(f"'{where}' must be an object", state=name)
    rule = {k: v for k, v in rule.items() if k != "Comment"}
    if "And" in rule or "Or" in rule:
        op = "And" if "And" in rule else "Or"
        if set(rule) != {op} or not isinstance(rule[op], list) or not rule[op]:
            raise DefinitionError(f"'{where}.{op}' must be a non-empty array alone", state=name)
        for i, sub in enumerate(rule[op]):
            _validate_rule(name, f"{where}.{op}[{i}]", sub)
        return
    if "Not" in rule:
        if set(rule) != {"Not"}:
            raise DefinitionError(f"'{where}.Not' must stand alone", state=name)
        _validate_rule(name, f"{where}.Not", rule["Not"])
        return
    ops = [k for k in rule if k in choice.COMPARISONS]
    unknown = sorted(set(rule) - set(ops) - {"Variable"})
    if unknown:
        raise DefinitionError(f"'{where}': unknown operator(s) {', '.join(unknown)}", state=name)
    if len(ops) != 1 or not isinstance(rule.get("Variable"), str):
        raise DefinitionError(f"'{where}' needs a Variable and exactly one operator", state=name)
    try:
        paths.check_path(rule["Variable"])
        _check_operand(ops[0], rule[ops[0]])
    except ValueError as exc:
        raise DefinitionError(f"'{where}': {exc}", state=name) from None


def _check_operand(op: str, value: Any) -> None:
    if op.endswith("Path"):
        paths.check_path(value if isinstance(value, str) else "")
    elif op.startswith("Is"):
        if not isinstance(value, bool):
            raise ValueError(f"{op} takes true or false")
    elif op.startswith(("String", "Timestamp")):
        if not isinstance(value, str):
            raise ValueError(f"{op} takes a string")
        if op.startswith("Timestamp") and choice.parse_timestamp(value) is None:
            raise ValueError(f"{op} takes an RFC 3339 timestamp")
    elif op.startswith("Numeric"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{op} takes a number")
    elif op == "BooleanEquals" and not isinstance(value, bool):
        raise ValueError("BooleanEquals takes true or false")


def _validate_parallel(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        raise DefinitionError("a Parallel needs a non-empty 'Branches' array", state=name)
    for branch in branches:
        _validate_sub(name, branch, names)


def _validate_map(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if processor is None:
        raise DefinitionError("a Map needs an 'ItemProcessor'", state=name)
    if "MaxConcurrency" in state:
        _positive_int(state["MaxConcurrency"], "MaxConcurrency", name, zero=True)
    if "ItemSelector" in state and "Parameters" in state:
        raise DefinitionError("'ItemSelector' and 'Parameters' are exclusive", state=name)
    _validate_sub(name, processor, names)


def _validate_sub(name: str, machine: Any, names: set[str]) -> None:
    try:
        _validate_machine(machine, names)
    except DefinitionError as exc:
        if exc.state is None:
            raise DefinitionError(f"in a branch: {exc.reason}", state=name) from None
        raise


_VALIDATORS = {
    "Task": _validate_task,
    "Wait": _validate_wait,
    "Fail": _validate_fail,
    "Choice": _validate_choice,
    "Parallel": _validate_parallel,
    "Map": _validate_map,
}


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for rule in state.get("Choices", []):
        yield rule["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def _check_reachable(machine: dict[str, Any]) -> None:
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_targets(machine["States"][name]))
    for name in machine["States"]:
        if name not in seen:
            raise DefinitionError("state is not reachable from StartAt", state=name)


def walk_states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (name, state) of a machine, including those inside Parallel and Map."""
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from walk_states(branch)
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if processor:
            yield from walk_states(processor)


def sub_machine(machine: dict[str, Any], route: list[Any]) -> dict[str, Any]:
    """The (nested) machine reached by ``route``: pairs of state name and branch index."""
    for name, index in zip(route[::2], route[1::2], strict=True):
        state = machine["States"][name]
        if state["Type"] == "Parallel":
            machine = state["Branches"][index]
        else:
            machine = state.get("ItemProcessor", state.get("Iterator"))
    return machine
