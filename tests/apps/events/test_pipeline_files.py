"""Done-when of the events app, on AWS: upload -> S3 Object Created -> files.FileUploaded ->
inspection -> files.FileAccepted, every hop through EventBridge rules, SQS queues and the
Lambda entry (moto server), with the real receivers of every app."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest

from apps.events.models import Event, Inbox
from tests.apps.events.aws_pipeline import AwsEventsPipeline
from tests.apps.files.conftest import (  # noqa: F401  (fixtures)
    BUCKET,
    alice,
    assert_accepted,
    media_root,
    moto_s3,
    png,
    s3_backend,
)
from tests.apps.files.test_completion import upload_to_s3

pytestmark = pytest.mark.django_db


def test_upload_is_inspected_through_eventbridge_sqs_and_lambda(
    s3_backend: Any,  # noqa: F811
    moto_s3: str,  # noqa: F811
    alice: Any,  # noqa: F811
    png: bytes,  # noqa: F811
    media_root: Any,  # noqa: F811
    aws_event: Any,
    lambda_entry: Any,
    lambda_context: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.NIMBUS_STAGE = "dev"
    pipeline = AwsEventsPipeline(endpoint_url=moto_s3).wire()
    settings.NIMBUS_EVENTS = pipeline.bus_settings()

    file = upload_to_s3(alice, png)
    head = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1").head_object(
        Bucket=BUCKET, Key=file.key
    )
    s3_event = copy.deepcopy(aws_event("eventbridge_s3_object_created"))
    s3_event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    s3_event["detail"]["bucket"]["name"] = BUCKET
    s3_event["detail"]["object"].update(
        key=file.key, size=head["ContentLength"], etag=head["ETag"].strip('"')
    )
    pipeline.put_service_event(s3_event)

    def invoke(batch: dict[str, Any]) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            return lambda_entry(batch, lambda_context)  # type: ignore[no-any-return]

    assert pipeline.pump(invoke) == []
    assert_accepted(file.pk)
    uploaded = Event.objects.get(detail_type="files.FileUploaded", detail__file_id=str(file.pk))
    assert uploaded.state == Event.State.PUBLISHED  # went out through PutEvents
    assert Inbox.objects.filter(event_id=str(uploaded.pk), receiver="files.inspect").exists()
    assert Inbox.objects.filter(receiver="files.object_created").count() == 1
