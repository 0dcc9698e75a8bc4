"""files.* events reach the owner live, and as notifications for outcomes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from apps.events.services import publish
from apps.push.models import Notification

pytestmark = pytest.mark.django_db


def file_detail(owner, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "file_id": str(uuid.uuid4()),
        "owner_id": str(owner.pk),
        "status": status,
        "name": "report.pdf",
        "content_type": "application/pdf",
        "size": 10,
        "sha256": "0" * 64,
        **extra,
    }


def test_approved_file_reaches_its_owner_live_and_as_a_notification(
    alice, bob, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    detail = file_detail(alice, "approved")
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileApproved", detail)
    (frame,) = dummy_push.frames_for(alice.pk)
    assert frame["type"] == "file.status"
    assert frame["file_id"] == detail["file_id"]
    assert frame["status"] == "approved"
    assert frame["status_label"] == "Approved"  # the words the file pages use
    assert frame["notification"]["title"] == "report.pdf was approved"
    assert dummy_push.frames_for(bob.pk) == []
    assert Notification.objects.get().user_id == alice.pk


def test_an_ordinary_file_gives_one_notification_accepted_then_approved(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    detail = file_detail(alice, "accepted")
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileAccepted", detail)
        publish("files.FileApproved", {**detail, "status": "approved"})
    assert [f["status"] for f in dummy_push.frames_for(alice.pk)] == ["accepted", "approved"]
    (notification,) = Notification.objects.all()
    assert notification.title == "report.pdf was approved"


def test_a_file_name_of_the_longest_kind_keeps_the_notifications_wording(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    name = "Q" * 240 + "-final.pdf"  # 250 characters: File.name holds up to 255
    detail = file_detail(alice, "approved", name=name)
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileApproved", detail)
    (notification,) = Notification.objects.all()
    assert len(notification.title) <= Notification._meta.get_field("title").max_length
    assert notification.title.endswith("…QQ-final.pdf was approved")
    assert notification.title.startswith("QQQQ")
    assert notification.payload["name"] == name  # the full name, for the page's title attribute


def test_notice_titles_shorten_only_the_name():
    from apps.push.handlers import notice_title

    assert notice_title("{name} was rejected", "short.txt") == "short.txt was rejected"
    title = notice_title("{name} was rejected", "a" * 100 + ".txt", limit=40)
    assert len(title) == 40
    assert title == "a" * 17 + "…" + "a" * 5 + ".txt was rejected"


def test_rejection_carries_the_reason(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    detail = file_detail(
        alice, "rejected", reason="type_mismatch", reason_message="It is not a PDF."
    )
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileRejected", detail)
    (frame,) = dummy_push.frames_for(alice.pk)
    assert frame["reason"] == "type_mismatch"
    assert Notification.objects.get().body == "It is not a PDF."


def test_intermediate_status_is_live_only(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileUploaded", file_detail(alice, "uploaded"))
    (frame,) = dummy_push.frames_for(alice.pk)
    assert frame["status"] == "uploaded"
    assert "notification" not in frame
    assert not Notification.objects.exists()


def test_event_for_a_deleted_owner_is_dropped_quietly(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    detail = file_detail(alice, "approved")
    alice.delete()
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileApproved", detail)
    assert dummy_push.sent == []


# ---- e-mail about approvals and rejections ------------------------------------------------


def test_an_approval_is_emailed_with_a_link_to_the_file_and_an_unsubscribe_link(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks, mailoutbox
):
    detail = file_detail(alice, "approved")
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileApproved", detail)
    (message,) = mailoutbox
    assert message.to == [alice.email]
    assert message.subject == "report.pdf was approved"
    assert f"http://testserver/files/{detail['file_id']}/" in message.body
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://testserver/notifications/unsubscribe/")
    assert unsubscribe in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_rejection_email_says_why(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks, mailoutbox
):
    detail = file_detail(alice, "rejected", reason="type_mismatch", reason_message="Not a PDF.")
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileRejected", detail)
    (message,) = mailoutbox
    assert message.subject == "report.pdf was rejected"
    assert "Reason: Not a PDF." in message.body


def test_no_email_for_steps_on_the_way_or_when_the_owner_turned_them_off(
    alice, dummy_push, push_receivers_only, django_capture_on_commit_callbacks, mailoutbox
):
    from apps.users.models import Profile

    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileAccepted", file_detail(alice, "accepted"))
    assert mailoutbox == []
    Profile.objects.update_or_create(user=alice, defaults={"email_notifications": False})
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileApproved", file_detail(alice, "approved"))
    assert mailoutbox == []
    assert Notification.objects.count() == 1  # the notification still is stored


def test_the_unsubscribe_link_asks_then_turns_file_emails_off_without_signing_in(alice, client):
    from apps.push.mail import unsubscribe_token
    from apps.users.models import Profile

    Profile.objects.update_or_create(user=alice, defaults={"email_notifications": True})
    url = f"/notifications/unsubscribe/{unsubscribe_token(user_id=alice.pk)}/"
    page = client.get(url)  # a link scanner's GET changes nothing
    assert page.status_code == 200
    assert "Stop these e-mails" in page.content.decode()
    assert Profile.objects.get(user=alice).email_notifications is True
    done = client.post(url)  # RFC 8058 one-click: no session, no CSRF token
    assert done.status_code == 200
    assert Profile.objects.get(user=alice).email_notifications is False


def test_a_forged_unsubscribe_link_changes_nothing(alice, client):
    from apps.users.models import Profile

    Profile.objects.update_or_create(user=alice, defaults={"email_notifications": True})
    response = client.post(f"/notifications/unsubscribe/{alice.pk}:forged/")
    assert response.status_code == 404
    assert Profile.objects.get(user=alice).email_notifications is True
