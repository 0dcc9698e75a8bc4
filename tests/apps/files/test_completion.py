"""Completion: S3's ``Object Created`` EventBridge event, through the real Lambda entry."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import boto3
import pytest
import requests

from apps.files.models import File, FileStatus
from apps.files.services import file_upload_complete, file_upload_start
from tests.apps.files.conftest import BUCKET, assert_accepted

pytestmark = pytest.mark.django_db


def object_created_event(aws_event: Any, endpoint: str, key: str) -> dict[str, Any]:
    """The fixture S3 -> EventBridge payload, describing the object moto holds at ``key``."""
    head = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").head_object(
        Bucket=BUCKET, Key=key
    )
    event = copy.deepcopy(aws_event("eventbridge_s3_object_created"))
    event["id"] = str(uuid.uuid4())
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"].update(
        key=key, size=head["ContentLength"], etag=head["ETag"].strip('"')
    )
    return event


def upload_to_s3(user: Any, content: bytes, content_type: str = "image/png") -> File:
    started = file_upload_start(
        user=user, name="x.png", content_type=content_type, size=len(content)
    )
    target = started.target
    response = requests.post(
        target.url, data=target.fields, files={"file": ("x.png", content)}, timeout=10
    )
    assert response.status_code == 204
    return started.file


def test_a_requests_post_to_s3_then_object_created_leads_to_an_accepted_file(
    s3_backend,
    moto_s3,
    alice,
    png,
    aws_event,
    lambda_entry,
    lambda_context,
    django_capture_on_commit_callbacks,
):
    file = upload_to_s3(alice, png)
    event = object_created_event(aws_event, moto_s3, file.key)
    with django_capture_on_commit_callbacks(execute=True):
        result = lambda_entry(event, lambda_context)
    assert result
    assert_accepted(file.pk)
    file.refresh_from_db()
    assert file.size == len(png)
    assert file.detected_type == "image/png"


def test_an_exe_posted_to_s3_as_png_is_rejected(
    s3_backend,
    moto_s3,
    alice,
    exe,
    aws_event,
    lambda_entry,
    lambda_context,
    django_capture_on_commit_callbacks,
):
    file = upload_to_s3(alice, exe)
    with django_capture_on_commit_callbacks(execute=True):
        lambda_entry(object_created_event(aws_event, moto_s3, file.key), lambda_context)
    file.refresh_from_db()
    assert file.status == FileStatus.REJECTED
    assert file.reason_code == "type_mismatch"


def test_an_object_replaced_after_upload_rejects_the_file(
    s3_backend,
    moto_s3,
    alice,
    png,
    aws_event,
    lambda_entry,
    lambda_context,
    django_capture_on_commit_callbacks,
):
    """S3 lets a policy be used twice before it expires; what was inspected must not change."""
    started = file_upload_start(user=alice, name="x.png", content_type="image/png", size=len(png))
    target = started.target
    requests.post(target.url, data=target.fields, files={"file": ("x", png)}, timeout=10)
    with django_capture_on_commit_callbacks(execute=True):
        lambda_entry(object_created_event(aws_event, moto_s3, started.file.key), lambda_context)
    assert_accepted(started.file.pk)
    replaced = png[:-12] + b"\x00" * 12
    requests.post(target.url, data=target.fields, files={"file": ("x", replaced)}, timeout=10)
    with django_capture_on_commit_callbacks(execute=True):
        lambda_entry(object_created_event(aws_event, moto_s3, started.file.key), lambda_context)
    file = File.objects.get(pk=started.file.pk)
    assert file.status == FileStatus.REJECTED
    assert file.reason_code == "upload_replaced"


def test_a_repeated_notification_of_the_same_object_changes_nothing(alice, png):
    started = file_upload_start(user=alice, name="x.png", content_type="image/png", size=len(png))
    first = file_upload_complete(key=started.file.key, size=len(png), etag="abc")
    again = file_upload_complete(key=started.file.key, size=len(png), etag="abc")
    assert first is not None
    assert again is not None
    assert again.status == FileStatus.UPLOADED


def test_an_object_no_file_claims_is_deleted(
    s3_backend, moto_s3, django_capture_on_commit_callbacks
):
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.put_object(Bucket=BUCKET, Key="uploads/9/stray", Body=b"x")
    with django_capture_on_commit_callbacks(execute=True):
        assert file_upload_complete(key="uploads/9/stray", size=1, etag="e") is None
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/9/")
