"""The SQS dead-letter queues in the admin (under moto): list, redrive, discard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.urls import reverse
from moto import mock_aws

from apps.events import dlq, registry
from project import aws

pytestmark = pytest.mark.django_db

PREFIX = "https://sqs.us-east-1.amazonaws.com/123456789012/nimbus-dev-"


@pytest.fixture
def queues(settings: Any, isolated_registry: None) -> Iterator[Any]:
    settings.NIMBUS_STAGE = "dev"
    settings.AWS_REGION = "us-east-1"
    settings.NIMBUS_EVENTS_QUEUE_URL_PREFIX = PREFIX
    registry.receiver("shop.OrderPlaced", name="shop.charge", group="shop")(lambda e: None)
    aws.clients_reset()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        for name in ("shop", "shop-dlq", "tasks", "tasks-dlq", "rules-dlq"):
            sqs.create_queue(QueueName=f"nimbus-dev-{name}")
        yield sqs
    aws.clients_reset()


def _dead(sqs: Any, body: str) -> str:
    return sqs.send_message(QueueUrl=f"{PREFIX}shop-dlq", MessageBody=body)["MessageId"]


def _bodies(sqs: Any, queue: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=f"{PREFIX}{queue}", MaxNumberOfMessages=10)
    return sorted(m["Body"] for m in got.get("Messages", []))


@pytest.fixture
def operator(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(email="o@example.com", password="pw-123456x")


def test_admin_lists_dead_messages_per_group(queues: Any, client: Any, operator: Any) -> None:
    _dead(queues, "{not json")
    _dead(queues, json.dumps({"detail-type": "shop.OrderPlaced", "source": "nimbus.shop"}))
    client.force_login(operator)
    page = client.get(reverse("admin:events_sqs_dlq")).content.decode()
    assert "shop: 2 messages" in page
    assert "tasks: 0 messages" in page
    assert "shop.OrderPlaced from nimbus.shop" in page
    assert "not JSON" in page
    assert dlq.dead_letter_counts() == {
        "shop": 2,
        "tasks": 0,
        "rules": 0,
    }  # peeking left them there


def test_redrive_one_and_discard_one(queues: Any, client: Any, operator: Any) -> None:
    first = _dead(queues, "first")
    second = _dead(queues, "second")
    _dead(queues, "third")
    client.force_login(operator)
    url = reverse("admin:events_sqs_dlq")
    client.post(url, {"group": "shop", "message_id": first, "action": "redrive"})
    client.post(url, {"group": "shop", "message_id": second, "action": "discard"})
    assert _bodies(queues, "shop") == ["first"]
    assert _bodies(queues, "shop-dlq") == ["third"]


def test_redrive_all(queues: Any) -> None:
    for n in range(13):
        _dead(queues, f"m{n}")
    assert dlq.dead_letters_redrive(group="shop") == 13
    assert dlq.dead_letter_counts()["shop"] == 0


def test_unknown_group_and_local_setup_are_refused(queues: Any, settings: Any) -> None:
    from project.errors import NotFound

    with pytest.raises(NotFound):
        dlq.dead_letters_redrive(group="nope")
    settings.NIMBUS_EVENTS_QUEUE_URL_PREFIX = ""
    with pytest.raises(dlq.DeadLetterQueuesUnavailableError):
        dlq.dead_letters_peek(group="shop")


def test_page_explains_local_dead_letters(client: Any, operator: Any) -> None:
    client.force_login(operator)
    page = client.get(reverse("admin:events_sqs_dlq")).content.decode()
    assert "exist on AWS only" in page


def test_rules_dlq_redrive_puts_event_back_on_the_bus_with_its_id(
    queues: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """An event EventBridge could not deliver goes back through the bus; receivers that
    already had it recognise its original id."""
    from apps.events.entry import handle_sqs
    from apps.events.models import Inbox

    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.aws.EventBridgeBus",
            "OPTIONS": {"bus_name": "nimbus-dev", "region_name": "us-east-1"},
        }
    }
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="nimbus-dev")
    shop_arn = queues.get_queue_attributes(QueueUrl=f"{PREFIX}shop", AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="nimbus-dev-shop-charge",
        EventBusName="nimbus-dev",
        EventPattern=json.dumps({"detail-type": ["shop.OrderPlaced"]}),
    )
    events.put_targets(
        Rule="nimbus-dev-shop-charge",
        EventBusName="nimbus-dev",
        Targets=[{"Id": "q", "Arn": shop_arn}],
    )
    original = {
        "version": "0",
        "id": "11111111-2222-4333-8444-555555555555",
        "detail-type": "shop.OrderPlaced",
        "source": "nimbus.shop",
        "account": "123456789012",
        "time": "2026-11-27T09:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"order_id": "o-9"},
    }
    queues.send_message(QueueUrl=f"{PREFIX}rules-dlq", MessageBody=json.dumps(original))
    assert dlq.dead_letter_counts()["rules"] == 1
    assert dlq.dead_letters_redrive(group="rules") == 1
    got = queues.receive_message(QueueUrl=f"{PREFIX}shop", MaxNumberOfMessages=10)["Messages"]
    record = {
        "messageId": "m1",
        "body": got[0]["Body"],
        "eventSource": "aws:sqs",
        "eventSourceARN": shop_arn,
    }
    assert handle_sqs({"Records": [record]}, None) == {"batchItemFailures": []}
    assert Inbox.objects.get().event_id == original["id"]


def test_poison_message_reaches_the_dlq_after_max_receives_and_redrives_once_fixed(
    queues: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A record that keeps failing is left on its queue (batchItemFailures); SQS moves it to
    the group's DLQ after maxReceiveCount; once the receiver is fixed, redrive runs it."""
    from apps.events.entry import handle_sqs
    from apps.events.models import Inbox

    dlq_arn = queues.get_queue_attributes(
        QueueUrl=f"{PREFIX}shop-dlq", AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    queues.set_queue_attributes(
        QueueUrl=f"{PREFIX}shop",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        },
    )
    source_arn = dlq_arn.removesuffix("-dlq")
    broken = {"fixed": False}
    registry.receivers.clear()

    @registry.receiver("shop.OrderPlaced", name="shop.charge", group="shop")
    def charge(event: Any) -> None:
        if not broken["fixed"]:
            raise RuntimeError("bug in charge")

    body = json.dumps(
        {
            "version": "0",
            "id": "a1b2c3d4-0000-4000-8000-000000000001",
            "detail-type": "shop.OrderPlaced",
            "source": "nimbus.shop",
            "time": "",
            "detail": {"order_id": "o-1"},
        }
    )
    queues.send_message(QueueUrl=f"{PREFIX}shop", MessageBody=body)

    def receive_and_handle() -> int:
        got = queues.receive_message(
            QueueUrl=f"{PREFIX}shop", MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        records = [
            {
                "messageId": m["MessageId"],
                "body": m["Body"],
                "eventSource": "aws:sqs",
                "eventSourceARN": source_arn,
            }
            for m in got
        ]
        if records:
            result = handle_sqs({"Records": records}, None)
            assert result == {"batchItemFailures": [{"itemIdentifier": got[0]["MessageId"]}]}
        return len(records)

    assert receive_and_handle() == 1
    assert receive_and_handle() == 1
    assert receive_and_handle() == 0  # moved to the DLQ on the third receive
    assert dlq.dead_letter_counts()["shop"] == 1
    assert dlq.dead_letters_peek(group="shop")[0].summary == "shop.OrderPlaced from nimbus.shop"

    broken["fixed"] = True
    assert dlq.dead_letters_redrive(group="shop") == 1
    got = queues.receive_message(QueueUrl=f"{PREFIX}shop", MaxNumberOfMessages=10)["Messages"]
    record = {
        "messageId": got[0]["MessageId"],
        "body": got[0]["Body"],
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
    }
    assert handle_sqs({"Records": [record]}, None) == {"batchItemFailures": []}
    assert Inbox.objects.filter(receiver="shop.charge").count() == 1
