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


def test_accepted_file_reaches_its_owner_live_and_as_a_notification(
    alice, bob, dummy_push, push_receivers_only, django_capture_on_commit_callbacks
):
    detail = file_detail(alice, "accepted")
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileAccepted", detail)
    (frame,) = dummy_push.frames_for(alice.pk)
    assert frame["type"] == "file.status"
    assert frame["file_id"] == detail["file_id"]
    assert frame["status"] == "accepted"
    assert frame["status_label"] == "Accepted"  # the words the file pages use
    assert frame["notification"]["title"] == "report.pdf was accepted"
    assert dummy_push.frames_for(bob.pk) == []
    assert Notification.objects.get().user_id == alice.pk


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
    detail = file_detail(alice, "accepted")
    alice.delete()
    with django_capture_on_commit_callbacks(execute=True):
        publish("files.FileAccepted", detail)
    assert dummy_push.sent == []
