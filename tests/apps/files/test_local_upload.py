"""The local upload endpoint enforces the same policy S3 does, and leads to inspection."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from apps.files.models import File, FileStatus
from apps.files.services import file_upload_start
from tests.apps.files.conftest import assert_accepted, form_post, upload_options

pytestmark = pytest.mark.django_db


def start(user: Any, content: bytes, content_type: str = "image/png", name: str = "a.png"):
    return file_upload_start(user=user, name=name, content_type=content_type, size=len(content))


def post(started: Any, content: bytes, **field_overrides: str):
    target = started.target
    return form_post(Client(), target.url, {**target.fields, **field_overrides}, content)


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


def test_a_real_multipart_post_stores_the_object_and_the_file_is_accepted(
    alice, png, django_capture_on_commit_callbacks
):
    started = start(alice, png)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(started, png)
    assert response.status_code == 204
    with default_storage.open(started.file.key, "rb") as fh:
        assert fh.read() == png
    assert_accepted(started.file.pk)
    file = File.objects.get(pk=started.file.pk)
    assert file.detected_type == "image/png"
    assert file.size == len(png)
    import hashlib

    assert file.sha256 == hashlib.sha256(png).hexdigest()


def test_an_exe_declared_as_png_is_stored_but_rejected_as_type_mismatch(
    alice, exe, django_capture_on_commit_callbacks
):
    started = start(alice, exe, name="holiday.png")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(started, exe).status_code == 204
    file = File.objects.get(pk=started.file.pk)
    assert file.status == FileStatus.REJECTED
    assert file.reason_code == "type_mismatch"
    assert file.detected_type == "application/x-msdownload"


def test_a_single_post_upload_over_the_size_limit_is_refused_at_the_start(alice, settings):
    from apps.files.exceptions import FileTooLarge

    upload_options(settings, max_bytes=1000)
    with pytest.raises(FileTooLarge):
        start(alice, b"x" * 1001, content_type="text/plain", name="big.txt")
    assert not File.objects.exists()


@pytest.mark.parametrize("sent", [b"x" * 11, b"x" * 9], ids=["more", "fewer"])
def test_a_post_of_another_size_than_declared_is_refused_and_stores_nothing(alice, sent):
    started = start(alice, b"x" * 10, content_type="text/plain", name="t.txt")
    assert started.target.max_bytes == 10
    response = post(started, sent)
    assert response.status_code in (400, 413)
    assert error_code(response) in ("upload_too_large", "upload_empty")
    assert not default_storage.exists(started.file.key)
    assert File.objects.get(pk=started.file.pk).status == FileStatus.PENDING


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(alice, settings):
    upload_options(settings, max_bytes=1000)
    started = start(alice, b"x" * 10, content_type="text/plain")
    response = post(started, b"x" * 200_000)
    assert response.status_code == 413
    assert error_code(response) == "upload_too_large"


def test_an_empty_file_is_refused(alice, png):
    started = start(alice, png)
    response = post(started, b"")
    assert response.status_code == 400
    assert error_code(response) == "upload_empty"
    assert not default_storage.exists(started.file.key)


def test_another_key_is_refused(alice, bob, png):
    started = start(alice, png)
    response = post(started, png, key=f"uploads/{bob.pk}/{started.file.pk}")
    assert response.status_code == 403
    assert error_code(response) == "upload_key_mismatch"
    assert not default_storage.exists(f"uploads/{bob.pk}/{started.file.pk}")


def test_another_content_type_is_refused(alice, png):
    started = start(alice, png)
    response = post(started, png, **{"Content-Type": "text/html"})
    assert response.status_code == 403
    assert error_code(response) == "upload_type_mismatch"


def test_a_missing_file_field_is_refused(alice, png):
    started = start(alice, png)
    response = Client().post(started.target.url, started.target.fields)
    assert response.status_code == 400
    assert error_code(response) == "upload_missing_file"


def test_an_expired_upload_url_is_refused(alice, png, monkeypatch):
    started = start(alice, png)
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    response = post(started, png)
    assert response.status_code == 403
    assert error_code(response) == "upload_expired"
    assert not default_storage.exists(started.file.key)


def test_a_tampered_upload_url_is_refused(alice, png):
    started = start(alice, png)
    url = started.target.url
    token = url.rstrip("/").rsplit("/", 1)[-1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = form_post(Client(), url.replace(token, forged), started.target.fields, png)
    assert response.status_code == 403
    assert error_code(response) == "upload_signature_invalid"


def test_a_second_upload_to_the_same_url_is_refused(alice, png, django_capture_on_commit_callbacks):
    started = start(alice, png)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(started, png).status_code == 204
    response = post(started, png[:-1] + b"!")  # the declared size, other bytes
    assert response.status_code == 409
    assert error_code(response) == "upload_already_used"
    with default_storage.open(started.file.key, "rb") as fh:
        assert fh.read() == png


def test_the_upload_endpoint_needs_no_session_or_csrf_token(alice, png):
    started = start(alice, png)
    client = Client(enforce_csrf_checks=True)
    response = form_post(client, started.target.url, started.target.fields, png)
    assert response.status_code == 204


def test_upload_start_refuses_disallowed_oversize_and_empty_files(alice, settings):
    from apps.files.exceptions import FileEmpty, FileTooLarge, FileTypeNotAllowed

    with pytest.raises(FileTypeNotAllowed):
        file_upload_start(user=alice, name="x.exe", content_type="application/x-msdownload", size=9)
    with pytest.raises(FileEmpty):
        file_upload_start(user=alice, name="x.png", content_type="image/png", size=0)
    with pytest.raises(FileTooLarge):
        file_upload_start(user=alice, name="x.png", content_type="image/png", size=6 * 1024**3)
    assert not File.objects.exists()


def test_abandoned_pending_uploads_are_removed(alice, png):
    from apps.files.services import file_uploads_expire

    started = start(alice, png)
    File.objects.filter(pk=started.file.pk).update(
        upload_expires_at=timezone.now() - timedelta(hours=2)
    )
    fresh = start(alice, png)
    assert file_uploads_expire() == 1
    assert list(File.objects.values_list("pk", flat=True)) == [fresh.file.pk]
