"""/api/notifications/: list after an id, unread count, mark read — own notifications only."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.push.services import push_to_user
from tests.apps.users.factories import access_token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def notify(user, i: int):
    return push_to_user(user_id=user.pk, message={"type": "n", "i": i}, notify=True, title=f"#{i}")


def test_list_after_an_id_returns_only_newer_own_notifications(
    alice, bob, alice_client, dummy_push
):
    first, second, third = (notify(alice, i) for i in range(3))
    notify(bob, 9)
    body = alice_client.get("/api/notifications/", {"after": first.pk}).json()
    assert [n["id"] for n in body["items"]] == [second.pk, third.pk]
    assert body["items"][0]["payload"] == {"type": "n", "i": 1}
    assert body["unread"] == 3
    assert body["last_id"] == third.pk
    assert body["more"] is False


def test_unread_filter_count_and_mark_read(alice, alice_client, dummy_push):
    first, second = notify(alice, 0), notify(alice, 1)
    response = alice_client.post(
        "/api/notifications/read", {"ids": [first.pk]}, content_type="application/json"
    )
    assert response.json() == {"marked": 1, "unread": 1}
    unread = alice_client.get("/api/notifications/", {"unread": "true"}).json()["items"]
    assert [n["id"] for n in unread] == [second.pk]
    assert alice_client.get("/api/notifications/unread-count").json() == {"unread": 1}
    assert alice_client.post(f"/api/notifications/{second.pk}/read").json() == {
        "marked": 1,
        "unread": 0,
    }


def test_mark_all_read_up_to_an_id(alice, alice_client, dummy_push):
    first, _second = notify(alice, 0), notify(alice, 1)
    response = alice_client.post(
        "/api/notifications/read", {"up_to": first.pk}, content_type="application/json"
    )
    assert response.json() == {"marked": 1, "unread": 1}


def test_another_users_notification_is_not_found(alice_client, bob, dummy_push):
    theirs = notify(bob, 0)
    response = alice_client.get(f"/api/notifications/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notification_not_found"
    assert alice_client.post(f"/api/notifications/{theirs.pk}/read").status_code == 404


def test_reference_frames_point_at_a_fetchable_notification(alice, alice_client, dummy_push):
    big = push_to_user(
        user_id=alice.pk, message={"type": "big", "data": "x" * 140_000}, notify=True
    )
    body = alice_client.get(f"/api/notifications/{big.pk}").json()
    assert len(body["payload"]["data"]) == 140_000


def test_bearer_token_works_and_anonymous_is_401(alice, client, dummy_push):
    notify(alice, 0)
    assert client.get("/api/notifications/").status_code == 401
    bearer = Client(headers={"Authorization": f"Bearer {access_token_for(alice)}"})
    assert len(bearer.get("/api/notifications/").json()["items"]) == 1


@pytest.mark.parametrize(
    "query", [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "1000"}]
)
def test_bad_query_is_a_422(alice_client, query):
    response = alice_client.get("/api/notifications/", query)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
