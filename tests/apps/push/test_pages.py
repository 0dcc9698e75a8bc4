"""The nav badge, the live client's configuration in every signed-in page, the list page,
and connect tickets."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.push.services import push_to_user
from apps.push.tickets import connect_ticket_issue, connect_ticket_user
from tests.apps.push import aws

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_signed_in_pages_carry_the_badge_and_the_live_client(alice, alice_client, dummy_push):
    push_to_user(user_id=alice.pk, message={"type": "n"}, notify=True)
    last = push_to_user(user_id=alice.pk, message={"type": "n"}, notify=True)
    html = alice_client.get("/files/").content.decode()
    assert 'data-unread-count data-unread-label="unread notifications" data-count="2"' in html
    assert f'<meta name="nimbus-live-after" content="{last.pk}">' in html
    assert "nimbus/live.js" in html
    assert "nimbus-live-ticket" not in html  # same-origin /ws/ locally: the cookie suffices


def test_anonymous_pages_have_no_live_client(client):
    html = client.get("/").content.decode()
    assert "nimbus/live.js" not in html
    assert "data-unread-count" not in html


def test_notifications_page_lists_only_own_notifications(alice, bob, alice_client, dummy_push):
    push_to_user(user_id=alice.pk, message={"type": "n"}, notify=True, title="Mine")
    push_to_user(user_id=bob.pk, message={"type": "n"}, notify=True, title="Theirs")
    html = alice_client.get("/notifications/").content.decode()
    assert "Mine" in html
    assert "Theirs" not in html


def test_opening_the_notifications_page_is_seeing_them_so_the_badge_clears(
    alice, alice_client, dummy_push, django_capture_on_commit_callbacks
):
    from apps.push.models import Notification

    for _ in range(2):
        push_to_user(user_id=alice.pk, message={"type": "n"}, notify=True, title="News")
    with django_capture_on_commit_callbacks(execute=True):
        html = alice_client.get("/notifications/").content.decode()
    assert 'data-count="0"' in html  # the badge on this very page
    assert html.count("notification--unread") == 2  # still marked as new on this visit
    assert not Notification.objects.filter(user=alice, read=False).exists()
    # The person's other open pages are told, so their badges clear too.
    assert {"type": "notifications.read", "unread": 0} in dummy_push.frames_for(alice.pk)
    assert 'data-count="0"' in alice_client.get("/files/").content.decode()


def test_notifications_page_needs_sign_in(client):
    assert client.get("/notifications/").status_code == 302


def test_on_aws_pages_point_the_client_at_the_websocket_api_with_a_ticket(alice_client, settings):
    settings.NIMBUS_PUSH = aws.AWS_PUSH
    html = alice_client.get("/notifications/").content.decode()
    assert (
        '<meta name="nimbus-live-url" content="wss://ws123.execute-api.us-east-1.amazonaws.com/dev">'
        in html
    )
    assert '<meta name="nimbus-live-ticket" content="/api/notifications/ticket">' in html


def test_on_the_sites_domain_pages_connect_to_the_websockets_custom_domain(alice_client, settings):
    options = {**aws.AWS_PUSH["default"]["OPTIONS"], "websocket_url": "wss://ws.nimbus.example.com"}
    settings.NIMBUS_PUSH = {"default": {**aws.AWS_PUSH["default"], "OPTIONS": options}}
    html = alice_client.get("/notifications/").content.decode()
    assert '<meta name="nimbus-live-url" content="wss://ws.nimbus.example.com">' in html


def test_ticket_names_the_signed_in_user(alice, alice_client):
    body = alice_client.get("/api/notifications/ticket").json()
    assert body["expires_in"] == 60
    assert connect_ticket_user(ticket=body["ticket"]) == alice.pk


def test_ticket_needs_authentication(client):
    assert client.get("/api/notifications/ticket").status_code == 401


def test_forged_or_expired_tickets_are_refused(alice, monkeypatch):
    ticket = connect_ticket_issue(user_id=alice.pk)
    _user, stamp, signature = ticket.split(":")
    assert connect_ticket_user(ticket=f"{alice.pk + 1}:{stamp}:{signature}") is None
    assert connect_ticket_user(ticket="garbage") is None
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert connect_ticket_user(ticket=ticket) is None
