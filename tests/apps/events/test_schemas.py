"""Event detail schemas: declared as JSON Schema, checked by pydantic-core (apps.events.schemas)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.events import registry
from apps.events.exceptions import InvalidEventDetailError
from apps.events.models import Event
from apps.events.schemas import SchemaError, compile_schema
from apps.events.services import publish
from tests.support import fresh_python


def _errors(schema: Any, detail: Any) -> dict[str, str]:
    return {e["path"]: e["message"] for e in compile_schema(schema).errors(json.dumps(detail))}


def test_every_declared_event_type_compiles_and_builds_its_validator() -> None:
    assert registry.event_types  # the apps declare their types at start
    for event_type in registry.event_types.values():
        assert isinstance(event_type.validator.errors("{}"), list), event_type.detail_type


def test_real_aws_event_details_satisfy_their_declared_schemas(aws_event: Any) -> None:
    for fixture in ("eventbridge_s3_object_created", "eventbridge_sfn_status_change"):
        event = aws_event(fixture)
        declared = registry.event_types[event["detail-type"]]
        assert declared.source == event["source"]
        assert declared.validator.errors(json.dumps(event["detail"])) == [], fixture


def test_missing_required_property_is_reported_at_its_own_path() -> None:
    schema = {"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}}}
    assert _errors(schema, {"a": "x"}) == {"b": "Field required"}


def test_json_types_are_not_coerced() -> None:
    schema = {
        "type": "object",
        "properties": {
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "s": {"type": "string"},
            "b": {"type": "boolean"},
        },
    }
    assert _errors(schema, {"i": 3, "n": 2, "s": "", "b": False}) == {}
    assert _errors(schema, {"i": 1.0}) == {}  # JSON Schema: 1.0 is an integer
    errors = _errors(schema, {"i": "1", "n": True, "s": 1, "b": 0})
    assert set(errors) == {"i", "n", "s", "b"}
    assert errors["i"] == "Input should be a valid integer"
    assert _errors(schema, {"i": 1.5}) == {"i": "Input should be a valid integer"}


def test_nullable_types_nested_paths_and_item_indexes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "size": {"type": ["integer", "null"], "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "object": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    }
    assert _errors(schema, {"size": None, "tags": ["a"], "object": {"key": "k"}}) == {}
    errors = _errors(schema, {"size": "4", "tags": ["a", ""], "object": {"key": 1}})
    assert errors == {
        "size": "Input should be a valid integer or null",
        "tags/1": "String should have at least 1 character",
        "object/key": "Input should be a valid string",
    }
    assert _errors(schema, {"size": -1}) == {"size": "Input should be greater than or equal to 0"}


def test_value_keywords_follow_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "status": {"enum": ["accepted", "rejected"]},
            "kind": {"const": {"v": 1}},
            "even": {"type": "integer", "multipleOf": 2, "exclusiveMaximum": 10},
            "ids": {"type": "array", "uniqueItems": True, "maxItems": 3},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "additionalProperties": False,
    }
    good = {"status": "accepted", "kind": {"v": 1.0}, "even": 8, "ids": [1, True], "code": "ABC"}
    assert _errors(schema, good) == {}
    errors = _errors(
        schema,
        {"status": "lost", "kind": {"v": True}, "even": 10, "ids": [1, 1.0], "code": "abc", "x": 1},
    )
    assert errors == {
        "status": 'Input should be one of "accepted", "rejected"',
        "kind": 'Input should be {"v": 1}',
        "even": "Input should be less than 10",
        "ids": "Array items should be unique",
        "code": "String should match pattern '^[A-Z]{3}$'",
        "x": "Extra inputs are not permitted",
    }
    assert _errors(schema, {"even": 3}) == {"even": "Input should be a multiple of 2"}


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("uuid", "0b5e1a8e-3f1c-4c1e-9d2a-7a3f5f0f9b11", "0b5e1a8e3f1c4c1e9d2a7a3f5f0f9b11"),
        ("date-time", "2026-12-07T08:00:00.5+01:00", "2026-12-07 08:00:00"),
        ("date", "2026-02-28", "2026-02-30"),
        ("email", "a@example.com", "not an address"),
        ("uri", "https://example.com/x", "/relative"),
    ],
)
def test_formats_are_asserted(name: str, good: str, bad: str) -> None:
    schema = {"type": "string", "format": name}
    assert _errors(schema, good) == {}
    assert _errors(schema, bad) == {"": f"Input should be a valid {name}"}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "no-such-type"}, "unknown type 'no-such-type'"),
        ({"anyOf": [{"type": "string"}]}, "'anyOf' not supported"),
        ({"properties": {"a": {"$ref": "#/$defs/a"}}}, "#/properties/a: '$ref' not supported"),
        ({"type": "string", "format": "hostname"}, "'hostname' is not checked"),
        ({"type": "string", "pattern": "("}, "not a regular expression"),
        ({"type": "array", "minItems": -1}, "a non-negative integer"),
        ({"required": "a"}, "a list of property names"),
        ({"enum": []}, "a non-empty list"),
        (["not", "a", "schema"], "a schema is an object or a boolean"),
    ],
)
def test_unsupported_or_invalid_schemas_are_refused_when_compiled(
    schema: Any, message: str
) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        compile_schema(schema)


def test_declaring_an_unsupported_schema_is_a_configuration_error(isolated_registry: None) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"invalid JSON schema.*'oneOf' not supported"):
        registry.declare_event("shop.Either", schema={"oneOf": [{"type": "string"}]})
    assert "shop.Either" not in registry.event_types


@pytest.mark.django_db
def test_publish_names_the_first_failing_path_in_its_message(
    order_placed: registry.EventType,
) -> None:
    with pytest.raises(InvalidEventDetailError) as info:
        publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": "12"})
    assert str(info.value) == (
        "shop.OrderPlaced detail does not match its schema: total: Input should be a valid number"
    )
    assert info.value.detail["errors"] == [
        {"path": "total", "message": "Input should be a valid number"}
    ]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_detail_that_is_not_json_is_refused(order_placed: registry.EventType) -> None:
    with pytest.raises(InvalidEventDetailError, match="not JSON") as info:
        publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": float("nan")})
    assert info.value.code == "invalid_event_detail"
    assert not Event.objects.exists()


def test_declaring_event_types_at_start_does_not_load_pydantic() -> None:
    loaded = fresh_python(
        "import json, sys, django; django.setup();"
        "from apps.events import registry;"
        "print(json.dumps([len(registry.event_types), 'pydantic_core' in sys.modules]))"
    )
    assert loaded[0] > 0
    assert loaded[1] is False
