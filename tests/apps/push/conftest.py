"""Personas and helpers for the push app's tests."""

from __future__ import annotations

from typing import Any

import pytest

from apps.events import registry
from tests.apps.users.factories import user_create


@pytest.fixture
def alice(db):
    return user_create(email="alice@example.com")


@pytest.fixture
def bob(db):
    return user_create(email="bob@example.com")


@pytest.fixture
def dummy_push(settings):
    """Swap in the recording backend; returns it."""
    settings.NIMBUS_PUSH = {"default": {"BACKEND": "apps.push.backends.dummy.DummyPushBackend"}}
    from apps.push.backends import push_backend

    return push_backend()


FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file_id", "owner_id", "status"],
    "properties": {"file_id": {"type": "string"}, "owner_id": {"type": "string"}},
}


@pytest.fixture
def push_receivers_only(settings):
    """The local bus, the files event types, and only the push app's receivers."""
    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.local.LocalBus",
            "OPTIONS": {"max_attempts": 1, "base_delay": 0.0, "max_delay": 0.0},
        }
    }
    with registry.isolated():
        for name in list(registry.receivers):
            if not name.startswith("push."):
                del registry.receivers[name]
        for detail_type in (
            "files.FileAccepted",
            "files.FileUploaded",
            "files.FileRejected",
            "files.FileApproved",
        ):
            if detail_type not in registry.event_types:
                registry.declare_event(detail_type, schema=FILE_SCHEMA)
        yield
