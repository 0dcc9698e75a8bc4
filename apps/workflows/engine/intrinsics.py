"""The intrinsic functions of the Amazon States Language (``States.Format(...)`` etc.).

An expression is parsed into a small tree (calls, literals, paths) and evaluated against
the state's input and the context object. String literals use single quotes; inside them
``\\'``, ``\\{``, ``\\}`` and ``\\\\`` are escapes (an escaped brace is a literal brace in
``States.Format`` templates). Failures raise ``States.IntrinsicFailure``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apps.workflows.engine import errors, paths, sequences
from apps.workflows.engine.errors import StatesError


@dataclass(frozen=True)
class Literal:
    value: Any
    raw: str | None = None  # the undecoded text of a string literal


@dataclass(frozen=True)
class PathArg:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


class IntrinsicSyntaxError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{why} at position {self.pos} of {self.text!r}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def parse(self) -> Call:
        call = self.call()
        self.skip_spaces()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the function call")
        return call

    def call(self) -> Call:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "."
        ):
            self.pos += 1
        name = self.text[start : self.pos]
        if name not in FUNCTIONS:
            raise self.fail(f"unknown intrinsic function {name!r}")
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.fail("expected '('")
        self.pos += 1
        args: list[Any] = []
        self.skip_spaces()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
            return Call(name, ())
        while True:
            self.skip_spaces()
            args.append(self.argument())
            self.skip_spaces()
            char = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if char == ")":
                return Call(name, tuple(args))
            if char != ",":
                raise self.fail("expected ',' or ')'")

    def argument(self) -> Any:
        char = self.text[self.pos : self.pos + 1]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            return self.call()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",) ":
            self.pos += 1
        word = self.text[start : self.pos]
        if word in ("true", "false", "null"):
            return Literal(json.loads(word))
        try:
            return Literal(json.loads(word))
        except ValueError:
            raise self.fail(f"invalid argument {word!r}") from None

    def string(self) -> Literal:
        self.pos += 1
        start = self.pos
        value: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in ("'", "{", "}", "\\"):
                    raise self.fail(f"invalid escape '\\{nxt}'")
                value.append(nxt)
                self.pos += 2
                continue
            if char == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return Literal("".join(value), raw)
            value.append(char)
            self.pos += 1
        raise self.fail("unterminated string literal")

    def path(self) -> PathArg:
        start, depth, quote = self.pos, 0, False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "'" and depth:
                quote = not quote
            elif not quote and char in "[(":
                depth += 1
            elif not quote and char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif not quote and depth == 0 and char == ",":
                break
            self.pos += 1
        text = self.text[start : self.pos].rstrip()
        try:
            paths.check_path(text)
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        return PathArg(text)


@lru_cache(maxsize=512)
def parse(text: str) -> Call:
    """Parse an intrinsic function expression; raises IntrinsicSyntaxError."""
    return _Parser(text).parse()


def evaluate(text: str, data: Any, context: Any, *, variables: dict[str, Any] | None = None) -> Any:
    try:
        call = parse(text)
    except IntrinsicSyntaxError as exc:
        raise StatesError(errors.INTRINSIC_FAILURE, str(exc)) from exc
    return _eval(call, data, {"context": context, "variables": variables})


def _eval(node: Any, data: Any, scope: dict[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, PathArg):
        return paths.read(node.path, data, scope["context"], variables=scope["variables"])
    if node.name == "States.Format":
        return _format(node, data, scope)
    args = [_eval(arg, data, scope) for arg in node.args]
    try:
        return FUNCTIONS[node.name](*args)
    except StatesError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, binascii.Error) as exc:
        raise StatesError(
            errors.INTRINSIC_FAILURE, f"Invalid arguments in {node.name}: {exc}"
        ) from exc


def _fail(message: str) -> StatesError:
    return StatesError(errors.INTRINSIC_FAILURE, message)


def _format(node: Call, data: Any, scope: dict[str, Any]) -> str:
    """``States.Format(template, values...)``: the template is a string literal, or a path
    (or a nested intrinsic) whose value is a string; ``{}`` takes the next value and
    ``\\{``, ``\\}``, ``\\\\`` are a literal brace or backslash in either kind."""
    if not node.args:
        raise _fail("States.Format needs a template as its first argument")
    template = node.args[0]
    if isinstance(template, Literal) and template.raw is not None:
        raw = template.raw
    elif isinstance(template, Literal):
        raise _fail("States.Format needs a string template as its first argument")
    else:
        raw = _eval(template, data, scope)
        if not isinstance(raw, str):
            raise _fail(
                f"States.Format needs a string template, the first argument is {json.dumps(raw)}"
            )
    values = [_eval(arg, data, scope) for arg in node.args[1:]]
    out, i, used = [], 0, 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and raw[i + 1 : i + 2] in ("{", "}", "\\", "'"):
            out.append(raw[i + 1])
            i += 2
            continue
        if raw.startswith("{}", i):
            if used >= len(values):
                raise _fail("States.Format has more placeholders than arguments")
            out.append(_format_value(values[used]))
            used += 1
            i += 2
            continue
        out.append(char)
        i += 1
    if used != len(values):
        raise _fail("States.Format has more arguments than placeholders")
    return "".join(out)


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        raise _fail("States.Format arguments must be strings, numbers, booleans or null")
    return json.dumps(value)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise _fail(f"{what} must be an integer, got {json.dumps(value)}")
    return int(value)


def _array(value: Any, fn: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(f"{fn} needs an array, got {json.dumps(value)}")
    return value


def _string(value: Any, fn: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"{fn} needs a string, got {json.dumps(value)}")
    return value


def _string_to_json(value: Any) -> Any:
    try:
        return json.loads(_string(value, "States.StringToJson"))
    except ValueError as exc:
        raise _fail(f"States.StringToJson: {exc}") from exc


def _json_to_string(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _array_partition(array: Any, size: Any) -> list[list[Any]]:
    items, chunk = _array(array, "States.ArrayPartition"), _int(size, "chunk size")
    try:
        return sequences.chunks(items, chunk)
    except sequences.SequenceError as exc:
        raise _fail(f"States.ArrayPartition {exc}") from exc


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    first, last, by = _int(start, "start"), _int(end, "end"), _int(step, "step")
    try:
        return sequences.inclusive_range(first, last, by)
    except sequences.SequenceError as exc:
        raise _fail(f"States.ArrayRange {exc}") from exc


def _array_get_item(array: Any, index: Any) -> Any:
    items, i = _array(array, "States.ArrayGetItem"), _int(index, "index")
    if not 0 <= i < len(items):
        raise _fail(f"States.ArrayGetItem index {i} is out of range")
    return items[i]


def _array_unique(array: Any) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for item in _array(array, "States.ArrayUnique"):
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_encode(value: Any) -> str:
    text = _string(value, "States.Base64Encode")
    if len(text) > 10_000:
        raise _fail("States.Base64Encode input is longer than 10000 characters")
    return base64.b64encode(text.encode()).decode()


def _base64_decode(value: Any) -> str:
    text = _string(value, "States.Base64Decode")
    if len(text) > 10_000:
        raise _fail("States.Base64Decode input is longer than 10000 characters")
    return base64.b64decode(text.encode(), validate=True).decode()


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any, algorithm: Any) -> str:
    if algorithm not in _HASHES:
        raise _fail(f"States.Hash algorithm must be one of {', '.join(_HASHES)}")
    text = value if isinstance(value, str) else _json_to_string(value)
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise _fail("States.JsonMerge needs two objects")
    if deep is not False:
        raise _fail("States.JsonMerge supports only a shallow merge (false)")
    return {**left, **right}


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    low, high = _int(start, "start"), _int(end, "end")
    rng = random.Random(_int(seed, "seed")) if seed is not None else random
    return rng.randint(low, high)


def _math_add(left: Any, right: Any) -> int | float:
    for value in (left, right):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"States.MathAdd needs numbers, got {json.dumps(value)}")
    total = left + right
    return int(total) if total == int(total) else total


def _string_split(value: Any, delimiters: Any) -> list[str]:
    text, delims = _string(value, "States.StringSplit"), _string(delimiters, "delimiter")
    parts: list[str] = []
    current: list[str] = []
    for char in text:
        if char in delims:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part]


def _array_length(value: Any) -> int:
    return len(_array(value, "States.ArrayLength"))


def _array_contains(array: Any, value: Any) -> bool:
    # JSON equality: true is not 1 (Python's `in` would say it is).
    wanted = json.dumps(value, sort_keys=True)
    return any(json.dumps(item, sort_keys=True) == wanted for item in _array(array, "x"))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": lambda *args: None,  # evaluated by _format (needs the raw template)
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": lambda *args: list(args),
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
