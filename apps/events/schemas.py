"""Event detail schemas: JSON Schema as the published contract, pydantic-core as the check.

Each event type declares the JSON Schema of its ``detail`` (``declare_event``); that schema
is what the catalog shows and what other systems read. :func:`compile_schema` translates it,
in plain Python and without importing pydantic, into a pydantic-core *core schema* (the
structure ``pydantic.TypeAdapter`` builds from type hints), refusing at declaration what is
not valid JSON Schema or not supported here. :meth:`DetailSchema.errors` builds the
``SchemaValidator`` on first use and validates the detail's JSON with it, so the only
validator Nimbus ships is the one the API already uses.

JSON semantics are kept, not pydantic's coercions: values are checked in strict mode,
``"1"`` is not an integer and ``true`` is not a number; ``1.0`` is an integer (as in JSON
Schema); keys a schema does not name are allowed unless ``additionalProperties`` says
otherwise; ``pattern`` matches anywhere in the string.

Supported keywords (2020-12 vocabulary), anything else is refused when declared:

* any schema: ``type`` (a name or a list), ``enum``, ``const``; ``true`` / ``false``;
* numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
  ``multipleOf``;
* strings: ``minLength``, ``maxLength``, ``pattern``, ``format`` (:data:`FORMATS`);
* arrays: ``items``, ``minItems``, ``maxItems``, ``uniqueItems``;
* objects: ``properties``, ``required``, ``additionalProperties``;
* annotations, ignored by validation: :data:`ANNOTATIONS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = ["ANNOTATIONS", "FORMATS", "DetailSchema", "SchemaError", "compile_schema"]

JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_NUMBER_KEYWORDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern", "format"})
_ARRAY_KEYWORDS = frozenset({"items", "minItems", "maxItems", "uniqueItems"})
_OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties"})
_KNOWN = (
    ANNOTATIONS
    | _NUMBER_KEYWORDS
    | _STRING_KEYWORDS
    | _ARRAY_KEYWORDS
    | _OBJECT_KEYWORDS
    | {"type", "enum", "const"}
)
# A loc element the validator adds for the branch of a multi-type schema; never a key.
_TAG = "\x1ftype:"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")


class SchemaError(ValueError):
    """A declared schema is not valid JSON Schema, or uses what Nimbus does not check."""


def _valid_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _valid_date_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


#: ``format`` values checked (JSON Schema's format-assertion); others are refused.
FORMATS: dict[str, Callable[[str], bool]] = {
    "uuid": lambda v: bool(_UUID.match(v)),
    "date": lambda v: bool(_DATE.match(v)) and _valid_date(v),
    "date-time": lambda v: bool(_DATE_TIME.match(v)) and _valid_date_time(v),
    "email": lambda v: bool(_EMAIL.match(v)),
    "uri": lambda v: bool(_URI.match(v)),
}


@dataclass
class DetailSchema:
    """A compiled detail schema: the core schema now, its validator on first use."""

    core: dict[str, Any]
    _validator: Any = field(default=None, repr=False, compare=False)

    def errors(self, document: str | bytes) -> list[dict[str, str]]:
        """``[{"path": "a/0/b", "message": ...}]`` for the JSON ``document``, in path order."""
        if self._validator is None:
            from pydantic_core import SchemaValidator

            self._validator = SchemaValidator(self.core)
        from pydantic_core import ValidationError

        try:
            self._validator.validate_json(document)
        except ValidationError as exc:
            found = [
                {"path": _path(error["loc"]), "message": error["msg"]}
                for error in exc.errors(include_url=False)
            ]
            return sorted(found, key=lambda e: e["path"].split("/"))
        return []


def compile_schema(schema: Any) -> DetailSchema:
    """Translate a JSON Schema into a pydantic-core core schema; :class:`SchemaError` if it
    is not valid JSON Schema or uses a keyword this validator does not support."""
    return DetailSchema(core=_node(schema, "#"))


def _path(loc: tuple[int | str, ...]) -> str:
    return "/".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith(_TAG)))


def json_type(value: Any) -> str:
    """The JSON Schema type of a parsed JSON value (``1.0`` is an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _node(schema: Any, where: str) -> dict[str, Any]:
    if schema is True:
        return {"type": "any"}
    if schema is False:
        return _refusing(lambda value: False, "false_schema")
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{where}: a schema is an object or a boolean, not {schema!r}.")
    unknown = sorted(set(schema) - _KNOWN)
    if unknown:
        raise SchemaError(
            f"{where}: {', '.join(map(repr, unknown))} not supported by Nimbus's validator "
            f"(supported: {', '.join(sorted(_KNOWN - ANNOTATIONS))})."
        )
    types = _types(schema, where)
    if len(types) == len(JSON_TYPES) and not set(schema) - ANNOTATIONS - {"enum", "const"}:
        return _with_values({"type": "any"}, schema, where)
    branches = {name: _branch(name, schema, where) for name in types}
    if len(branches) == 1 and "integer" not in branches:
        node = next(iter(branches.values()))
    else:
        node = _by_type(branches)
    return _with_values(node, schema, where)


def _types(schema: Mapping[str, Any], where: str) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        values = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if isinstance(values, list) and values:
            found = {json_type(v) for v in values}
            return [t for t in JSON_TYPES if t in found or (t == "number" and "integer" in found)]
        return list(JSON_TYPES)
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
        raise SchemaError(f"{where}/type: a type name or a list of distinct names.")
    for name in names:
        if name not in JSON_TYPES:
            raise SchemaError(f"{where}/type: unknown type {name!r} (one of {JSON_TYPES}).")
    return [t for t in JSON_TYPES if t in names]


def _by_type(branches: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One branch per allowed JSON type, chosen by the value's own type."""
    choices = dict(branches)
    if "number" in choices:
        choices.setdefault("integer", choices["number"])
    expected = " or ".join(sorted(branches))
    return {
        "type": "tagged-union",
        "choices": {_TAG + name: branch for name, branch in choices.items()},
        "discriminator": lambda value: _TAG + json_type(value),
        "custom_error_type": "wrong_json_type",
        "custom_error_message": f"Input should be a valid {expected}",
    }


def _branch(name: str, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    if name in ("integer", "number"):
        return _number(name, schema, where)
    if name == "string":
        return _string(schema, where)
    if name == "array":
        return _array(schema, where)
    if name == "object":
        return _object(schema, where)
    return {"type": "bool", "strict": True} if name == "boolean" else {"type": "none"}


def _number_of(schema: Mapping[str, Any], key: str, where: str) -> float | int | None:
    value = schema.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise SchemaError(f"{where}/{key}: a number, not {value!r}.")
    return value


def _number(name: str, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    bounds = {
        "ge": _number_of(schema, "minimum", where),
        "le": _number_of(schema, "maximum", where),
        "gt": _number_of(schema, "exclusiveMinimum", where),
        "lt": _number_of(schema, "exclusiveMaximum", where),
    }
    multiple = _number_of(schema, "multipleOf", where)
    if multiple is not None and multiple <= 0:
        raise SchemaError(f"{where}/multipleOf: greater than 0, not {multiple!r}.")
    if name == "number":
        node: dict[str, Any] = {"type": "float", "strict": True, "allow_inf_nan": False}
        node.update({k: v for k, v in bounds.items() if v is not None})
    else:
        # The value is an int or an integral float here (see json_type), so lax int
        # validation only turns 1.0 into 1; integer bounds keep the comparison exact.
        node = {"type": "int"}
        rounded = {"ge": math.ceil, "le": math.floor, "gt": math.floor, "lt": math.ceil}
        node.update({k: rounded[k](v) for k, v in bounds.items() if v is not None})
    if multiple is not None:
        return _after(node, lambda v: _is_multiple(v, multiple), "multiple_of", multiple)
    return node


def _is_multiple(value: float, multiple: float) -> bool:
    if isinstance(value, int) and isinstance(multiple, int):
        return value % multiple == 0
    quotient = value / multiple
    return math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9)


def _length(schema: Mapping[str, Any], key: str, where: str) -> int | None:
    value = schema.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise SchemaError(f"{where}/{key}: a non-negative integer, not {value!r}.")
    return value


def _string(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "str", "strict": True}
    for key, option in (("minLength", "min_length"), ("maxLength", "max_length")):
        if (length := _length(schema, key, where)) is not None:
            node[option] = length
    if "pattern" in schema:
        pattern = schema["pattern"]
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise SchemaError(f"{where}/pattern: not a regular expression ({exc}).") from exc
        node.update(pattern=pattern, regex_engine="python-re")
    if "format" in schema:
        check = FORMATS.get(schema["format"])
        if check is None:
            raise SchemaError(
                f"{where}/format: {schema['format']!r} is not checked by Nimbus's validator "
                f"(checked: {', '.join(sorted(FORMATS))})."
            )
        node = _after(node, check, "format", schema["format"])
    return node


def _array(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    items = _node(schema["items"], f"{where}/items") if "items" in schema else {"type": "any"}
    node: dict[str, Any] = {"type": "list", "items_schema": items, "strict": True}
    for key, option in (("minItems", "min_length"), ("maxItems", "max_length")):
        if (length := _length(schema, key, where)) is not None:
            node[option] = length
    unique = schema.get("uniqueItems", False)
    if not isinstance(unique, bool):
        raise SchemaError(f"{where}/uniqueItems: true or false, not {unique!r}.")
    if unique:
        node = _before(node, _all_unique, "unique_items", None)
    return node


def _object(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, Mapping):
        raise SchemaError(f"{where}/properties: an object of schemas.")
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError(f"{where}/required: a list of property names.")
    fields = {
        name: {
            "type": "typed-dict-field",
            "schema": _node(sub, f"{where}/properties/{name}"),
            "required": name in required,
        }
        for name, sub in properties.items()
    }
    for name in required:
        fields.setdefault(
            name, {"type": "typed-dict-field", "schema": {"type": "any"}, "required": True}
        )
    node: dict[str, Any] = {"type": "typed-dict", "fields": fields, "strict": True}
    additional = schema.get("additionalProperties", True)
    if additional is False:
        node["extra_behavior"] = "forbid"
    else:
        node["extra_behavior"] = "allow"
        if additional is not True:
            node["extras_schema"] = _node(additional, f"{where}/additionalProperties")
    return node


def _with_values(node: dict[str, Any], schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise SchemaError(f"{where}/enum: a non-empty list.")
        listed = ", ".join(json.dumps(v) for v in values)
        node = _before(node, lambda v: any(_json_equal(v, e) for e in values), "enum", listed)
    if "const" in schema:
        expected = schema["const"]
        node = _before(node, lambda v: _json_equal(v, expected), "const", json.dumps(expected))
    return node


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: 1 == 1.0, but true is not 1."""
    kind_a, kind_b = json_type(a), json_type(b)
    numeric = {"integer", "number"}
    if kind_a in numeric and kind_b in numeric:
        return bool(a == b)
    if kind_a != kind_b:
        return False
    if kind_a == "array":
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind_a == "object":
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _all_unique(items: Any) -> bool:
    if not isinstance(items, list):
        return True  # the list schema reports the type
    return not any(_json_equal(x, y) for i, x in enumerate(items) for y in items[i + 1 :])


#: The message of each error kind this module raises; ``{expected}`` is filled in.
MESSAGES = {
    "enum": "Input should be one of {expected}",
    "const": "Input should be {expected}",
    "format": "Input should be a valid {expected}",
    "multiple_of": "Input should be a multiple of {expected}",
    "unique_items": "Array items should be unique",
    "false_schema": "No value is allowed here",
}


def _refusing(check: Callable[[Any], bool], kind: str) -> dict[str, Any]:
    return _before({"type": "any"}, check, kind, None)


def _check(check: Callable[[Any], bool], kind: str, expected: Any) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if not check(value):
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError(kind, MESSAGES[kind], {"expected": str(expected)})
        return value

    return validate


def _before(
    node: dict[str, Any], check: Callable[[Any], bool], kind: str, expected: Any
) -> dict[str, Any]:
    """``node``, run once ``check`` accepted the raw value (a ``kind`` error otherwise)."""
    function = {"type": "no-info", "function": _check(check, kind, expected)}
    return {"type": "function-before", "function": function, "schema": node}


def _after(
    node: dict[str, Any], check: Callable[[Any], bool], kind: str, expected: Any
) -> dict[str, Any]:
    """``node``, then ``check`` on the value it validated (a ``kind`` error otherwise)."""
    function = {"type": "no-info", "function": _check(check, kind, expected)}
    return {"type": "function-after", "function": function, "schema": node}
