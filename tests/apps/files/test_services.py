"""Service rules not covered by the upload flows: names, quota at inspection, checks."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from apps.files.models import FileStatus
from apps.files.services import (
    file_approve,
    file_fail,
    file_inspect,
    file_mark_awaiting_approval,
    file_reject,
    file_upload_complete,
    file_upload_start,
    sanitize_name,
)
from tests.apps.files.conftest import upload_options


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\\\Users\\\\me\\\\photo.png", "photo.png"),
        ("evil\\r\\nname: x.png", "evilname: x.png"),
        ("\\u202etxt.exe", "txt.exe"),
        ("..", "file"),
        ("", "file"),
        ("a" * 300 + ".png", "a" * 196 + ".png"),
    ],
)
def test_names_are_sanitised_for_display(given, expected):
    assert sanitize_name(given.encode().decode("unicode_escape")) == expected


@pytest.mark.django_db
def test_the_key_never_contains_the_name(alice):
    started = file_upload_start(
        user=alice, name="../other/x.png", content_type="image/png", size=10
    )
    assert started.file.key == f"uploads/{alice.pk}/{started.file.pk}"


@pytest.mark.django_db
def test_inspection_enforces_the_quota_on_what_arrived(alice, png, settings):
    started = file_upload_start(user=alice, name="a.png", content_type="image/png", size=len(png))
    default_storage.save(started.file.key, __import__("io").BytesIO(png))
    file_upload_complete(key=started.file.key, size=len(png), etag="e")
    upload_options(settings, quota_bytes=len(png) - 1)
    file = file_inspect(file_id=started.file.pk)
    assert file.status == FileStatus.REJECTED
    assert file.reason_code == "quota_exceeded"


@pytest.mark.django_db
def test_an_upload_with_no_object_is_rejected_as_missing(alice):
    started = file_upload_start(user=alice, name="a.png", content_type="image/png", size=5)
    file_upload_complete(key=started.file.key, size=5, etag="e")
    file = file_inspect(file_id=started.file.pk)
    assert file.reason_code == "object_missing"


@pytest.mark.django_db
def test_review_transitions_are_idempotent_and_refuse_skipping_states(alice, png):
    from apps.files.exceptions import FileStateConflict

    started = file_upload_start(user=alice, name="a.png", content_type="image/png", size=len(png))
    default_storage.save(started.file.key, __import__("io").BytesIO(png))
    file_upload_complete(key=started.file.key, size=len(png), etag="e")
    with pytest.raises(FileStateConflict):
        file_approve(file_id=started.file.pk)
    assert file_inspect(file_id=started.file.pk).status == FileStatus.ACCEPTED
    assert file_mark_awaiting_approval(file_id=started.file.pk).status == "awaiting_approval"
    assert file_mark_awaiting_approval(file_id=started.file.pk).status == "awaiting_approval"
    rejected = file_reject(file_id=started.file.pk, reason="Not appropriate")
    assert (rejected.status, rejected.reason_code) == ("rejected", "review_rejected")
    assert rejected.reason_message == "Not appropriate"
    with pytest.raises(FileStateConflict):
        file_fail(file_id=started.file.pk, reason="late")


@pytest.mark.django_db
def test_re_inspection_never_undoes_a_reviewers_decision(alice, png):
    from apps.files.exceptions import FileStateConflict
    from apps.files.models import File

    started = file_upload_start(user=alice, name="a.png", content_type="image/png", size=len(png))
    default_storage.save(started.file.key, __import__("io").BytesIO(png))
    file_upload_complete(key=started.file.key, size=len(png), etag="e")
    assert file_inspect(file_id=started.file.pk).status == FileStatus.ACCEPTED
    file_reject(file_id=started.file.pk, reason="Not appropriate")
    with pytest.raises(FileStateConflict):
        file_inspect(file_id=started.file.pk, force=True)
    file = File.objects.get(pk=started.file.pk)
    assert (file.status, file.reason_code) == ("rejected", "review_rejected")
    assert not file.is_downloadable

    File.objects.filter(pk=file.pk).update(status=FileStatus.APPROVED, reason_code="")
    with pytest.raises(FileStateConflict):
        file_inspect(file_id=file.pk, force=True)
    assert File.objects.get(pk=file.pk).status == FileStatus.APPROVED

    # A rejection by the inspection itself deleted the object: nothing is left to inspect.
    File.objects.filter(pk=file.pk).update(
        status=FileStatus.REJECTED, reason_code="type_not_allowed"
    )
    with pytest.raises(FileStateConflict):
        file_inspect(file_id=file.pk, force=True)
    assert File.objects.get(pk=file.pk).status == FileStatus.REJECTED


def test_the_s3_backend_without_a_bucket_fails_the_system_check(settings):
    from django.core import checks

    settings.NIMBUS_UPLOADS = {"default": {"BACKEND": "apps.files.backends.aws.S3UploadBackend"}}
    ids = {m.id for m in checks.run_checks(tags=["nimbus"])}
    assert "files.E002" in ids


def test_the_local_backend_is_refused_under_deployment_checks():
    from apps.files.backends import uploads

    messages = uploads.check(deploy=True)
    assert "nimbus.E003" in {m.id for m in messages}


def test_unknown_upload_options_are_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from apps.files.backends import get_upload_backend

    upload_options(settings, max_byte=10)
    with pytest.raises(ImproperlyConfigured, match="max_byte"):
        get_upload_backend()


def test_receivers_and_the_cleanup_schedule_are_registered(aws_event):
    from apps.events.registry import receivers_for, schedules

    names = {r.name for r in receivers_for(aws_event("eventbridge_s3_object_created"))}
    assert "files.object_created" in names
    other_prefix = aws_event("eventbridge_s3_object_created")
    other_prefix["detail"]["object"]["key"] = "static/site.css"
    assert "files.object_created" not in {r.name for r in receivers_for(other_prefix)}
    assert schedules["files.expire_uploads"].expression == "rate(15 minutes)"
