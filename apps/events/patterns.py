"""EventBridge event patterns: validation and a local matcher with AWS's semantics.

The local bus decides which receivers get an event with :func:`matches`; on AWS the same
pattern dict goes into an EventBridge rule, so the two must agree. A differential test
(tests/apps/events/test_patterns_differential.py) runs a corpus through both.

Semantics followed (AWS documentation "Event patterns" and "Content filtering"):

* every key of a pattern must match (AND); the values of a leaf array are alternatives (OR);
  ``{"$or": [p1, p2, ...]}`` is an OR of sub-patterns alongside the other keys;
* a pattern object descends into the event; an array of objects in the event matches when
  any one element matches the whole sub-pattern;
* a leaf matches an array in the event when any element matches;
* literals match by type and value (``true`` is not ``1``, ``"5"`` is not ``5``);
* ``prefix``/``suffix`` (also with ``equals-ignore-case``), ``equals-ignore-case``,
  ``anything-but`` (values, or ``prefix``/``suffix``/``equals-ignore-case``/``wildcard``),
  ``numeric`` (numbers only, never booleans), ``exists`` (an empty array does not exist,
  an object is not a leaf), ``cidr`` (IP strings only), ``wildcard`` (``*``; ``\\*`` is a
  literal star).

:func:`validate_pattern` refuses what ``PutRule`` refuses (unknown or miscased operators,
malformed operands) so a bad pattern fails when it is declared, not when an event arrives.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from apps.events.exceptions import InvalidPatternError

__all__ = ["OPERATORS", "matches", "validate_pattern"]

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


def validate_pattern(pattern: Any) -> None:
    """Raise :class:`InvalidPatternError` naming the first problem in ``pattern``."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise InvalidPatternError("An event pattern must be a non-empty JSON object.")
    _validate_object(pattern, "")


def _fail(path: str, message: str) -> None:
    where = f" at {path!r}" if path else ""
    raise InvalidPatternError(f"Invalid event pattern{where}: {message}", detail={"path": path})


def _validate_object(pattern: Mapping[str, Any], path: str) -> None:
    for key, value in pattern.items():
        here = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            _fail(path, "keys must be strings.")
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                _fail(here, "$or takes an array of at least two patterns.")
            for i, sub in enumerate(value):
                if not isinstance(sub, Mapping) or not sub:
                    _fail(f"{here}[{i}]", "each $or alternative must be a non-empty object.")
                _validate_object(sub, path)
        elif isinstance(value, Mapping):
            if not value:
                _fail(here, "a nested pattern must not be empty.")
            _validate_object(value, here)
        elif isinstance(value, list):
            if not value:
                _fail(here, "a match array must not be empty.")
            for matcher in value:
                _validate_matcher(matcher, here)
        else:
            _fail(here, "values must be arrays of matchers or nested objects.")


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


def _check_prefix_suffix(operand: Any, path: str) -> None:
    if isinstance(operand, Mapping):
        if set(operand) != {"equals-ignore-case"}:
            _fail(path, "takes a string or {'equals-ignore-case': string}.")
        _check_string(operand["equals-ignore-case"], path)
        return
    _check_string(operand, path)


def _check_wildcard(operand: Any, path: str) -> None:
    _check_string(operand, path)
    if "**" in operand:
        _fail(path, "consecutive wildcard characters are not allowed.")
    if re.search(r"\\(?![*\\])", operand):
        _fail(path, "only '*' and '\\' may be escaped with a backslash.")


def _check_string_or_strings(operand: Any, path: str, check: Any) -> None:
    if isinstance(operand, list):
        if not operand:
            _fail(path, "takes a non-empty array.")
        for item in operand:
            check(item, path)
    else:
        check(operand, path)


def _check_anything_but(operand: Any, path: str) -> None:
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            _fail(path, "takes one of prefix, suffix, equals-ignore-case, wildcard.")
        ((op, inner),) = operand.items()
        if op in ("prefix", "suffix"):
            _check_string(inner, f"{path}:{op}")
        elif op == "equals-ignore-case":
            _check_string_or_strings(inner, f"{path}:{op}", _check_string)
        elif op == "wildcard":
            _check_string_or_strings(inner, f"{path}:{op}", _check_wildcard)
        else:
            _fail(path, f"unknown operator {op!r} inside anything-but.")
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        _fail(path, "takes a non-empty array.")
    if all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values):
        return
    _fail(path, "takes a string, a number, or an array of only strings or only numbers.")


def _check_numeric(operand: Any, path: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        _fail(path, "takes [op, number] or [op, number, op, number].")
    pairs = list(zip(operand[::2], operand[1::2], strict=True))
    for op, number in pairs:
        if op not in _NUMERIC_OPS:
            _fail(path, f"unknown comparison {op!r}; use one of {sorted(_NUMERIC_OPS)}.")
        if not _is_number(number) or not math.isfinite(number):
            _fail(path, f"compares with numbers only, got {number!r}.")
    if len(pairs) == 2:
        lower = [(op, n) for op, n in pairs if op in (">", ">=")]
        upper = [(op, n) for op, n in pairs if op in ("<", "<=")]
        if len(lower) != 1 or len(upper) != 1:
            _fail(path, "a range needs one lower bound (>, >=) and one upper bound (<, <=).")
        if lower[0][1] >= upper[0][1]:
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
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match_object(alt, obj) for alt in sub):
                return False
            continue
        value = obj.get(key, _MISSING)
        if isinstance(sub, Mapping):
            ok = _match_object(sub, {} if value is _MISSING else value)
        else:
            ok = _match_leaf(sub, value)
        if not ok:
            return False
    return True


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


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
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


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        ((op, inner),) = operand.items()
        if not isinstance(value, str):
            return False
        inners = inner if isinstance(inner, list) else [inner]
        if op == "prefix":
            return not value.startswith(inner)
        if op == "suffix":
            return not value.endswith(inner)
        if op == "equals-ignore-case":
            return not any(_ignore_case(i, value) for i in inners)
        return not any(_wildcard(i, value) for i in inners)
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
    if not _is_number(value):
        return False
    return all(
        _COMPARE[op](value, number) for op, number in zip(operand[::2], operand[1::2], strict=True)
    )


def _cidr(operand: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(operand, strict=False)
    except ValueError:
        return False


@lru_cache(maxsize=512)
def _wildcard_regex(operand: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(operand):
        char = operand[i]
        if char == "\\" and i + 1 < len(operand):
            parts.append(re.escape(operand[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _wildcard(operand: str, value: Any) -> bool:
    return isinstance(value, str) and _wildcard_regex(operand).fullmatch(value) is not None


_MATCHERS: dict[str, Any] = {
    "prefix": lambda operand, value: _affix(operand, value, suffix=False),
    "suffix": lambda operand, value: _affix(operand, value, suffix=True),
    "equals-ignore-case": _ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
    "wildcard": _wildcard,
}
