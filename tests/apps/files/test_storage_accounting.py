"""Storage is never a place to hide bytes: what is stored is what is declared and counted.

A rejected upload's object and parts are deleted (locally and on S3), a multipart total
is checked against the declaration before anything is assembled, part URLs die with
their upload, orphaned parts are swept, and the quota counts every byte held —
pending uploads included, reserved atomically when an upload starts.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests
from django.core.files.storage import default_storage
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from apps.files.backends.base import GB, MB
from apps.files.exceptions import QuotaExceeded
from apps.files.handlers import files_expire_abandoned_uploads
from apps.files.models import File, FileStatus
from apps.files.services import (
    file_delete,
    file_fail,
    file_multipart_abort,
    file_upload_complete,
    file_upload_start,
)
from tests.apps.files.conftest import BUCKET, s3_settings, upload_options
from tests.apps.files.test_completion import object_created_event

pytestmark = pytest.mark.django_db

PART = 5 * MB


@pytest.fixture
def small_threshold(settings: Any) -> None:
    upload_options(settings, multipart_threshold=6 * MB, part_size=PART)


def start_api(client: Client, size: int, content_type: str = "text/plain") -> dict[str, Any]:
    response = client.post(
        "/api/files/uploads",
        {"name": "big.txt", "content_type": content_type, "size": size},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def put_local(url: str, body: bytes) -> Any:
    return Client().put(url, body, content_type="application/octet-stream")


def complete(client: Client, file_id: str, parts: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/api/files/{file_id}/complete", {"parts": parts}, content_type="application/json"
    )


def local_part_dirs() -> list[str]:
    if not default_storage.exists("multipart"):
        return []
    return default_storage.listdir("multipart")[0]


# ---- a rejected upload's bytes are deleted -----------------------------------------------


def test_an_object_larger_than_declared_on_s3_is_rejected_and_deleted(
    s3_backend, moto_s3, alice, aws_event, lambda_entry, lambda_context,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    started = file_upload_start(user=alice, name="x.txt", content_type="text/plain", size=1)
    # moto does not enforce content-length-range; S3 would refuse this POST outright.
    hidden = b"x" * (2 * MB)
    target = started.target
    posted = requests.post(
        target.url, data=target.fields, files={"file": ("x", hidden)}, timeout=30
    )
    assert posted.status_code == 204
    event = object_created_event(aws_event, moto_s3, started.file.key)
    with django_capture_on_commit_callbacks(execute=True):
        lambda_entry(event, lambda_context)
    file = File.objects.get(pk=started.file.pk)
    assert (file.status, file.reason_code) == (FileStatus.REJECTED, "size_mismatch")
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")


def test_an_object_of_another_size_is_rejected_without_being_inspected(
    alice, django_capture_on_commit_callbacks
):
    from apps.events.models import Event

    started = file_upload_start(user=alice, name="x.txt", content_type="text/plain", size=1)
    default_storage.save(started.file.key, __import__("io").BytesIO(b"x" * 5000))
    with django_capture_on_commit_callbacks(execute=True):
        file = file_upload_complete(key=started.file.key, size=5000, etag="e")
    assert file is not None
    assert (file.status, file.reason_code) == (FileStatus.REJECTED, "size_mismatch")
    assert not default_storage.exists(file.key)
    assert not Event.objects.filter(detail_type="files.FileUploaded").exists()


def test_an_object_stored_again_for_a_rejected_file_is_deleted(
    s3_backend, moto_s3, alice, exe, aws_event, lambda_entry, lambda_context,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """An S3 POST policy can be used again until it expires: the second object goes too."""
    started = file_upload_start(user=alice, name="a.png", content_type="image/png", size=len(exe))
    target = started.target
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    for _ in range(2):
        requests.post(target.url, data=target.fields, files={"file": ("a", exe)}, timeout=10)
        event = object_created_event(aws_event, moto_s3, started.file.key)
        with django_capture_on_commit_callbacks(execute=True):
            lambda_entry(event, lambda_context)
        assert File.objects.get(pk=started.file.pk).status == FileStatus.REJECTED
        assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")


# ---- multipart totals ------------------------------------------------------------------


def unsized_part_url(file_id: str, part_number: int) -> str:
    """A part URL without a signed size, as a client could hold from before sizes were."""
    from apps.files.backends import get_upload_backend

    file = File.objects.get(pk=file_id)
    return get_upload_backend().multipart_part_url(
        key=file.key,
        upload_id=file.multipart_upload_id,
        part_number=part_number,
        expires_at=file.upload_expires_at,
    )


def test_each_part_url_takes_exactly_its_planned_slice(small_threshold, alice_client):
    declared = 6 * MB
    body = start_api(alice_client, declared)
    first, last = body["multipart"]["parts"]
    for url, planned in ((first["url"], PART), (last["url"], declared - PART)):
        for wrong in (planned + 1, planned - 1):
            response = put_local(url, b"a" * wrong)
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "upload_size_mismatch"
        assert put_local(url, b"a" * planned).status_code == 200


def test_s3_part_urls_sign_the_planned_content_length(settings, moto_s3, s3_backend, alice_client):
    from urllib.parse import parse_qs, urlparse

    s3_settings(settings, moto_s3, multipart_threshold=6 * MB, part_size=PART)
    body = start_api(alice_client, 6 * MB)
    for part in body["multipart"]["parts"]:
        query = parse_qs(urlparse(part["url"]).query)
        # S3 refuses a PUT whose Content-Length differs from the signed one (moto does not).
        assert query["X-Amz-SignedHeaders"] == ["content-length;host"]


def test_multipart_parts_holding_more_than_declared_are_refused_and_discarded(
    small_threshold, alice_client, django_capture_on_commit_callbacks
):
    declared = 6 * MB
    body = start_api(alice_client, declared)
    parts = []
    for n in (1, 2):
        # The last part is sent far larger than the plan asked for.
        response = put_local(
            unsized_part_url(body["file_id"], n), b"a" * (PART if n == 1 else 4 * MB)
        )
        assert response.status_code == 200
        parts.append({"part_number": n, "etag": response["ETag"].strip('"')})
    with django_capture_on_commit_callbacks(execute=True):
        response = complete(alice_client, body["file_id"], parts)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload_size_mismatch"
    assert response.json()["error"]["detail"] == {"declared_size": declared, "size": 9 * MB}
    file = File.objects.get(pk=body["file_id"])
    assert (file.status, file.reason_code) == (FileStatus.REJECTED, "size_mismatch")
    assert not default_storage.exists(file.key)
    assert local_part_dirs() == []


def test_multipart_parts_holding_fewer_bytes_than_declared_are_refused_and_stay_open(
    small_threshold, alice_client
):
    body = start_api(alice_client, 6 * MB)
    response = put_local(body["multipart"]["parts"][0]["url"], b"a" * PART)
    short = put_local(unsized_part_url(body["file_id"], 2), b"b" * 10)
    parts = [
        {"part_number": 1, "etag": response["ETag"].strip('"')},
        {"part_number": 2, "etag": short["ETag"].strip('"')},
    ]
    refused = complete(alice_client, body["file_id"], parts)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "upload_size_mismatch"
    file = File.objects.get(pk=body["file_id"])
    assert file.status == FileStatus.PENDING
    assert not default_storage.exists(file.key)


def test_multipart_excess_on_s3_is_refused_before_completion_and_aborted(
    settings, moto_s3, s3_backend, alice_client, django_capture_on_commit_callbacks
):
    s3_settings(settings, moto_s3, multipart_threshold=6 * MB, part_size=PART)
    body = start_api(alice_client, 6 * MB)
    parts = []
    for n, part in enumerate(body["multipart"]["parts"], start=1):
        response = requests.put(part["url"], data=b"z" * PART, timeout=30)
        parts.append({"part_number": n, "etag": response.headers["ETag"].strip('"')})
    with django_capture_on_commit_callbacks(execute=True):
        response = complete(alice_client, body["file_id"], parts)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload_size_mismatch"
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")
    assert File.objects.get(pk=body["file_id"]).status == FileStatus.REJECTED


# ---- part URLs die with their upload ------------------------------------------------------


def test_a_part_url_refuses_writes_once_its_upload_is_completed(
    small_threshold, alice_client, django_capture_on_commit_callbacks
):
    content = b"q" * (6 * MB)
    body = start_api(alice_client, len(content))
    urls = [p["url"] for p in body["multipart"]["parts"]]
    parts = []
    for n, url in enumerate(urls, start=1):
        response = put_local(url, content[(n - 1) * PART : n * PART])
        parts.append({"part_number": n, "etag": response["ETag"].strip('"')})
    with django_capture_on_commit_callbacks(execute=True):
        assert complete(alice_client, body["file_id"], parts).status_code == 202
    late = put_local(urls[0], b"x" * (20 * MB))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "upload_closed"
    assert local_part_dirs() == []


def test_a_part_url_refuses_writes_once_its_upload_is_aborted(small_threshold, alice_client):
    body = start_api(alice_client, 6 * MB)
    url = body["multipart"]["parts"][0]["url"]
    assert put_local(url, b"a" * PART).status_code == 200
    assert alice_client.post(f"/api/files/{body['file_id']}/abort").status_code == 204
    late = put_local(url, b"a" * PART)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "upload_closed"
    assert local_part_dirs() == []


def test_a_part_that_lands_after_its_upload_closed_removes_itself(
    small_threshold, alice_client, monkeypatch
):
    """A part write that raced with an abort (open when it began) leaves nothing behind."""
    from apps.files import upload_views

    body = start_api(alice_client, 6 * MB)
    url = body["multipart"]["parts"][0]["url"]
    real_save = default_storage.save

    def save_then_abort(name: str, content: Any, *args: Any, **kwargs: Any) -> str:
        saved = real_save(name, content, *args, **kwargs)
        if name.endswith("/00001"):
            file_multipart_abort(user=File.objects.get().owner, file_id=body["file_id"])
        return saved

    monkeypatch.setattr(upload_views.default_storage, "save", save_then_abort)
    response = put_local(url, b"a" * PART)
    assert response.status_code == 409
    assert local_part_dirs() == []


def test_orphaned_local_parts_are_swept_by_the_cleanup_job(
    small_threshold, alice_client, django_capture_on_commit_callbacks
):
    from apps.files.backends.local import LocalUploadBackend

    backend = LocalUploadBackend()
    live = start_api(alice_client, 6 * MB)
    put_local(live["multipart"]["parts"][1]["url"], b"l" * MB)
    # An upload started long ago whose record is gone, and a closed one whose part stayed.
    ancient = backend.multipart_start(key="uploads/1/ancient", content_type="text/plain")
    ancient_id = backend._local_id("uploads/1/ancient", ancient)
    marker = default_storage.path(f"multipart/{ancient_id}/open")
    old = time.time() - 8 * 3600
    os.utime(marker, (old, old))
    default_storage.save("multipart/closed/00001", __import__("io").BytesIO(b"left"))
    with django_capture_on_commit_callbacks(execute=True):
        files_expire_abandoned_uploads()
    assert sorted(local_part_dirs()) == [
        backend._local_id(
            File.objects.get(pk=live["file_id"]).key,
            File.objects.get(pk=live["file_id"]).multipart_upload_id,
        )
    ]


def test_orphaned_s3_multipart_uploads_are_swept(settings, moto_s3, s3_backend):
    from datetime import UTC, datetime

    from apps.files.backends import get_upload_backend

    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    client.create_multipart_upload(Bucket=BUCKET, Key="uploads/1/orphan")
    client.create_multipart_upload(Bucket=BUCKET, Key="elsewhere/not-ours")
    backend = get_upload_backend()
    # moto dates every upload 2010-11-10 (ListMultipartUploads' sample): only the cutoff
    # on either side of that date can be shown here.
    assert backend.multipart_sweep(started_before=datetime(2010, 1, 1, tzinfo=UTC)) == 0
    assert backend.multipart_sweep(started_before=timezone.now()) == 1
    remaining = [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert remaining == ["elsewhere/not-ours"]


# ---- the quota counts bytes held ------------------------------------------------------------


def quota_start(user: Any, size: int) -> Any:
    return file_upload_start(user=user, name="q.txt", content_type="text/plain", size=size)


def test_pending_and_failed_files_count_and_every_ending_releases_the_reservation(
    settings, alice, django_capture_on_commit_callbacks
):
    upload_options(settings, quota_bytes=100)
    first = quota_start(alice, 100)
    with pytest.raises(QuotaExceeded):
        quota_start(alice, 1)
    # Rejected: the reservation ends with the bytes.
    with django_capture_on_commit_callbacks(execute=True):
        file_upload_complete(key=first.file.key, size=5, etag="e")
    second = quota_start(alice, 100)
    # Deleted by its owner.
    with django_capture_on_commit_callbacks(execute=True):
        file_delete(user=alice, file_id=second.file.pk)
    third = quota_start(alice, 100)
    # Expired.
    File.objects.filter(pk=third.file.pk).update(
        upload_expires_at=timezone.now() - timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        files_expire_abandoned_uploads()
    fourth = quota_start(alice, 100)
    # A failed review keeps its object: it still counts.
    File.objects.filter(pk=fourth.file.pk).update(status=FileStatus.UPLOADED, size=100)
    file_fail(file_id=fourth.file.pk, reason="boom")
    with pytest.raises(QuotaExceeded):
        quota_start(alice, 1)


def test_an_aborted_multipart_upload_releases_its_reservation(small_threshold, settings, alice):
    upload_options(settings, quota_bytes=6 * MB)
    started = quota_start(alice, 6 * MB)
    with pytest.raises(QuotaExceeded):
        quota_start(alice, 1)
    file_multipart_abort(user=alice, file_id=started.file.pk)
    quota_start(alice, 6 * MB)


def test_a_multipart_start_the_storage_refuses_releases_its_reservation(
    small_threshold, settings, alice, monkeypatch
):
    from apps.files.backends import get_upload_backend

    upload_options(settings, quota_bytes=6 * MB)
    backend = get_upload_backend()

    def refuse(**kwargs: Any) -> str:
        raise ConnectionError("storage unavailable")

    monkeypatch.setattr(backend, "multipart_start", refuse)
    with pytest.raises(ConnectionError):
        quota_start(alice, 6 * MB)
    assert not File.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_upload_starts_never_exceed_the_quota(settings, django_user_model):
    """Ten 2 GiB starts at once against a 10 GiB quota: at most five get through."""
    upload_options(settings, quota_bytes=10 * GB)
    owner = django_user_model.objects.create_user("racer@example.com", "pw-racer-123456")
    gate = threading.Barrier(10)
    accepted: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            gate.wait(timeout=10)
            accepted.append(str(quota_start(owner, 2 * GB).file.pk))
        except QuotaExceeded:
            refused.append("quota")
        except OperationalError as exc:
            # SQLite's shared-cache test database refuses a second writer outright
            # ("table is locked") instead of waiting: that start is refused, not let in.
            if connection.vendor == "sqlite" and "locked" in str(exc):
                refused.append("locked")
            else:
                errors.append(exc)
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(accepted) + len(refused) == 10
    held = sorted(str(pk) for pk in File.objects.filter(owner=owner).values_list("pk", flat=True))
    assert held == sorted(accepted), (held, accepted, refused)
    assert len(accepted) <= 5
    if connection.vendor == "postgresql":
        # Row-locked starts wait for each other: exactly the quota's worth gets through.
        assert len(accepted) == 5
        assert refused == ["quota"] * 5
