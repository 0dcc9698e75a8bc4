"""EventBridge event patterns: validation and a local matcher with AWS's semantics.

The local bus decides which receivers get an event with :func:`matches`; on AWS the same
pattern dict goes into an EventBridge rule, so the two must agree. A differential test
(tests/apps/events/test_patterns_differential.py) runs a corpus through both.

Semantics followed (AWS documentation "Event patterns", "Comparison operators" and
"Content filtering"; event-ruler, the library EventBridge matches with):

* every key of a pattern must match (AND); the values of a leaf array are alternatives (OR);
  ``{"$or": [p1, p2, ...]}`` is an OR of sub-patterns alongside the other keys;
* a pattern object descends into the event; an array of objects in the event matches when
  any one element matches the whole sub-pattern;
* fields are named by their dotted path on both sides: a pattern key ``"a.b"`` matches the
  event's ``a`` -> ``b``, and a pattern ``a`` -> ``b`` matches an event key ``"a.b"``;
* a leaf matches an array in the event when any element matches;
* literals match by type and value (``true`` is not ``1``, ``"5"`` is not ``5``); numbers
  by their double value, so ``300``, ``300.0`` and ``3.0e2`` are equal (event-ruler adds a
  ``numericEquals`` matcher for every number in a pattern);
* ``prefix``/``suffix`` (also with ``equals-ignore-case``), ``equals-ignore-case``,
  ``anything-but`` (values, or ``prefix``/``suffix``/``equals-ignore-case``/``wildcard``,
  each a string or a list of strings; a non-string value is "anything but" any of them),
  ``numeric`` (numbers only, never booleans), ``exists`` (an empty array does not exist,
  an object is not a leaf), ``cidr`` (IP strings only), ``wildcard`` (``*``; ``\\*`` is a
  literal star, ``\\\\`` a literal backslash).

:func:`validate_pattern` refuses what ``PutRule`` refuses (unknown or miscased operators,
malformed operands, empty prefixes and suffixes, bad escapes, wildcard values over the
complexity limit, a field named twice, operator names inside ``$or``) so a bad pattern fails
when it is declared, not when an event arrives. It takes the pattern as a dict or as JSON
text.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from typing import Any

from apps.events.exceptions import InvalidPatternError
from project.wildcards import wildcard_match

__all__ = ["OPERATORS", "WILDCARD_COMPLEXITY_LIMIT", "matches", "validate_pattern"]

OPERATORS = frozenset(
    {
        "prefix",
        "suffix",
        "equals-ignore-case",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
    }
)
_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_MISSING: Any = object()


# ---------------------------------------------------------------------------- validation


def validate_pattern(pattern: Any) -> dict[str, Any]:
    """Return ``pattern`` as a dict, or raise :class:`InvalidPatternError` naming the first
    problem in it.

    ``pattern`` is a mapping or its JSON text (a rule declared in a file, or pasted into the
    admin): text that is not JSON is refused with the same error code, the detail giving
    the line and column ``json`` stopped at.
    """
    if isinstance(pattern, str | bytes):
        pattern = _parse_json(pattern)
    if not isinstance(pattern, Mapping) or not pattern:
        raise InvalidPatternError("An event pattern must be a non-empty JSON object.")
    _validate_object(pattern, "")
    _check_paths_unique(pattern)
    return dict(pattern)


def _parse_json(text: str | bytes) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidPatternError(
            f"An event pattern must be JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            detail={"path": "", "line": exc.lineno, "column": exc.colno},
        ) from exc


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and which PutRule refuses.
    raise InvalidPatternError(
        f"An event pattern must be JSON: {name} is not a JSON value.", detail={"path": ""}
    )


def _fail(path: str, message: str) -> None:
    where = f" at {path!r}" if path else ""
    raise InvalidPatternError(f"Invalid event pattern{where}: {message}", detail={"path": path})


def _validate_object(pattern: Mapping[str, Any], path: str, *, in_or: bool = False) -> None:
    for key, value in pattern.items():
        here = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            _fail(path, "keys must be strings.")
        if in_or and key in OPERATORS:
            # event-ruler's RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP
            _fail(here, f"{key!r} is an operator and cannot be a field name inside $or.")
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                _fail(here, "$or takes an array of at least two patterns.")
            for i, sub in enumerate(value):
                if not isinstance(sub, Mapping) or not sub:
                    _fail(f"{here}[{i}]", "each $or alternative must be a non-empty object.")
                _validate_object(sub, path, in_or=True)
        elif isinstance(value, Mapping):
            if not value:
                _fail(here, "a nested pattern must not be empty.")
            _validate_object(value, here)
        elif isinstance(value, list):
            if not value:
                _fail(here, "a match array must not be empty.")
            for matcher in value:
                _validate_matcher(matcher, here)
            _check_wildcard_complexity(value, here)
        else:
            _fail(here, "values must be arrays of matchers or nested objects.")


def _check_paths_unique(pattern: Mapping[str, Any]) -> None:
    """EventBridge names a field by its dotted path, so ``{"a.b": [...]}`` and
    ``{"a": {"b": [...]}}`` are the same field: PutRule refuses a pattern naming one twice
    ("Path `a.b` cannot be allowed multiple times")."""
    for paths in _leaf_path_sets(pattern, ""):
        seen: set[str] = set()
        for leaf in paths:
            if leaf in seen:
                _fail(leaf, "the same field is named twice (a dotted key and a nested object).")
            seen.add(leaf)


def _leaf_path_sets(pattern: Mapping[str, Any], prefix: str) -> list[list[str]]:
    """The dotted leaf paths of each alternative rule ``pattern`` expands to ($or)."""
    rules: list[list[str]] = [[]]
    for key, value in pattern.items():
        if key == "$or":
            branches = [paths for sub in value for paths in _leaf_path_sets(sub, prefix)]
            rules = [rule + branch for rule in rules for branch in branches]
            continue
        here = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            subs = _leaf_path_sets(value, here)
            rules = [rule + sub for rule in rules for sub in subs]
        else:
            rules = [[*rule, here] for rule in rules]
    return rules


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_literal(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return value is None or isinstance(value, str | int | float | bool)


def _validate_matcher(matcher: Any, path: str) -> None:
    if _is_literal(matcher):
        return
    if not isinstance(matcher, Mapping):
        _fail(path, f"{matcher!r} is neither a literal nor an operator object.")
    if len(matcher) != 1:
        _fail(path, f"an operator object takes exactly one operator, got {sorted(matcher)}.")
    ((op, operand),) = matcher.items()
    if op not in OPERATORS:
        known = ", ".join(sorted(OPERATORS))
        _fail(path, f"unknown operator {op!r} (operators are case-sensitive: {known}).")
    _VALIDATORS[op](operand, f"{path}:{op}")


def _check_string(operand: Any, path: str) -> None:
    if not isinstance(operand, str):
        _fail(path, f"takes a string, got {operand!r}.")


def _check_affix(operand: Any, path: str) -> None:
    """A prefix or suffix: a non-empty string (an empty one would match every string)."""
    _check_string(operand, path)
    if not operand:
        _fail(path, "takes a non-empty string.")


def _check_prefix_suffix(operand: Any, path: str) -> None:
    if isinstance(operand, Mapping):
        if set(operand) != {"equals-ignore-case"}:
            _fail(path, "takes a string or {'equals-ignore-case': string}.")
        _check_affix(operand["equals-ignore-case"], path)
        return
    _check_affix(operand, path)


def _wildcard_tokens(operand: str, path: str) -> list[str]:
    """``operand`` as tokens: ``"*"`` for a wildcard, one character for a literal.

    Each escape is read whole: ``\\*`` is a literal star, ``\\\\`` a literal backslash,
    and a backslash before anything else (or at the end) is refused, as is ``**``.
    """
    tokens: list[str] = []
    i = 0
    while i < len(operand):
        char = operand[i]
        if char == "\\":
            if i + 1 >= len(operand) or operand[i + 1] not in "*\\":
                _fail(path, "only '*' and '\\' may be escaped with a backslash.")
            tokens.append("\\" + operand[i + 1])
            i += 2
            continue
        if char == "*" and tokens and tokens[-1] == "*":
            _fail(path, "consecutive wildcard characters are not allowed.")
        tokens.append(char)
        i += 1
    return tokens


def _check_wildcard(operand: Any, path: str) -> None:
    _check_string(operand, path)
    _wildcard_tokens(operand, path)


#: The most wildcard states one field's patterns may keep alive at once (see
#: :func:`_wildcard_complexity`). AWS documents that PutRule refuses a wildcard pattern
#: that is "too complex" (InvalidEventPatternException, "Rule is too complex";
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
#: #eb-filtering-wildcard-matching-complexity) without publishing the number. The value is
#: calibrated on a rule AWS accepted with three ``*:stack/<name>/*`` values on one field
#: (complexity 9 by this measure) and refused with four (complexity 12), as reported in
#: https://github.com/vals-ai/Valkyrie/pull/278.
WILDCARD_COMPLEXITY_LIMIT = 10
_SUBSET_BUDGET = 5000


def _check_wildcard_complexity(matchers: list[Any], path: str) -> None:
    operands = [op for m in matchers for op in _wildcard_operands(m)]
    if not operands:
        return
    complexity = _wildcard_complexity([_wildcard_tokens(op, path) for op in operands])
    if complexity > WILDCARD_COMPLEXITY_LIMIT:
        _fail(
            path,
            f"the wildcard values are too complex for EventBridge ({complexity} states alive "
            f"at once, limit {WILDCARD_COMPLEXITY_LIMIT}): use fewer '*', fewer values that "
            "share a prefix, or prefix/suffix instead.",
        )


def _wildcard_operands(matcher: Any) -> list[str]:
    if not isinstance(matcher, Mapping):
        return []
    operand = matcher.get("wildcard")
    inner = matcher.get("anything-but")
    if isinstance(inner, Mapping) and "wildcard" in inner:
        operand = inner["wildcard"]
    if operand is None:
        return []
    return list(operand) if isinstance(operand, list) else [operand]


def _wildcard_complexity(patterns: list[list[str]]) -> int:
    """event-ruler's measure (MachineComplexityEvaluator): the largest number of pattern
    states a worst-case input string keeps alive at once across a field's wildcard values.

    Each pattern is its literal characters with a star loop before some of them; a state is
    (pattern, literals consumed). The subsets reachable over the patterns' own characters
    plus one other character are explored breadth first. Repeated segments after a ``*``
    (``*ab*ab*ab``) are what make the count grow: one input keeps several copies alive.
    """
    literals = [[t[-1] for t in p if t != "*"] for p in patterns]
    stars = []
    for p in patterns:
        loops, consumed = set(), 0
        for t in p:
            if t == "*":
                loops.add(consumed)
            else:
                consumed += 1
        stars.append(loops)
    alphabet = {c for lits in literals for c in lits} | {"\x00"}
    start = frozenset((i, 0) for i in range(len(patterns)))
    seen, queue, worst = {start}, [start], len(start)
    while queue and len(seen) < _SUBSET_BUDGET:
        current = queue.pop(0)
        for char in alphabet:
            step = set()
            for i, k in current:
                if k in stars[i]:
                    step.add((i, k))
                if k < len(literals[i]) and literals[i][k] == char:
                    step.add((i, k + 1))
            nxt = frozenset(step)
            if nxt and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
                worst = max(worst, len(nxt))
    return worst


def _check_string_or_strings(operand: Any, path: str, check: Any) -> None:
    if isinstance(operand, list):
        if not operand:
            _fail(path, "takes a non-empty array.")
        for item in operand:
            check(item, path)
    else:
        check(operand, path)


_ANYTHING_BUT_CHECKS = {
    "prefix": _check_affix,
    "suffix": _check_affix,
    "equals-ignore-case": _check_string,
    "wildcard": _check_wildcard,
}


def _check_anything_but(operand: Any, path: str) -> None:
    if isinstance(operand, Mapping):
        if len(operand) != 1 or next(iter(operand)) not in _ANYTHING_BUT_CHECKS:
            names = ", ".join(sorted(_ANYTHING_BUT_CHECKS))
            _fail(path, f"unknown operator {sorted(operand)} inside anything-but (use {names}).")
        ((op, inner),) = operand.items()
        _check_string_or_strings(inner, f"{path}:{op}", _ANYTHING_BUT_CHECKS[op])
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        _fail(path, "takes a non-empty array.")
    if all(isinstance(v, str) for v in values):
        return
    if all(_is_number(v) for v in values):
        for v in values:
            _check_comparable(v, path)
        return
    _fail(path, "takes a string, a number, or an array of only strings or only numbers.")


def _check_comparable(number: Any, path: str) -> None:
    """event-ruler compares numbers as IEEE 754 doubles (ComparableNumber): a number with
    no exact double (NaN, infinities, an integer past 2**53 that rounds) is refused."""
    if not _is_number(number) or not math.isfinite(number):
        _fail(path, f"compares with numbers only, got {number!r}.")
    if isinstance(number, int) and int(float(number)) != number:
        _fail(path, f"{number} has no exact IEEE 754 double value to compare with.")


def _check_numeric(operand: Any, path: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        _fail(path, "takes [op, number] or [op, number, op, number].")
    pairs = list(zip(operand[::2], operand[1::2], strict=True))
    for op, number in pairs:
        if op not in _NUMERIC_OPS:
            _fail(path, f"unknown comparison {op!r}; use one of {sorted(_NUMERIC_OPS)}.")
        _check_comparable(number, path)
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        # event-ruler reads a range as a lower bound followed by an upper bound only.
        if low_op not in (">", ">=") or high_op not in ("<", "<="):
            _fail(path, "a range needs a lower bound (>, >=) then an upper bound (<, <=).")
        if low >= high:
            _fail(path, "the lower bound must be below the upper bound.")


def _check_exists(operand: Any, path: str) -> None:
    if not isinstance(operand, bool):
        _fail(path, f"takes true or false, got {operand!r}.")


def _check_cidr(operand: Any, path: str) -> None:
    _check_string(operand, path)
    try:
        ipaddress.ip_network(operand, strict=False)
    except ValueError:
        _fail(path, f"{operand!r} is not an IPv4 or IPv6 CIDR block.")


_VALIDATORS = {
    "prefix": _check_prefix_suffix,
    "suffix": _check_prefix_suffix,
    "equals-ignore-case": _check_string,
    "anything-but": _check_anything_but,
    "numeric": _check_numeric,
    "exists": _check_exists,
    "cidr": _check_cidr,
    "wildcard": _check_wildcard,
}


# ------------------------------------------------------------------------------ matching


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when ``event`` (an EventBridge-shaped dict) matches a *validated* pattern."""
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], obj: Any) -> bool:
    if isinstance(obj, list):
        candidates = [item for item in obj if isinstance(item, Mapping)] or [{}]
        return any(_match_object(pattern, item) for item in candidates)
    if not isinstance(obj, Mapping):
        obj = {}
    for key, sub in _nested(pattern).items():
        if key == "$or":
            if not any(_match_object(alt, obj) for alt in sub):
                return False
            continue
        if isinstance(sub, Mapping):
            ok = _match_object(sub, _child_object(obj, key))
        else:
            ok = _match_leaf(sub, obj.get(key, _MISSING))
        if not ok:
            return False
    return True


def _nested(pattern: Mapping[str, Any]) -> Mapping[str, Any]:
    """``pattern`` with each dotted key ``"a.b"`` moved under ``"a"`` as ``{"b": ...}``.

    EventBridge (event-ruler) names fields by their path joined with dots, in the pattern
    and in the event alike, so ``{"a.b": [1]}`` and ``{"a": {"b": [1]}}`` are one pattern
    (README, "Compiled rules and JSON keys with dots"). A dotted key whose head is also a
    leaf in the pattern stays as it is and is looked up in the event by its full name.
    """
    if not any("." in key for key in pattern if key != "$or"):
        return pattern
    out: dict[str, Any] = {}
    for key, sub in pattern.items():
        if key != "$or" and "." in key:
            head, rest = key.split(".", 1)
            if head not in pattern or isinstance(pattern[head], Mapping):
                out[head] = _merge(out.get(head), {rest: sub})
                continue
        out[key] = _merge(out.get(key), sub) if isinstance(sub, Mapping) else sub
    return out


def _merge(into: Any, sub: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(into, Mapping):
        return sub
    merged = dict(into)
    for key, value in sub.items():
        merged[key] = _merge(merged.get(key), value) if isinstance(value, Mapping) else value
    return merged


def _child_object(obj: Mapping[str, Any], key: str) -> Any:
    """The event's value under ``key`` for a nested pattern, with the event's own dotted
    keys ``"key.rest"`` folded in as ``{"rest": ...}`` (EventBridge flattens both sides)."""
    value = obj.get(key, _MISSING)
    dotted = {k[len(key) + 1 :]: v for k, v in obj.items() if k.startswith(key + ".")}
    if not dotted:
        return {} if value is _MISSING else value
    if isinstance(value, Mapping):
        return {**value, **dotted}
    if isinstance(value, list):
        return [*value, dotted]
    return dotted


def _leaves(value: Any) -> list[Any]:
    """The leaf values at a field: an array's scalar elements, or the scalar itself."""
    if value is _MISSING or isinstance(value, Mapping):
        return []
    if isinstance(value, list):
        return [v for v in value if not isinstance(v, Mapping | list)]
    return [value]


def _match_leaf(matchers: list[Any], value: Any) -> bool:
    leaves = _leaves(value)
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if bool(leaves) is matcher["exists"]:
                return True
        elif any(_match_value(matcher, leaf) for leaf in leaves):
            return True
    return False


def _number_key(number: int | float) -> Any:
    """What a number is compared by: its IEEE 754 double value when it has an exact one.

    event-ruler matches a number in a pattern both by its text and by its double value
    (JsonRuleCompiler: ``numericEquals`` plus ``exactMatch``; ComparableNumber accepts
    any double that round-trips), so ``300``, ``300.0`` and ``3.0e2`` are one value.
    An integer with no exact double (an account id past 2**53) matches only itself.
    """
    if isinstance(number, int) and int(float(number)) != number:
        return ("int", number)
    return float(number)


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if _is_number(expected) and _is_number(actual):
        return bool(_number_key(expected) == _number_key(actual))
    return type(expected) is type(actual) and expected == actual


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    ((op, operand),) = matcher.items()
    return bool(_MATCHERS[op](operand, value))


def _affix(operand: Any, value: Any, *, suffix: bool) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(operand, Mapping):
        needle, value = operand["equals-ignore-case"].casefold(), value.casefold()
    else:
        needle = operand
    return value.endswith(needle) if suffix else value.startswith(needle)


def _ignore_case(operand: Any, value: Any) -> bool:
    return isinstance(value, str) and value.casefold() == operand.casefold()


_ANYTHING_BUT_STRING_MATCHERS: dict[str, Any] = {
    "prefix": lambda needle, value: value.startswith(needle),
    "suffix": lambda needle, value: value.endswith(needle),
    "equals-ignore-case": _ignore_case,
    "wildcard": lambda operand, value: _wildcard(operand, value),
}


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        ((op, inner),) = operand.items()
        if not isinstance(value, str):
            # A number, boolean or null is no match of a string operator, so it is
            # "anything but" it (event-ruler compares the JSON text, quotes included).
            return True
        inners = inner if isinstance(inner, list) else [inner]
        return not any(_ANYTHING_BUT_STRING_MATCHERS[op](i, value) for i in inners)
    values = operand if isinstance(operand, list) else [operand]
    return not any(_equal(v, value) for v in values)


_COMPARE = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(operand: list[Any], value: Any) -> bool:
    if not _is_number(value) or not math.isfinite(value):
        return False
    number = float(value)
    return all(
        _COMPARE[op](number, float(bound))
        for op, bound in zip(operand[::2], operand[1::2], strict=True)
    )


def _cidr(operand: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(operand, strict=False)
    except ValueError:
        return False


def _wildcard(operand: str, value: Any) -> bool:
    # The operand's escapes were checked when the pattern was declared (_check_wildcard).
    return isinstance(value, str) and wildcard_match(operand, value)


_MATCHERS: dict[str, Any] = {
    "prefix": lambda operand, value: _affix(operand, value, suffix=False),
    "suffix": lambda operand, value: _affix(operand, value, suffix=True),
    "equals-ignore-case": _ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
    "wildcard": _wildcard,
}
