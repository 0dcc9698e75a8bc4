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
    ticket = await sync_to_async(connect_ticket_issue)(user_id=alice.pk)
    ws = await connect(path=f"/ws/?ticket={ticket}")
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "hello"})
    assert await ws.receive_json_from(timeout=2) == {"type": "hello"}
    await ws.disconnect()


async def test_a_connect_ticket_opens_one_socket_only(direct_push):
    from apps.push.tickets import connect_ticket_issue
    from project.asgi import application

    alice = await sync_to_async(make_user)()
    ticket = await sync_to_async(connect_ticket_issue)(user_id=alice.pk)
    first = await connect(path=f"/ws/?ticket={ticket}")
    second = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=[ORIGIN])
    connected, code = await second.connect()
    assert not connected
    assert code == 4401
    await first.disconnect()


def _sign_out(user) -> None:
    from apps.users.services import account_sign_out

    try:
        account_sign_out(user=user)
    finally:
        connection.close()


async def _assert_closed_by_sign_out(ws: WebsocketCommunicator) -> None:
    assert await ws.receive_json_from(timeout=2) == {"type": "session.ended"}
    closed = await ws.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize("credential", ["session", "token", "ticket"])
async def test_signing_out_everywhere_closes_the_open_socket(direct_push, credential):
    from apps.push.tickets import connect_ticket_issue
    from tests.apps.users.factories import access_token_for

    alice = await sync_to_async(make_user)()
    bob = await sync_to_async(make_user)()
    if credential == "session":
        ws = await connect(alice)
    elif credential == "token":
        ws = await connect(path=f"/ws/?token={await sync_to_async(access_token_for)(alice)}")
    else:
        ws = await connect(
            path=f"/ws/?ticket={await sync_to_async(connect_ticket_issue)(user_id=alice.pk)}"
        )
    ws_bob = await connect(bob)
    await sync_to_async(_sign_out)(alice)
    await _assert_closed_by_sign_out(ws)
    await sync_to_async(push_to_user)(user_id=bob.pk, message={"type": "still.here"})
    assert await ws_bob.receive_json_from(timeout=2) == {"type": "still.here"}
    await ws_bob.disconnect()


async def test_a_sign_out_in_another_process_closes_the_socket_via_the_relay(relayed_push):
    """An operator's `manage.py` command or the worker: the relay carries the close too."""
    alice = await sync_to_async(make_user)()
    ws = await connect(alice)
    await asyncio.sleep(0.05)
    await sync_to_async(_sign_out, thread_sensitive=False)(alice)
    await _assert_closed_by_sign_out(ws)


async def test_disabling_in_the_admin_closes_the_open_socket(direct_push):
    from apps.users import services

    alice = await sync_to_async(make_user)()
    operator = await sync_to_async(services.User.objects.create_superuser)(
        "root@example.com", password="Sup3r-secret!"
    )
    ws = await connect(alice)

    def disable_in_the_admin() -> None:
        client = Client()
        client.force_login(operator)
        response = client.post(
            "/admin/users/user/", {"action": "disable_accounts", "_selected_action": [alice.pk]}
        )
        assert response.status_code == 302
        connection.close()

    await sync_to_async(disable_in_the_admin)()
    await _assert_closed_by_sign_out(ws)
    assert not (await sync_to_async(services.User.objects.get)(pk=alice.pk)).is_active


async def test_a_sign_out_between_the_check_and_joining_the_group_refuses_the_socket(
    direct_push, monkeypatch
):
    from channels.layers import InMemoryChannelLayer

    from project.asgi import application

    alice = await sync_to_async(make_user)()
    cookie = await sync_to_async(_session_cookie)(alice)
    group_add = InMemoryChannelLayer.group_add

    async def signed_out_meanwhile(self, group, channel):
        await sync_to_async(_sign_out)(alice)
        await group_add(self, group, channel)

    monkeypatch.setattr(InMemoryChannelLayer, "group_add", signed_out_meanwhile)
    communicator = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


# -- Origin: browsers from our hosts may use the cookie; other clients use ?token= -------


async def test_a_token_without_an_origin_header_is_accepted(direct_push):
    """Non-browser clients (the docs tell them to use ?token=) send no Origin."""
    from project.asgi import application
    from tests.apps.users.factories import access_token_for

    alice = await sync_to_async(make_user)()
    token = await sync_to_async(access_token_for)(alice)
    ws = WebsocketCommunicator(application, f"/ws/?token={token}", headers=[])
    connected, _ = await ws.connect()
    assert connected
    await sync_to_async(push_to_user)(user_id=alice.pk, message={"type": "hello"})
    assert await ws.receive_json_from(timeout=2) == {"type": "hello"}
    await ws.disconnect()


async def test_the_session_cookie_without_an_origin_header_is_not_enough(direct_push):
    from project.asgi import application

    alice = await sync_to_async(make_user)()
    cookie = await sync_to_async(_session_cookie)(alice)
    ws = WebsocketCommunicator(application, "/ws/", headers=[(b"cookie", cookie)])
    connected, code = await ws.connect()
    assert not connected
    assert code == 4401


@pytest.mark.parametrize("with_cookie", [True, False])
async def test_a_cross_origin_browser_handshake_is_refused(direct_push, with_cookie):
    from project.asgi import application
    from tests.apps.users.factories import access_token_for

    alice = await sync_to_async(make_user)()
    token = await sync_to_async(access_token_for)(alice)
    headers = [(b"origin", b"https://evil.example")]
    if with_cookie:
        headers.append((b"cookie", await sync_to_async(_session_cookie)(alice)))
    ws = WebsocketCommunicator(application, f"/ws/?token={token}", headers=headers)
    connected, _ = await ws.connect()
    assert not connected
