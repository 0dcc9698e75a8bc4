"""file_review end to end on the local engine: FileAccepted starts it, an operator or an
external system approves or rejects, the owner sees each step live and is notified."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from apps.events.services import publish
from apps.files.models import File, FileStatus, storage_key
from apps.files.services import event_detail
from apps.workflows import driver, services
from apps.workflows.models import Execution, TaskToken
from tests.apps.users.factories import user_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def review_settings(settings):
    settings.NIMBUS_REVIEW = {"approval_over_bytes": 1000, "approval_types": ["application/pdf"]}
    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.local.LocalBus",
            "OPTIONS": {"max_attempts": 1, "base_delay": 0.0, "max_delay": 0.0},
        }
    }
    settings.NIMBUS_PUSH = {"default": {"BACKEND": "apps.push.backends.dummy.DummyPushBackend"}}


@pytest.fixture
def owner():
    return user_create(email="owner@example.com")


@pytest.fixture
def pushed():
    from apps.push.backends import push_backend

    return push_backend()


def accepted_file(owner: Any, *, size: int, content_type: str) -> File:
    import uuid

    file_id = uuid.uuid4()
    return File.objects.create(
        id=file_id,
        owner=owner,
        key=storage_key(owner.pk, file_id),
        name="report",
        declared_type=content_type,
        detected_type=content_type,
        declared_size=size,
        size=size,
        status=FileStatus.ACCEPTED,
        upload_expires_at=timezone.now() + timedelta(hours=1),
    )


def accept(file: File) -> Execution:
    with transaction.atomic():
        publish("files.FileAccepted", event_detail(file, sha256="0" * 64))
    return Execution.objects.get(workflow="file_review", name=f"file-{file.pk}")


def published(file: File) -> list[str]:
    from apps.events.models import Event

    return list(
        Event.objects.filter(detail__file_id=str(file.pk))
        .order_by("time", "id")
        .values_list("detail_type", flat=True)
    )


def test_small_image_is_approved_without_an_operator(owner, pushed):
    file = accepted_file(owner, size=100, content_type="image/png")
    execution = accept(file)
    execution.refresh_from_db()
    file.refresh_from_db()
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert file.status == FileStatus.APPROVED
    assert "files.FileApproved" in published(file)
    steps = [f for uid, f in pushed.sent if f.get("type") == "workflow.step"]
    assert {"Prepare", "NeedsApproval", "Approve", "Notify"} <= {f.get("state") for f in steps}
    # each step carries when it happened, for the page to show in the reader's time zone
    assert all(datetime.fromisoformat(f["timestamp"]).tzinfo for f in steps)
    assert all(uid == owner.pk for uid, _ in pushed.sent)
    from apps.push.models import Notification

    # One stored "approved" notification (the push relay's), not one per announcer.
    assert Notification.objects.filter(user=owner, title__endswith="was approved").count() == 1


def test_auto_approval_never_says_the_file_awaits_approval(owner, pushed):
    file = accepted_file(owner, size=100, content_type="image/png")
    execution = accept(file)
    execution.refresh_from_db()
    file.refresh_from_db()
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert file.status == FileStatus.APPROVED
    assert "files.FileAwaitingApproval" not in published(file)
    from apps.push.models import Notification

    assert not Notification.objects.filter(user=owner, title__endswith="awaiting approval").exists()
    assert not any(f.get("status") == "awaiting_approval" for _, f in pushed.sent)


def test_pdf_waits_for_approval_then_callback_approves(owner, client):
    file = accepted_file(owner, size=100, content_type="application/pdf")
    execution = accept(file)
    file.refresh_from_db()
    assert file.status == FileStatus.AWAITING_APPROVAL
    task = TaskToken.objects.get(execution=execution, consumed_at__isnull=True)
    assert task.state_name == "AwaitApproval"
    services.task_resolve(task=task, outcome="success", output={"by": "ops"}, actor="ops")
    execution.refresh_from_db()
    file.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert file.status == FileStatus.APPROVED
    assert "files.FileApproved" in published(file)
    assert "files.FileRejected" not in published(file)


def test_large_file_rejected_through_the_signed_callback(owner, client, monkeypatch):
    urls: list[str] = []
    real = services.callback_url

    def capture(**kwargs: Any) -> str:
        urls.append(real(**kwargs))
        return urls[-1]

    monkeypatch.setattr(services, "callback_url", capture)
    file = accepted_file(owner, size=5000, content_type="image/png")
    execution = accept(file)
    response = client.post(
        urls[-1],
        {"outcome": "failure", "error": "Rejected", "cause": "Too blurry"},
        content_type="application/json",
    )
    assert response.status_code == 202
    execution.refresh_from_db()
    file.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert (file.status, file.reason_message) == (FileStatus.REJECTED, "Too blurry")
    assert "files.FileRejected" in published(file)
    assert "files.FileApproved" not in published(file)


def test_a_failing_step_marks_the_file_failed_with_the_reason(owner):
    file = accepted_file(owner, size=100, content_type="image/png")
    File.objects.filter(pk=file.pk).update(status=FileStatus.UPLOADED)
    execution = accept(file)
    execution.refresh_from_db()
    file.refresh_from_db()
    assert (execution.status, execution.error) == ("FAILED", "FileStateConflict")
    assert file.status == FileStatus.FAILED
    assert file.reason_message.startswith("FileStateConflict:")


def test_transient_errors_are_retried(owner, monkeypatch, clock):
    from apps.files import selectors
    from apps.files.review import ReviewTransientError

    real, failures = selectors.file_get_any, [1]

    def flaky(**kwargs: Any) -> File:
        if failures:
            failures.pop()
            raise ReviewTransientError("database restarting")
        return real(**kwargs)

    monkeypatch.setattr(selectors, "file_get_any", flaky)
    file = accepted_file(owner, size=100, content_type="image/png")
    execution = accept(file)
    clock.advance(5)  # the retry interval (full jitter: anywhere from 0 to 2 s)
    driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    file.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert file.status == FileStatus.APPROVED
    scheduled = execution.events.filter(type="TaskScheduled", state_name="Prepare").count()
    assert scheduled == 2
    assert not failures


def test_redelivered_file_accepted_starts_one_review(owner):
    from apps.files.review import file_review_start

    file = accepted_file(owner, size=100, content_type="application/pdf")
    execution = accept(file)
    event = {"detail": event_detail(file)}
    event["detail"]["owner_id"] = str(owner.pk)
    event["detail"]["file_id"] = str(file.pk)
    file_review_start(event)
    assert Execution.objects.filter(workflow="file_review").count() == 1
    assert execution.tokens.count() == 1


def test_on_step_functions_each_step_tells_the_owner(
    owner, pushed, lambda_entry, aws_event, lambda_context
):
    """The Lambda entry runs the review steps as Step Functions would call them."""
    file = accepted_file(owner, size=100, content_type="image/png")
    arn = "arn:aws:states:us-east-1:123456789012:execution:nimbus-dev-file-review:file-x"
    for step, payload in (
        ("files.review_prepare", {"file_id": str(file.pk)}),
        ("files.review_approve", {"file_id": str(file.pk)}),
    ):
        event = aws_event("stepfunctions_task")
        event.update(workflow_step=step, input=payload, execution_arn=arn)
        result = lambda_entry(event, lambda_context)
    assert result == {"status": "approved"}
    frames = [f for uid, f in pushed.sent if uid == owner.pk and f.get("type") == "workflow.step"]
    assert [(f["state"], f["execution"]) for f in frames] == [("Prepare", arn), ("Approve", arn)]


def test_on_step_functions_the_page_gets_the_same_step_messages_as_locally(
    owner, pushed, lambda_entry, aws_event, lambda_context
):
    """The file page lists ``*StateEntered`` messages by label and time, on either engine."""
    local = accepted_file(owner, size=100, content_type="image/png")
    accept(local)
    local_frames = {
        f["state"]: f
        for _, f in pushed.sent
        if f.get("type") == "workflow.step" and str(f.get("event")).endswith("StateEntered")
    }
    pushed.sent.clear()

    file = accepted_file(owner, size=100, content_type="image/png")
    arn = "arn:aws:states:us-east-1:123456789012:execution:nimbus-dev-file-review:file-y"
    for step in ("files.review_prepare", "files.review_approve"):
        event = aws_event("stepfunctions_task")
        event.update(workflow_step=step, input={"file_id": str(file.pk)}, execution_arn=arn)
        lambda_entry(event, lambda_context)
    frames = [f for _, f in pushed.sent if f.get("type") == "workflow.step"]
    assert [f["state"] for f in frames] == ["Prepare", "Approve"]
    for frame in frames:
        like = local_frames[frame["state"]]
        assert set(frame) == set(like)
        assert frame["event"] == like["event"] == "TaskStateEntered"
        assert frame["label"] == like["label"]
        assert datetime.fromisoformat(frame["timestamp"]).tzinfo
    assert frames[0]["label"] == "Checking the file"
