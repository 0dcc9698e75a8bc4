"""push_to_user / push_to_group: validation, after-commit delivery, stored notifications."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from apps.push.exceptions import InvalidMessage, MessageTooLarge, UnknownGroup
from apps.push.models import Notification
from apps.push.selectors import notification_unread_count
from apps.push.services import (
    notifications_catch_up,
    notifications_mark_read,
    push_to_group,
    push_to_user,
)

pytestmark = pytest.mark.django_db


def test_live_message_is_delivered_only_after_commit(
    alice, dummy_push, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        push_to_user(user_id=alice.pk, message={"type": "file.status", "file_id": 1})
    assert dummy_push.sent == []
    for callback in callbacks:
        callback()
    assert dummy_push.frames_for(alice.pk) == [{"type": "file.status", "file_id": 1}]


def test_rolled_back_transaction_pushes_nothing_and_stores_nothing(alice, dummy_push):
    class Boom(Exception):
        pass

    def work() -> None:
        with transaction.atomic():
            push_to_user(user_id=alice.pk, message={"type": "x"}, notify=True)
            raise Boom

    with pytest.raises(Boom):
        work()
    assert dummy_push.sent == []
    assert not Notification.objects.exists()


def test_notify_stores_the_message_and_pushes_it_with_its_id(
    alice, dummy_push, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        n = push_to_user(
            user_id=alice.pk,
            message={"type": "file.status", "file_id": 3, "status": "accepted"},
            notify=True,
            title="report.pdf accepted",
        )
    assert n is not None
    assert n.kind == "file.status"
    assert n.title == "report.pdf accepted"
    (frame,) = dummy_push.frames_for(alice.pk)
    assert frame["status"] == "accepted"
    assert frame["notification"]["id"] == n.pk
    assert notification_unread_count(user_id=alice.pk) == 1


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        {"no": "type"},
        {"type": 3},
        {"type": ""},
        {"type": "ref"},
        {"type": "session.ended"},
        {"type": "x", "notification": {}},
        {"type": "x", "when": object()},
    ],
)
def test_bad_messages_are_refused(alice, dummy_push, message):
    with pytest.raises(InvalidMessage) as info:
        push_to_user(user_id=alice.pk, message=message, notify=True)
    assert info.value.code == "push_invalid_message"
    assert not Notification.objects.exists()


def test_oversize_live_message_is_refused_with_a_clear_error(alice, dummy_push):
    with pytest.raises(MessageTooLarge) as info:
        push_to_user(user_id=alice.pk, message={"type": "big", "data": "x" * 140_000})
    assert info.value.status == 413
    assert info.value.detail["limit"] == 128 * 1024


def test_oversize_notification_is_sent_as_a_reference(
    alice, dummy_push, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        n = push_to_user(
            user_id=alice.pk, message={"type": "big", "data": "x" * 140_000}, notify=True
        )
    assert dummy_push.frames_for(alice.pk) == [{"type": "ref", "notification_id": n.pk}]


def test_catch_up_returns_everything_after_an_id_then_done(alice, bob, dummy_push):
    ids = [
        push_to_user(user_id=alice.pk, message={"type": "n", "i": i}, notify=True).pk
        for i in range(3)
    ]
    push_to_user(user_id=bob.pk, message={"type": "n", "i": 99}, notify=True)
    frames = notifications_catch_up(user_id=alice.pk, after=ids[0])
    assert [f["i"] for f in frames[:-1]] == [1, 2]
    assert frames[-1] == {"type": "catch_up.done", "last_id": ids[2], "more": False}


def test_mark_read_touches_only_the_users_own_notifications(
    alice, bob, dummy_push, django_capture_on_commit_callbacks
):
    a = push_to_user(user_id=alice.pk, message={"type": "n"}, notify=True)
    b = push_to_user(user_id=bob.pk, message={"type": "n"}, notify=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_mark_read(user_id=alice.pk, ids=[a.pk, b.pk]) == 1
    assert notification_unread_count(user_id=alice.pk) == 0
    assert notification_unread_count(user_id=bob.pk) == 1
    assert dummy_push.frames_for(alice.pk)[-1] == {"type": "notifications.read", "unread": 0}


def test_push_to_group_reaches_active_members_only(
    alice, bob, dummy_push, django_capture_on_commit_callbacks
):
    from tests.apps.users.factories import user_create

    reviewers = Group.objects.create(name="reviewers")
    carol = user_create(is_active=False)
    for user in (alice, carol):
        user.groups.add(reviewers)
    with django_capture_on_commit_callbacks(execute=True):
        assert push_to_group(group="reviewers", message={"type": "review.waiting"}) == 1
    assert dummy_push.sent == [(alice.pk, {"type": "review.waiting"})]


def test_push_to_unknown_group_is_refused(dummy_push):
    with pytest.raises(UnknownGroup):
        push_to_group(group="nobody", message={"type": "x"})


def test_catch_up_pages_through_a_long_absence(alice, dummy_push):
    from apps.push.selectors import PAGE_SIZE

    for i in range(PAGE_SIZE + 1):
        push_to_user(user_id=alice.pk, message={"type": "n", "i": i}, notify=True)
    first = notifications_catch_up(user_id=alice.pk, after=0)
    assert len(first) == PAGE_SIZE + 1
    assert first[-1]["more"] is True
    second = notifications_catch_up(user_id=alice.pk, after=first[-1]["last_id"])
    assert [f.get("i") for f in second[:-1]] == [PAGE_SIZE]
    assert second[-1]["more"] is False


def test_catch_up_sends_oversize_notifications_by_reference(alice, dummy_push):
    big = push_to_user(user_id=alice.pk, message={"type": "big", "x": "x" * 140_000}, notify=True)
    frames = notifications_catch_up(user_id=alice.pk, after=0)
    assert frames[0] == {"type": "ref", "notification_id": big.pk}


def test_notification_for_a_user_who_does_not_exist_is_refused_now(dummy_push):
    from apps.push.exceptions import UnknownRecipient

    with pytest.raises(UnknownRecipient) as info:
        push_to_user(user_id=987654, message={"type": "n"}, notify=True)
    assert info.value.status == 404
    assert not Notification.objects.exists()
