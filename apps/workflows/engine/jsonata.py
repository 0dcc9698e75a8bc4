"""JSONata for ASL states with ``"QueryLanguage": "JSONata"``, as Step Functions runs it.

A field's string value is an expression when it is written ``{% expression %}`` (starting
with ``{%`` and ending with ``%}``, nothing around them); any other string is a literal.
Expressions see ``$states`` (``input``, ``result``, ``errorOutput``, ``context``) and the
workflow's variables by name (``$orderId``), and Step Functions' own functions
(``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid``, ``$parse``). A failed or
empty (``undefined``) evaluation raises ``States.QueryEvaluationError``.

The evaluator is jsonata-python, a development dependency (requirements-dev.txt): on AWS
Step Functions evaluates the expressions, so the Lambda package does not carry it, and it
is imported on first use only. Reference: AWS Step Functions developer guide,
"Transforming data with JSONata in Step Functions".
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from functools import lru_cache
from typing import Any

from apps.workflows.engine import errors, sequences
from apps.workflows.engine.errors import StatesError

JSONATA = "JSONata"
JSONPATH = "JSONPath"

_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


class JsonataSyntaxError(ValueError):
    pass


class JsonataUnavailable(ImportError):
    """jsonata-python is not installed (it is not shipped to Lambda)."""


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def body(value: str) -> str:
    return value[2:-2].strip()


def _library() -> Any:
    try:
        import jsonata
    except ImportError as exc:  # pragma: no cover - exercised only without the dev extra
        raise JsonataUnavailable(
            "JSONata states need jsonata-python (pip install -r requirements-dev.txt)"
        ) from exc
    return jsonata


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> Any:
    """The expression wrapped so that ``undefined`` can be told from ``null``: an object
    constructor drops a key whose value is undefined."""
    lib = _library()
    compiled = lib.Jsonata('{"v": (' + expression + "\n)}")
    for name, function in _FUNCTIONS.items():
        compiled.register_lambda(name, function)
    return compiled


def check(value: str) -> None:
    """Raise JsonataSyntaxError when ``{% ... %}`` does not hold a JSONata expression.

    Without jsonata-python (on Lambda) only the delimiters are checked; Step Functions
    checks the expressions when the state machine is created.
    """
    expression = body(value)
    if not expression:
        raise JsonataSyntaxError("the expression between {% and %} is empty")
    try:
        lib = _library()
    except JsonataUnavailable:
        return
    try:
        lib.Jsonata(expression)
    except Exception as exc:
        raise JsonataSyntaxError(f"{value!r} is not a JSONata expression: {exc}") from None


def evaluate(value: str, *, field: str, states: dict[str, Any], variables: dict[str, Any]) -> Any:
    """The value of the ``{% ... %}`` expression ``value`` in field ``field``."""
    expression = body(value)
    bindings = {**variables, "states": states}
    try:
        result = _compiled(expression).evaluate(None, bindings)
    except StatesError:
        raise
    except JsonataUnavailable:
        raise
    except Exception as exc:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression}' specified for the field '{field}' "
            f"threw an error: {exc}",
        ) from None
    if not isinstance(result, dict) or "v" not in result:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression}' specified for the field '{field}' "
            "returned nothing (undefined).",
        )
    return _plain(result["v"])


def render(template: Any, *, field: str, states: dict[str, Any], variables: dict[str, Any]) -> Any:
    """A JSONata field's value: expressions evaluated at any depth of objects and arrays."""
    if is_expression(template):
        return evaluate(template, field=field, states=states, variables=variables)
    if isinstance(template, dict):
        return {
            key: render(value, field=field, states=states, variables=variables)
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [render(item, field=field, states=states, variables=variables) for item in template]
    return template


def expressions(template: Any) -> list[str]:
    """Every ``{% ... %}`` string in a field's value (for validation)."""
    if is_expression(template):
        return [template]
    if isinstance(template, dict):
        return [e for value in template.values() for e in expressions(value)]
    if isinstance(template, list):
        return [e for item in template for e in expressions(item)]
    return []


def _plain(value: Any) -> Any:
    """JSON values only: whole floats become ints as JavaScript prints them (6.0 -> 6)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise StatesError(
        errors.QUERY_EVALUATION_ERROR, f"a JSONata expression returned a {type(value).__name__}"
    )


# -- Step Functions' JSONata functions -------------------------------------------------


def _fail(message: str) -> StatesError:
    return StatesError(errors.QUERY_EVALUATION_ERROR, message)


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _fail(f"{what} must be an integer, got {json.dumps(value)}")
    return int(value)


def _partition(array: Any, size: Any) -> list[list[Any]]:
    """``$partition(array, size)``: chunks of ``size``; the last may be shorter."""
    chunk = _whole(size, "$partition's size")
    if not isinstance(array, list):
        raise _fail("$partition takes an array and a positive chunk size")
    try:
        return sequences.chunks(array, chunk)
    except sequences.SequenceError as exc:
        raise _fail("$partition takes an array and a positive chunk size") from exc


def _range(start: Any, end: Any, step: Any) -> list[int]:
    """``$range(start, end, step)``: from start to end inclusive (``$range(0, 10, 2)`` is
    ``[0, 2, 4, 6, 8, 10]``); a negative step counts down."""
    first, last, by = (_whole(v, "$range's arguments") for v in (start, end, step))
    try:
        return sequences.inclusive_range(first, last, by)
    except sequences.SequenceError as exc:
        raise _fail(f"$range {exc}") from exc


def _hash(data: Any, algorithm: Any) -> str:
    """``$hash(string, 'SHA-256')``: MD5, SHA-1, SHA-256, SHA-384 or SHA-512, hex."""
    if not isinstance(data, str) or algorithm not in _HASHES:
        raise _fail(f"$hash takes a string and one of {', '.join(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _random(seed: Any = None) -> float:
    """``$random()`` or ``$random(seed)``: a float in [0, 1); the same seed, the same one."""
    if seed is None:
        return random.random()
    return random.Random(_whole(seed, "$random's seed")).random()


def _uuid() -> str:
    """``$uuid()``: a version 4 UUID."""
    return str(uuid.uuid4())


def _parse(text: Any) -> Any:
    """``$parse(jsonString)``: the JSON value of a string (Step Functions' $eval)."""
    if not isinstance(text, str):
        raise _fail("$parse takes a string of JSON")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(f"$parse: {exc}") from None


def _eval(*_args: Any) -> Any:
    """Step Functions leaves JSONata's ``$eval`` out (an expression read from the data);
    ``$parse`` reads JSON text instead."""
    raise _fail("$eval is not supported by Step Functions; use $parse for JSON text")


_FUNCTIONS = {
    "eval": _eval,
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
}
