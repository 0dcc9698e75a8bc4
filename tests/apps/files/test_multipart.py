"""Large files: a multipart plan, resumable, completed or aborted through the API."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests
from django.core.files.storage import default_storage
from django.test import Client

from apps.files.backends.base import MB
from apps.files.models import File, FileStatus
from tests.apps.files.conftest import assert_accepted, s3_settings, upload_options

pytestmark = pytest.mark.django_db

CONTENT = ("line of text\n" * (6 * MB // 13 + 1)).encode()


@pytest.fixture
def small_threshold(settings):
    upload_options(settings, multipart_threshold=6 * MB, part_size=5 * MB)


def start(client: Client, size: int = len(CONTENT)) -> dict[str, Any]:
    response = client.post(
        "/api/files/uploads",
        {"name": "big.txt", "content_type": "text/plain", "size": size},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def put_local(url: str, body: bytes) -> str:
    response = Client().put(url, body, content_type="application/octet-stream")
    assert response.status_code == 200, response.content
    return response["ETag"].strip('"')


def part_bytes(number: int, part_size: int) -> bytes:
    return CONTENT[(number - 1) * part_size : number * part_size]


def test_a_large_file_gets_a_multipart_plan(small_threshold, alice_client):
    body = start(alice_client)
    assert "url" not in body or body["url"] is None
    plan = body["multipart"]
    assert plan["part_size"] == 5 * MB
    assert [p["part_number"] for p in plan["parts"]] == [1, 2]
    assert body["max_bytes"] == len(CONTENT)
    assert File.objects.get(pk=body["file_id"]).multipart_upload_id


def test_a_dropped_upload_resumes_with_only_the_missing_parts_and_completes(
    small_threshold, alice_client, django_capture_on_commit_callbacks
):
    body = start(alice_client)
    plan = body["multipart"]
    etag1 = put_local(plan["parts"][0]["url"], part_bytes(1, plan["part_size"]))
    # The connection dropped: ask what arrived.
    resumed = alice_client.get(f"/api/files/{body['file_id']}/parts").json()
    assert resumed["uploaded"] == [{"part_number": 1, "etag": etag1, "size": plan["part_size"]}]
    assert [p["part_number"] for p in resumed["multipart"]["parts"]] == [2]
    etag2 = put_local(resumed["multipart"]["parts"][0]["url"], part_bytes(2, plan["part_size"]))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/api/files/{body['file_id']}/complete",
            {"parts": [{"part_number": 1, "etag": etag1}, {"part_number": 2, "etag": etag2}]},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    assert_accepted(body["file_id"])
    file = File.objects.get(pk=body["file_id"])
    assert file.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert file.multipart_upload_id == ""
    with default_storage.open(file.key, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == file.sha256


def test_completing_with_a_missing_part_is_refused_and_leaves_the_file_pending(
    small_threshold, alice_client
):
    body = start(alice_client)
    plan = body["multipart"]
    etag1 = put_local(plan["parts"][0]["url"], part_bytes(1, plan["part_size"]))
    response = alice_client.post(
        f"/api/files/{body['file_id']}/complete",
        {"parts": [{"part_number": 1, "etag": etag1}, {"part_number": 2, "etag": "0" * 32}]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload_part_invalid"
    file = File.objects.get(pk=body["file_id"])
    assert file.status == FileStatus.PENDING
    assert not default_storage.exists(file.key)


def test_abort_discards_the_parts_and_the_record(small_threshold, alice_client):
    body = start(alice_client)
    plan = body["multipart"]
    put_local(plan["parts"][0]["url"], part_bytes(1, plan["part_size"]))
    response = alice_client.post(f"/api/files/{body['file_id']}/abort")
    assert response.status_code == 204
    assert not File.objects.filter(pk=body["file_id"]).exists()
    assert not default_storage.exists("multipart") or default_storage.listdir("multipart") == (
        [],
        [],
    )


def test_a_completed_upload_cannot_be_completed_or_aborted_again(
    small_threshold, alice_client, django_capture_on_commit_callbacks
):
    body = start(alice_client)
    plan = body["multipart"]
    parts = [
        {"part_number": n, "etag": put_local(p["url"], part_bytes(n, plan["part_size"]))}
        for n, p in enumerate(plan["parts"], start=1)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            f"/api/files/{body['file_id']}/complete",
            {"parts": parts},
            content_type="application/json",
        )
    again = alice_client.post(
        f"/api/files/{body['file_id']}/complete", {"parts": parts}, content_type="application/json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "file_state_conflict"
    assert alice_client.post(f"/api/files/{body['file_id']}/abort").status_code == 409


def test_multipart_on_s3_completes_and_the_object_event_leads_to_acceptance(
    settings,
    moto_s3,
    s3_backend,
    alice_client,
    aws_event,
    lambda_entry,
    lambda_context,
    django_capture_on_commit_callbacks,
):
    from tests.apps.files.test_completion import object_created_event

    s3_settings(settings, moto_s3, multipart_threshold=6 * MB, part_size=5 * MB)
    body = start(alice_client)
    plan = body["multipart"]
    parts = []
    for n, part in enumerate(plan["parts"], start=1):
        response = requests.put(part["url"], data=part_bytes(n, plan["part_size"]), timeout=30)
        assert response.status_code == 200
        parts.append({"part_number": n, "etag": response.headers["ETag"].strip('"')})
    resumed = alice_client.get(f"/api/files/{body['file_id']}/parts").json()
    assert [p["part_number"] for p in resumed["uploaded"]] == [1, 2]
    assert resumed["multipart"]["parts"] == []
    response = alice_client.post(
        f"/api/files/{body['file_id']}/complete", {"parts": parts}, content_type="application/json"
    )
    assert response.status_code == 202
    file = File.objects.get(pk=body["file_id"])
    event = object_created_event(aws_event, moto_s3, file.key)
    event["detail"]["reason"] = "CompleteMultipartUpload"
    with django_capture_on_commit_callbacks(execute=True):
        lambda_entry(event, lambda_context)
    assert_accepted(file.pk)
    assert File.objects.get(pk=file.pk).sha256 == hashlib.sha256(CONTENT).hexdigest()


def test_abandoned_multipart_uploads_on_s3_are_aborted_by_the_cleanup_job(
    settings, moto_s3, s3_backend, alice_client, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import boto3
    from django.utils import timezone

    from apps.files.handlers import files_expire_abandoned_uploads
    from tests.apps.files.conftest import BUCKET

    s3_settings(settings, moto_s3, multipart_threshold=6 * MB, part_size=5 * MB)
    body = start(alice_client)
    requests.put(body["multipart"]["parts"][0]["url"], data=part_bytes(1, 5 * MB), timeout=30)
    File.objects.filter(pk=body["file_id"]).update(
        upload_expires_at=timezone.now() - timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        files_expire_abandoned_uploads()
    assert not File.objects.filter(pk=body["file_id"]).exists()
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
