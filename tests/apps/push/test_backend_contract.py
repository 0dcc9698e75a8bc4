"""One contract for every push backend (Django's mail-backend tests are the model).

Each subclass says how a test opens a "browser connection" for a user and reads what it
received; the assertions are shared.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from moto import mock_aws

from apps.push.backends import MAX_MESSAGE_BYTES, push_backend, user_group
from apps.push.exceptions import MessageTooLarge
from apps.push.services import connections_close, push_to_user
from tests.apps.push import aws

pytestmark = pytest.mark.django_db


class PushBackendContract:
    """Subclasses implement :meth:`open_connection` and :meth:`received`."""

    @pytest.fixture(autouse=True)
    def _on_commit(self, django_capture_on_commit_callbacks):
        self.capture = django_capture_on_commit_callbacks

    def open_connection(self, user_id: int) -> Any:
        raise NotImplementedError

    def received(self, connection: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def closed(self, connection: Any) -> bool:
        """Whether the backend ended the connection (after its last frame)."""
        raise NotImplementedError

    def push(self, **kwargs: Any) -> Any:
        with self.capture(execute=True):
            return push_to_user(**kwargs)

    def test_every_connection_of_the_user_receives_the_message(self, alice):
        first, second = self.open_connection(alice.pk), self.open_connection(alice.pk)
        self.push(user_id=alice.pk, message={"type": "file.status", "file_id": "f1"})
        assert self.received(first) == [{"type": "file.status", "file_id": "f1"}]
        assert self.received(second) == [{"type": "file.status", "file_id": "f1"}]

    def test_a_user_never_receives_another_users_messages(self, alice, bob):
        alices, bobs = self.open_connection(alice.pk), self.open_connection(bob.pk)
        self.push(user_id=bob.pk, message={"type": "secret"})
        self.push(user_id=alice.pk, message={"type": "mine"})
        assert self.received(alices) == [{"type": "mine"}]
        assert self.received(bobs) == [{"type": "secret"}]

    def test_notifications_arrive_with_their_id_in_order(self, alice):
        connection = self.open_connection(alice.pk)
        ids = [
            self.push(user_id=alice.pk, message={"type": "n", "i": i}, notify=True).pk
            for i in range(3)
        ]
        frames = self.received(connection)
        assert [f["notification"]["id"] for f in frames] == ids
        assert [f["i"] for f in frames] == [0, 1, 2]

    def test_text_survives_the_round_trip(self, alice):
        connection = self.open_connection(alice.pk)
        self.push(user_id=alice.pk, message={"type": "t", "text": "Zoë — 日本 ✓"})
        assert self.received(connection) == [{"type": "t", "text": "Zoë — 日本 ✓"}]

    def test_nobody_connected_is_not_an_error(self, alice):
        self.push(user_id=alice.pk, message={"type": "nobody.listens"})

    def test_the_limit_is_api_gateways_128_kb(self, alice):
        connection = self.open_connection(alice.pk)
        assert push_backend().max_message_bytes == MAX_MESSAGE_BYTES == 128 * 1024
        with pytest.raises(MessageTooLarge):
            self.push(user_id=alice.pk, message={"type": "big", "x": "x" * MAX_MESSAGE_BYTES})
        big = self.push(
            user_id=alice.pk, message={"type": "big", "x": "x" * MAX_MESSAGE_BYTES}, notify=True
        )
        assert self.received(connection) == [{"type": "ref", "notification_id": big.pk}]

    def test_closing_ends_every_connection_of_that_user_only(self, alice, bob):
        first, second = self.open_connection(alice.pk), self.open_connection(alice.pk)
        bobs = self.open_connection(bob.pk)
        with self.capture(execute=True):
            connections_close(user_id=alice.pk)
        assert self.closed(first)
        assert self.closed(second)
        assert not self.closed(bobs)
        self.push(user_id=bob.pk, message={"type": "still.here"})
        assert self.received(bobs) == [{"type": "still.here"}]

    def test_nothing_is_closed_before_commit(self, alice):
        connection = self.open_connection(alice.pk)
        with self.capture(execute=False) as callbacks:
            connections_close(user_id=alice.pk)
        assert not self.closed(connection)
        for callback in callbacks:
            callback()
        assert self.closed(connection)

    def test_nothing_is_sent_before_commit(self, alice):
        connection = self.open_connection(alice.pk)
        with self.capture(execute=False) as callbacks:
            push_to_user(user_id=alice.pk, message={"type": "later"})
        assert self.received(connection) == []
        for callback in callbacks:
            callback()
        assert self.received(connection) == [{"type": "later"}]


class TestChannelsBackend(PushBackendContract):
    """Local: a connection is a channel in the user's channel-layer group."""

    #: How long ``received`` waits for one more frame before deciding there is none.
    drain_seconds = 0.05
    #: How long it waits for the first frame (a fresh event loop may have to connect).
    first_frame_seconds = 0.05

    @pytest.fixture(autouse=True)
    def _backend(self, settings):
        settings.NIMBUS_PUSH = {
            "default": {
                "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
                "OPTIONS": {"relay": False},
            }
        }
        self.layer = push_backend().layer()  # type: ignore[attr-defined]
        yield
        async_to_sync(self.layer.flush)()

    def open_connection(self, user_id: int) -> str:
        channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(user_group(user_id), channel)
        return channel

    def events(self, connection: str) -> list[dict[str, Any]]:
        async def drain() -> list[dict[str, Any]]:
            events = []
            while True:
                wait = self.drain_seconds if events else self.first_frame_seconds
                try:
                    events.append(await asyncio.wait_for(self.layer.receive(connection), wait))
                except TimeoutError:
                    return events

        return async_to_sync(drain)()

    def received(self, connection: str) -> list[dict[str, Any]]:
        events = self.events(connection)
        assert {event["type"] for event in events} <= {"push.frame"}
        return [event["frame"] for event in events]

    def closed(self, connection: str) -> bool:
        # The consumer sends the last frame and closes when it gets this event.
        return {"type": "push.close"} in self.events(connection)


class TestChannelsOverRedis(TestChannelsBackend):
    """Local with Redis selected (REDIS_URL): the worker's pushes go straight to the layer."""

    # Each receive runs in a new event loop, which first connects to Redis: under load
    # (CI on two cores) that took longer than half a second. Frames are all sent before
    # `received` is called, so only the first wait needs to be generous.
    drain_seconds = 0.5
    first_frame_seconds = 5.0

    @pytest.fixture(autouse=True)
    def _backend(self, settings):
        redis_url = os.environ.get("NIMBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "OPTIONS": {"hosts": [redis_url], "prefix": f"nimbus-test-{uuid.uuid4().hex[:8]}"},
            }
        }
        settings.NIMBUS_PUSH = {
            "default": {
                "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
                "OPTIONS": {"relay": False},
            }
        }
        from channels.layers import channel_layers

        channel_layers.backends.pop("default", None)
        self.layer = push_backend().layer()  # type: ignore[attr-defined]
        yield
        async_to_sync(self.layer.flush)()
        channel_layers.backends.pop("default", None)

    def open_connection(self, user_id: int) -> str:
        # A plain channel name (no "!"): read straight from Redis on every call, so each
        # async_to_sync event loop can receive (process-local channels buffer per loop).
        channel = f"push-contract.{uuid.uuid4().hex}"
        async_to_sync(self.layer.group_add)(user_group(user_id), channel)
        return channel


class TestApiGatewayBackend(PushBackendContract):
    """AWS: a connection is a registry row in DynamoDB; frames land in moto's management API."""

    @pytest.fixture(autouse=True)
    def _backend(self, settings):
        with mock_aws():
            aws.create_table()
            settings.NIMBUS_PUSH = aws.AWS_PUSH
            self.seen: dict[str, int] = {}
            yield

    def open_connection(self, user_id: int) -> str:
        connection_id = uuid.uuid4().hex[:12] + "="
        push_backend().connection_open(connection_id=connection_id, user_id=user_id)  # type: ignore[attr-defined]
        return connection_id

    def received(self, connection: str) -> list[dict[str, Any]]:
        frames = aws.posted_frames(connection)
        new = frames[self.seen.get(connection, 0) :]
        self.seen[connection] = len(frames)
        return new

    def closed(self, connection: str) -> bool:
        # Closed and forgotten; test_aws_websocket.py shows the last frame and the
        # DeleteConnection call (moto drops what a deleted connection received).
        return not aws.registered(connection)
