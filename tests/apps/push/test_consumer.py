"""The Channels consumer at /ws/, driven through the real ASGI application."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from apps.push.services import push_to_user
from tests.apps.users.factories import user_create as make_user

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def direct_push(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
            "OPTIONS": {"relay": False},
        }
    }


@pytest.fixture
def relayed_push(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
            "OPTIONS": {"relay": True},
        }
    }


def _push_from_another_thread(**kwargs) -> None:
    try:
        push_to_user(**kwargs)
    finally:
        connection.close()


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user=None, path: str = "/ws/") -> WebsocketCommunicator:
    from project.asgi import application

    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(_session_cookie)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_anonymous_connection_is_refused():
    from project.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_bad_token_is_refused():
    from project.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/?token=not.a.jwt", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert not connected


async def test_user_receives_own_messages_and_never_another_users(direct_push):
    alice = await sync_to_async(make_user)()
    bob = await sync_to_async(make_user)()
    ws_alice = await connect(alice)
    ws_bob = await connect(bob)
    await sync_to_async(push_to_user)(user_id=bob.pk, message={"type": "secret", "to": "bob"})
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "hello"})
    assert await ws_alice.receive_json_from(timeout=2) == {"type": "hello"}
    assert await ws_bob.receive_json_from(timeout=2) == {"type": "secret", "to": "bob"}
    assert await ws_alice.receive_nothing(timeout=0.2)
    await ws_alice.disconnect()
    await ws_bob.disconnect()


async def test_catch_up_over_the_socket_replays_what_was_missed(direct_push):
    alice = await sync_to_async(make_user)()
    first = await sync_to_async(push_to_user)(
        user_id=alice.pk, message={"type": "n", "i": 0}, notify=True
    )
    for i in (1, 2):
        await sync_to_async(push_to_user)(
            user_id=alice.pk, message={"type": "n", "i": i}, notify=True
        )
    ws = await connect(alice)
    await ws.send_json_to({"type": "catch_up", "after": first.pk})
    frames = [await ws.receive_json_from(timeout=2) for _ in range(3)]
    assert [f.get("i") for f in frames[:2]] == [1, 2]
    assert frames[2]["type"] == "catch_up.done"
    assert frames[2]["last_id"] == frames[1]["notification"]["id"]
    await ws.disconnect()


async def test_malformed_client_frames_get_an_error_frame(direct_push):
    alice = await sync_to_async(make_user)()
    ws = await connect(alice)
    await ws.send_to(text_data="not json")
    assert (await ws.receive_json_from(timeout=2))["code"] == "invalid_json"
    await ws.send_json_to({"type": "catch_up", "after": -1})
    assert (await ws.receive_json_from(timeout=2))["code"] == "invalid_input"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=2) == {"type": "pong"}
    await ws.disconnect()


async def test_push_from_another_thread_reaches_the_page_within_a_second_via_the_relay(
    relayed_push,
):
    """What `manage.py worker` does: write from outside the server's event loop."""
    alice = await sync_to_async(make_user)()
    ws = await connect(alice)
    await asyncio.sleep(0.05)  # the relay has started polling
    started = time.monotonic()
    await sync_to_async(_push_from_another_thread, thread_sensitive=False)(
        user_id=alice.pk, message={"type": "file.status", "file_id": 1, "status": "accepted"}
    )
    frame = await ws.receive_json_from(timeout=1)
    elapsed = time.monotonic() - started
    assert frame["status"] == "accepted"
    assert elapsed < 1.0
    await ws.disconnect()


async def test_access_token_in_the_query_string_authenticates(direct_push):
    from tests.apps.users.factories import access_token_for

    alice = await sync_to_async(make_user)()
    token = await sync_to_async(access_token_for)(alice)
    ws = await connect(path=f"/ws/?token={token}")
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "hello"})
    assert await ws.receive_json_from(timeout=2) == {"type": "hello"}
    await ws.disconnect()


async def test_disabled_users_session_is_refused(direct_push):
    from project.asgi import application

    alice = await sync_to_async(make_user)()
    cookie = await sync_to_async(_session_cookie)(alice)
    alice.is_active = False
    await sync_to_async(alice.save)()
    communicator = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert not connected


def _publish_file_approved_like_the_worker(owner_id: int) -> None:
    """A background receiver's work: publish after commit, the local bus runs push's receiver."""
    import uuid

    from django.db import transaction

    from apps.events.services import publish

    try:
        with transaction.atomic():
            publish(
                "files.FileApproved",
                {
                    "file_id": str(uuid.uuid4()),
                    "owner_id": str(owner_id),
                    "status": "approved",
                    "name": "report.pdf",
                    "content_type": "application/pdf",
                    "size": 10,
                    "sha256": "0" * 64,
                },
            )
    finally:
        connection.close()


async def test_status_change_by_a_background_receiver_reaches_the_open_page_within_a_second(
    relayed_push, push_receivers_only
):
    alice = await sync_to_async(make_user)()
    ws = await connect(alice)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await sync_to_async(_publish_file_approved_like_the_worker, thread_sensitive=False)(alice.pk)
    frame = await ws.receive_json_from(timeout=1)
    elapsed = time.monotonic() - started
    assert frame["type"] == "file.status"
    assert frame["status"] == "approved"
    assert frame["notification"]["title"] == "report.pdf was approved"
    assert elapsed < 1.0, f"took {elapsed:.3f}s"
    await ws.disconnect()


async def test_client_offline_during_three_notifications_gets_all_three_once_on_reconnect(
    direct_push,
):
    alice = await sync_to_async(make_user)()
    ws = await connect(alice)
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "n", "i": 0}, notify=True)
    last_seen = (await ws.receive_json_from(timeout=2))["notification"]["id"]
    await ws.disconnect()

    for i in (1, 2, 3):
        await sync_to_async(push_to_user)(
            user_id=alice.pk, message={"type": "n", "i": i}, notify=True
        )

    ws = await connect(alice)
    await ws.send_json_to({"type": "catch_up", "after": last_seen})
    frames = [await ws.receive_json_from(timeout=2) for _ in range(4)]
    assert [f.get("i") for f in frames[:3]] == [1, 2, 3]
    assert frames[3]["type"] == "catch_up.done"
    assert await ws.receive_nothing(timeout=0.2)
    await ws.send_json_to({"type": "catch_up", "after": frames[3]["last_id"]})
    assert (await ws.receive_json_from(timeout=2))["type"] == "catch_up.done"
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_connect_ticket_authenticates(direct_push):
    from apps.push.tickets import connect_ticket_issue

    alice = await sync_to_async(make_user)()
    ws = await connect(path=f"/ws/?ticket={connect_ticket_issue(user_id=alice.pk)}")
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "hello"})
    assert await ws.receive_json_from(timeout=2) == {"type": "hello"}
    await ws.disconnect()


async def test_a_connect_ticket_opens_one_socket_only(direct_push):
    from apps.push.tickets import connect_ticket_issue
    from project.asgi import application

    alice = await sync_to_async(make_user)()
    ticket = connect_ticket_issue(user_id=alice.pk)
    first = await connect(path=f"/ws/?ticket={ticket}")
    second = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=[ORIGIN])
    connected, code = await second.connect()
    assert not connected
    assert code == 4401
    await first.disconnect()
