"""Choice rules: every comparison operator of ASL, their ``...Path`` variants, And/Or/Not.

A comparison of mismatched types is false (``StringEquals`` against a number), as in Step
Functions. ``StringMatches`` treats only ``*`` as a wildcard; ``\\*`` is a literal star.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apps.workflows.engine import paths
from apps.workflows.engine.errors import StatesError
from project.wildcards import wildcard_match

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp with a time zone, or None when ``value`` is not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KINDS: dict[str, Callable[[Any], Any]] = {
    "String": lambda v: v if isinstance(v, str) else None,
    "Numeric": lambda v: v if _is_number(v) else None,
    "Boolean": lambda v: v if isinstance(v, bool) else None,
    "Timestamp": parse_timestamp,
}

COMPARISONS: set[str] = {
    f"{kind}{op}{suffix}"
    for kind in _KINDS
    for op in _ORDER
    for suffix in ("", "Path")
    if kind != "Boolean" or op == "Equals"
} | {"StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}


def string_matches(value: str, pattern: str) -> bool:
    return wildcard_match(pattern, value)


def evaluate(
    rule: dict[str, Any], data: Any, context: Any, variables: dict[str, Any] | None = None
) -> bool:
    """True when ``rule`` (a Choice rule or a nested boolean expression) matches ``data``;
    ``Variable`` and the ``...Path`` operands may read workflow variables (``$name``)."""
    if "And" in rule:
        return all(evaluate(sub, data, context, variables) for sub in rule["And"])
    if "Or" in rule:
        return any(evaluate(sub, data, context, variables) for sub in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context, variables)
    op = next(key for key in rule if key in COMPARISONS)
    expected = rule[op]
    if op == "IsPresent":
        try:
            paths.read(rule["Variable"], data, context, field="Variable", variables=variables)
            present = True
        except StatesError:
            present = False
        return present is expected
    value = paths.read(rule["Variable"], data, context, field="Variable", variables=variables)
    return _compare(op, value, expected, data, context, variables)


def _compare(
    op: str, value: Any, expected: Any, data: Any, context: Any, variables: Any = None
) -> bool:
    if op.startswith("Is"):
        holds = {
            "IsNull": value is None,
            "IsNumeric": _is_number(value),
            "IsString": isinstance(value, str),
            "IsBoolean": isinstance(value, bool),
            "IsTimestamp": parse_timestamp(value) is not None,
        }[op]
        return holds is expected
    if op == "StringMatches":
        return isinstance(value, str) and string_matches(value, expected)
    if op.endswith("Path"):
        op = op[:-4]
        expected = paths.read(expected, data, context, field=op + "Path", variables=variables)
    kind = next(k for k in _KINDS if op.startswith(k))
    left, right = _KINDS[kind](value), _KINDS[kind](expected)
    if left is None or right is None:
        return False
    return _ORDER[op[len(kind) :]](left, right)
