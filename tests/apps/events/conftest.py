"""Fixtures of the events tests: an isolated registry, a test event type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.events import registry


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Only the test's own receivers exist; its declarations are forgotten afterwards."""
    with registry.isolated():
        registry.receivers.clear()
        yield


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "owner_id", "total"],
    "properties": {
        "order_id": {"type": "string"},
        "owner_id": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


@pytest.fixture
def order_placed(isolated_registry: None) -> registry.EventType:
    return registry.declare_event("shop.OrderPlaced", schema=ORDER_SCHEMA)


@pytest.fixture
def local_bus(settings: Any) -> dict[str, Any]:
    """The local bus with immediate retries (no backoff) and three attempts."""
    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.local.LocalBus",
            "OPTIONS": {"max_attempts": 3, "base_delay": 0.0, "max_delay": 0.0},
        }
    }
    return settings.NIMBUS_EVENTS
