"""Parse and validate Amazon States Language definitions.

``validate()`` refuses what Step Functions refuses at ``CreateStateMachine`` (unknown
fields, missing transitions, unreachable states, bad paths, misplaced ``States.ALL``...)
with a :class:`DefinitionError` naming the state and the reason.

``QueryLanguage`` (``JSONPath``, the default, or ``JSONata``) is set for the whole machine
and may be set per state; a JSONata state takes ``Arguments``, ``Output``, ``Items`` and
``Condition`` instead of the JSONPath-only fields (``InputPath``, ``Parameters``,
``ResultSelector``, ``ResultPath``, ``OutputPath``, ``Result`` and the ``*Path`` variants),
which it refuses. ``Assign`` works in both; an inner scope (a Parallel branch, a Map
iteration) may read the variables of the scopes around it but not assign them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from apps.workflows.engine import choice, intrinsics, jsonata, paths
from apps.workflows.engine.errors import DefinitionError
from apps.workflows.engine.jsonata import JSONATA, JSONPATH

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
for _kind in ("Pass", "Task", "Choice", "Wait", "Parallel", "Map"):
    _ALLOWED[_kind] |= {"Assign"}
for _kind in STATE_TYPES:
    _ALLOWED[_kind] |= {"QueryLanguage"}

#: Fields only JSONPath states take; a JSONata state refuses them.
JSONPATH_ONLY = frozenset(
    {
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Result",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "ErrorPath",
        "CausePath",
        "MaxConcurrencyPath",
        "Iterator",
    }
)
#: Fields only JSONata states take (``Condition`` is a Choice rule's).
_JSONATA_FIELDS: dict[str, set[str]] = {
    "Pass": {"Output"},
    "Task": {"Arguments", "Output"},
    "Choice": {"Output"},
    "Wait": {"Output"},
    "Succeed": {"Output"},
    "Fail": set(),
    "Parallel": {"Arguments", "Output"},
    "Map": {"Items", "Output"},
}
JSONATA_ONLY = frozenset({"Arguments", "Output", "Items", "Condition"})
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,79}$")


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate an ``*.asl.json`` file."""
    try:
        definition = json.loads(Path(path).read_text())
    except ValueError as exc:
        raise DefinitionError(f"{path} is not valid JSON: {exc}") from exc
    validate(definition)
    return definition


def validate(definition: Any) -> None:
    """Raise DefinitionError when ``definition`` is not a valid state machine."""
    names: set[str] = set()
    if isinstance(definition, dict):
        language = definition.get("QueryLanguage", JSONPATH)
        if language not in (JSONPATH, JSONATA):
            raise DefinitionError("'QueryLanguage' must be JSONPath or JSONata")
    _validate_machine(definition, names, top=True)
    _check_variable_scopes(definition, frozenset())


def query_language(definition: dict[str, Any], state: dict[str, Any]) -> str:
    """The query language a state runs in: its own, else the machine's (JSONPath)."""
    return str(state.get("QueryLanguage", definition.get("QueryLanguage", JSONPATH)))


def _validate_machine(
    machine: Any, names: set[str], *, top: bool = False, language: str | None = None
) -> None:
    if not isinstance(machine, dict):
        raise DefinitionError("a state machine must be a JSON object")
    allowed = {"StartAt", "States", "Comment"} | (
        {"Version", "TimeoutSeconds", "QueryLanguage"} if top else set()
    )
    allowed |= {"ProcessorConfig"}
    _no_unknown_fields(machine, allowed, None)
    language = machine.get("QueryLanguage", JSONPATH) if top else language or JSONPATH
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
        _validate_state(name, state, states, names, language)
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


def _validate_state(
    name: str, state: Any, states: dict[str, Any], names: set[str], machine_language: str
) -> None:
    if not isinstance(state, dict):
        raise DefinitionError("a state must be a JSON object", state=name)
    kind = state.get("Type")
    if kind not in STATE_TYPES:
        raise DefinitionError(f"unknown state Type {kind!r}", state=name)
    language = state.get("QueryLanguage", machine_language)
    if language not in (JSONPATH, JSONATA):
        raise DefinitionError("'QueryLanguage' must be JSONPath or JSONata", state=name)
    if machine_language == JSONATA and language == JSONPATH:
        raise DefinitionError(
            "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
            state=name,
        )
    if language == JSONATA:
        _validate_jsonata_fields(name, kind, state)
    else:
        _refuse_fields(name, state, JSONATA_ONLY, "JSONata", "JSONPath")
        _no_unknown_fields(state, _ALLOWED[kind], name)
        _validate_paths(name, state)
        for field in ("Parameters", "ItemSelector", "ResultSelector"):
            if field in state:
                _validate_template(name, field, state[field])
    _validate_transition(name, kind, state, states)
    _validate_assign(name, state.get("Assign"), language, "Assign")
    for field in ("Retry", "Catch"):
        if field in state:
            _validate_handlers(name, field, state[field], states, language)
    validator = _VALIDATORS.get(kind)
    if validator:
        validator(name, {**state, "QueryLanguage": language}, states, names)


def _refuse_fields(
    name: str, obj: dict[str, Any], fields: frozenset[str], only: str, lang: str
) -> None:
    found = sorted(set(obj) & fields)
    if found:
        raise DefinitionError(
            f"field(s) {', '.join(found)} are {only}-only and not allowed in a {lang} state",
            state=name,
        )


def _validate_jsonata_fields(name: str, kind: str, state: dict[str, Any]) -> None:
    _refuse_fields(name, state, JSONPATH_ONLY, "JSONPath", "JSONata")
    allowed = (_ALLOWED[kind] - JSONPATH_ONLY) | _JSONATA_FIELDS[kind]
    _no_unknown_fields(state, allowed, name)
    for field in ("Arguments", "Output", "Items", "ItemSelector", "Assign", "Error", "Cause"):
        _validate_expressions(name, field, state.get(field))
    for field in ("TimeoutSeconds", "HeartbeatSeconds", "Seconds", "Timestamp", "MaxConcurrency"):
        if jsonata.is_expression(state.get(field)):
            _validate_expressions(name, field, state[field])


def _validate_expressions(name: str, field: str, value: Any) -> None:
    for expression in jsonata.expressions(value):
        try:
            jsonata.check(expression)
        except jsonata.JsonataSyntaxError as exc:
            raise DefinitionError(f"'{field}': {exc}", state=name) from None


def _validate_assign(name: str, assign: Any, language: str, where: str) -> None:
    if assign is None:
        return
    if not isinstance(assign, dict):
        raise DefinitionError(f"'{where}' must be an object of variable names", state=name)
    for key, value in assign.items():
        variable = key[:-2] if language == JSONPATH and key.endswith(".$") else key
        if not _VARIABLE.match(variable) or variable == "states":
            raise DefinitionError(
                f"'{where}': {key!r} is not a variable name (letters, digits and _, not "
                "starting with a digit, at most 80; 'states' is reserved)",
                state=name,
            )
        if language == JSONATA:
            _validate_expressions(name, f"{where}.{key}", value)
        elif key.endswith(".$"):
            _validate_template(name, where, {key: value})
        else:
            _validate_template(name, where, value)


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


def _validate_handlers(
    name: str, field: str, handlers: Any, states: dict[str, Any], language: str
) -> None:
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
            else {"ErrorEquals", "Next", "Comment", "Assign"}
            | ({"Output"} if language == JSONATA else {"ResultPath"})
        )
        if not isinstance(handler, dict):
            raise DefinitionError(f"'{field}[{i}]' must be an object", state=name)
        if field == "Catch":
            other = frozenset({"ResultPath"} if language == JSONATA else {"Output"})
            only, lang = ("JSONPath", "JSONata") if language == JSONATA else ("JSONata", "JSONPath")
            _refuse_fields(name, handler, other, only, lang)
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
            if language == JSONATA:
                _validate_expressions(name, f"Catch[{i}].Output", handler.get("Output"))
            _validate_assign(name, handler.get("Assign"), language, f"Catch[{i}].Assign")
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
    literal = {f: state[f] for f in ("TimeoutSeconds", "HeartbeatSeconds") if f in state}
    for field, value in list(literal.items()):
        if jsonata.is_expression(value) and state["QueryLanguage"] == JSONATA:
            del literal[field]  # evaluated when the task starts
        else:
            _positive_int(value, field, name)
    if "HeartbeatSeconds" in literal and literal["HeartbeatSeconds"] >= literal.get(
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
    if state["QueryLanguage"] == JSONATA and jsonata.is_expression(
        state.get("Seconds", state.get("Timestamp"))
    ):
        return  # evaluated when the Wait is entered
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
    language = state["QueryLanguage"]
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or rule.get("Next") not in states:
            raise DefinitionError(f"'Choices[{i}].Next' names no state", state=name)
        _validate_assign(name, rule.get("Assign"), language, f"Choices[{i}].Assign")
        body = {k: v for k, v in rule.items() if k not in ("Next", "Assign")}
        if language == JSONATA:
            _validate_condition(name, f"Choices[{i}]", body)
        else:
            _validate_rule(name, f"Choices[{i}]", body)
    if "Default" in state and state["Default"] not in states:
        raise DefinitionError(f"'Default' names no state: {state['Default']!r}", state=name)


def _validate_condition(name: str, where: str, rule: dict[str, Any]) -> None:
    """A JSONata Choice rule: ``Condition`` (an expression or a boolean), ``Output``."""
    _no_unknown_fields(rule, {"Condition", "Output", "Comment"}, name)
    condition = rule.get("Condition")
    if not jsonata.is_expression(condition) and not isinstance(condition, bool):
        raise DefinitionError(
            f"'{where}.Condition' must be a {{% ... %}} expression or a boolean", state=name
        )
    _validate_expressions(name, f"{where}.Condition", condition)
    _validate_expressions(name, f"{where}.Output", rule.get("Output"))


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
        _validate_sub(name, branch, names, state["QueryLanguage"])


def _validate_map(
    name: str, state: dict[str, Any], states: dict[str, Any], names: set[str]
) -> None:
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if processor is None:
        raise DefinitionError("a Map needs an 'ItemProcessor'", state=name)
    if "MaxConcurrency" in state and not jsonata.is_expression(state["MaxConcurrency"]):
        _positive_int(state["MaxConcurrency"], "MaxConcurrency", name, zero=True)
    if "ItemSelector" in state and "Parameters" in state:
        raise DefinitionError("'ItemSelector' and 'Parameters' are exclusive", state=name)
    _validate_sub(name, processor, names, state["QueryLanguage"])


def _validate_sub(name: str, machine: Any, names: set[str], language: str) -> None:
    try:
        _validate_machine(machine, names, language=language)
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


def assigned_names(state: dict[str, Any]) -> set[str]:
    """The variables a state assigns: its own ``Assign``, its Choice rules' and catchers'."""
    blocks = [state.get("Assign")]
    blocks += [rule.get("Assign") for rule in state.get("Choices", [])]
    blocks += [catcher.get("Assign") for catcher in state.get("Catch", [])]
    return {
        key[:-2] if key.endswith(".$") else key
        for block in blocks
        if isinstance(block, dict)
        for key in block
    }


def _check_variable_scopes(machine: Any, outer: frozenset[str]) -> None:
    """A Parallel branch or a Map iteration is a scope of its own: it reads the variables
    of the scopes around it but cannot assign them (Step Functions refuses the definition),
    and what it assigns is gone when it ends."""
    if not isinstance(machine, dict) or not isinstance(machine.get("States"), dict):
        return
    here = set()
    for name, state in machine["States"].items():
        names = assigned_names(state)
        clash = sorted(names & outer)
        if clash:
            raise DefinitionError(
                f"variable(s) {', '.join(clash)} belong to an outer scope: a state inside a "
                "Parallel branch or Map iteration can read them but not assign them",
                state=name,
            )
        here |= names
    inner = outer | here
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            _check_variable_scopes(branch, inner)
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if processor:
            _check_variable_scopes(processor, inner)


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
