"""The AWS side under moto: PutEvents batching and partial failures, the SQS Lambda entry,
EventBridge rule -> SQS -> Lambda end to end, schedules, and the SQS Tasks backend."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from apps.events import registry
from apps.events.backends import buses
from apps.events.backends.aws import MAX_REQUEST_BYTES, batches, entry_size
from apps.events.models import Event, Inbox
from apps.events.services import outbox_sweep, publish

pytestmark = pytest.mark.django_db

BUS = "nimbus-dev"


@pytest.fixture
def aws(settings: Any) -> Iterator[None]:
    settings.NIMBUS_STAGE = "dev"
    with mock_aws():
        boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
        yield


@pytest.fixture
def eventbridge_bus(aws: None, settings: Any) -> Any:
    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.aws.EventBridgeBus",
            "OPTIONS": {"bus_name": BUS, "region_name": "us-east-1", "retry_delay": 0.0},
        }
    }
    return buses.default


def _wire(r: registry.Receiver) -> str:
    """What the infra stack creates for a receiver: its group's queue and its rule."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = boto3.client("events", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"nimbus-dev-{registry.aws_name(r.group)}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule = f"nimbus-dev-{r.rule_name_suffix}"
    events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps(r.pattern))
    events.put_targets(Rule=rule, EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def _drain(url: str) -> list[dict[str, Any]]:
    """Receive everything on a queue, as the Lambda event source mapping would."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return records
        for m in got:
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _order(n: int = 1) -> dict[str, Any]:
    return {"order_id": f"o-{n}", "owner_id": "u-1", "total": float(n)}


def test_batches_respect_ten_entries_and_256_kb() -> None:
    small = [(str(i), {"Source": "s", "DetailType": "t", "Detail": "{}"}) for i in range(23)]
    assert [len(b) for b in batches(small)] == [10, 10, 3]
    big_detail = json.dumps({"x": "y" * 100_000})
    big = [(str(i), {"Source": "s", "DetailType": "t", "Detail": big_detail}) for i in range(5)]
    split = list(batches(big))
    assert [len(b) for b in split] == [2, 2, 1]
    assert all(sum(entry_size(e) for _, e in b) <= MAX_REQUEST_BYTES for b in split)


def test_publish_goes_through_eventbridge_rule_sqs_and_lambda_exactly_once(
    order_placed: registry.EventType,
    eventbridge_bus: Any,
    lambda_entry: Any,
    lambda_context: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    seen: list[Any] = []
    registry.receiver("shop.OrderPlaced", name="shop.record", group="shop")(
        lambda e: seen.append(e)
    )
    url = _wire(registry.receivers["shop.record"])
    with django_capture_on_commit_callbacks(execute=True):
        events = [publish("shop.OrderPlaced", _order(n)) for n in range(1, 13)]
    assert set(Event.objects.values_list("state", flat=True)) == {Event.State.PUBLISHED}
    records = _drain(url)
    assert len(records) == 12
    # SQS is at least once: a message delivered twice still runs the receiver once.
    batch = {"Records": [*records[:10], records[0]]}
    assert lambda_entry(batch, lambda_context) == {"batchItemFailures": []}
    assert lambda_entry({"Records": records[10:]}, lambda_context) == {"batchItemFailures": []}
    assert sorted(e.id for e in seen) == sorted(str(e.id) for e in events)
    assert "_nimbus" not in seen[0].detail
    assert Inbox.objects.filter(receiver="shop.record").count() == 12


def test_refused_entries_are_resent_and_never_dropped(
    order_placed: registry.EventType, eventbridge_bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PutEvents answers FailedEntryCount > 0: only the refused entries go again; entries
    refused every time stay pending in the outbox for the sweeper."""
    real = eventbridge_bus.client
    sent: list[list[str]] = []

    class Throttling:
        """EventBridge that refuses chosen entries (moto never does), else moto itself."""

        refuse_always: set[str] = set()
        refuse_once: set[str] = set()

        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            ids = [json.loads(e["Detail"])["_nimbus"]["event_id"] for e in Entries]
            sent.append(ids)
            results = []
            for event_id, entry in zip(ids, Entries, strict=True):
                if event_id in self.refuse_always or event_id in self.refuse_once:
                    self.refuse_once.discard(event_id)
                    results.append(
                        {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
                    )
                else:
                    results.append(real.put_events(Entries=[entry])["Entries"][0])
            failed = sum(1 for r in results if "ErrorCode" in r)
            return {"FailedEntryCount": failed, "Entries": results}

    fake = Throttling()
    monkeypatch.setattr(eventbridge_bus, "aws_client", lambda service, **config: fake)
    events = [publish("shop.OrderPlaced", _order(n)) for n in range(1, 6)]
    ids = [str(e.id) for e in events]
    fake.refuse_once = {ids[1]}
    fake.refuse_always = {ids[3]}
    accepted = eventbridge_bus.send(events)
    assert sorted(accepted) == sorted([ids[0], ids[1], ids[2], ids[4]])
    assert sent[0] == ids
    assert sent[1] == [ids[1], ids[3]]  # exactly the refused entries, resent
    assert all(batch == [ids[3]] for batch in sent[2:])
    # Through the outbox: the refused event stays pending, then the sweeper delivers it.
    from apps.events.services import outbox_flush

    outbox_flush(event_ids=[e.id for e in events])
    states = dict(Event.objects.values_list("id", "state"))
    assert states[events[3].id] == Event.State.PENDING
    assert sum(1 for s in states.values() if s == Event.State.PUBLISHED) == 4
    fake.refuse_always = set()
    Event.objects.filter(pk=events[3].pk).update(time=events[3].time.replace(year=2020))
    assert outbox_sweep() == 1
    assert Event.objects.get(pk=events[3].pk).state == Event.State.PUBLISHED


def test_poison_message_in_a_batch_of_ten_fails_alone(
    order_placed: registry.EventType,
    aws: None,
    lambda_entry: Any,
    lambda_context: Any,
    aws_event: Any,
    caplog: Any,
) -> None:
    ran: list[str] = []

    @registry.receiver("shop.OrderPlaced", name="shop.record", group="shop")
    def record(event: Any) -> None:
        if event.detail["order_id"] == "boom":
            raise RuntimeError("receiver bug")
        ran.append(event.detail["order_id"])

    template = aws_event("sqs_batch")["Records"][0]
    records = []
    for n in range(10):
        r = copy.deepcopy(template)
        r["messageId"] = f"m-{n}"
        r["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:nimbus-dev-shop"
        body = json.loads(r["body"])
        body.update(
            id=f"00000000-0000-4000-8000-00000000000{n}", **{"detail-type": "shop.OrderPlaced"}
        )
        body["source"] = "nimbus.shop"
        body["detail"] = _order(n)
        r["body"] = json.dumps(body)
        records.append(r)
    records[3]["body"] = "{not json"
    records[6]["body"] = json.dumps({"hello": "world"})
    body = json.loads(records[8]["body"])
    body["detail"]["order_id"] = "boom"
    records[8]["body"] = json.dumps(body)
    result = lambda_entry({"Records": records}, lambda_context)
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m-3"},
            {"itemIdentifier": "m-6"},
            {"itemIdentifier": "m-8"},
        ]
    }
    assert sorted(ran) == sorted(f"o-{n}" for n in (0, 1, 2, 4, 5, 7, 9))
    assert "not JSON" in caplog.text
    assert "lacks id, detail-type, source, detail" in caplog.text


def test_sqs_record_from_fixture_runs_files_group_receiver(
    aws: None, lambda_entry: Any, lambda_context: Any, aws_event: Any, isolated_registry: None
) -> None:
    got: list[Any] = []
    registry.receiver("files.FileUploaded", name="files.inspect", group="files")(
        lambda e: got.append(e)
    )
    registry.receiver("files.FileUploaded", name="push.tell", group="push")(
        lambda e: pytest.fail("another group's receiver ran")
    )
    result = lambda_entry(aws_event("sqs_batch"), lambda_context)
    assert result == {"batchItemFailures": []}
    assert got[0].detail == {"file_id": "3f1c2d4e-0000-4000-8000-000000000001"}
    assert got[0].id == "6a7e8feb-b491-4cf7-a9f1-bf3703467718"


def test_direct_eventbridge_invocation_runs_matching_receivers(
    lambda_entry: Any, lambda_context: Any, aws_event: Any, isolated_registry: None
) -> None:
    got: list[Any] = []
    registry.receiver({"source": ["aws.s3"], "detail-type": ["Object Created"]}, name="files.s3")(
        lambda e: got.append(e)
    )
    event = aws_event("eventbridge_s3_object_created")
    assert lambda_entry(event, lambda_context) == {"event_id": event["id"], "status": "ok"}
    assert lambda_entry(event, lambda_context)["status"] == "ok"  # retried: runs once
    assert len(got) == 1
    assert got[0].detail["bucket"]["name"] == "nimbus-dev-uploads"


def test_schedule_rule_runs_its_job(
    lambda_entry: Any, lambda_context: Any, aws_event: Any, settings: Any
) -> None:
    settings.NIMBUS_STAGE = "dev"
    assert lambda_entry(aws_event("eventbridge_scheduled"), lambda_context) == {
        "job": "events.sweep-outbox"
    }
    unknown = aws_event("eventbridge_scheduled")
    unknown["resources"] = ["arn:aws:events:us-east-1:123456789012:rule/nimbus-dev-nope"]
    with pytest.raises(Exception, match="No scheduled job"):
        lambda_entry(unknown, lambda_context)


def test_tasks_go_through_sqs_and_run_from_the_lambda_entry(
    aws: None, settings: Any, lambda_entry: Any, lambda_context: Any
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="nimbus-dev-tasks")["QueueUrl"]
    settings.TASKS = {
        "default": {
            "BACKEND": "apps.events.backends.tasks_sqs.SQSTaskBackend",
            "QUEUES": ["default", "events", "workflows"],
            "OPTIONS": {"queue_url": url, "region_name": "us-east-1"},
        }
    }
    from tests.apps.events import sample_tasks

    sample_tasks.CALLS.clear()
    result = sample_tasks.remember.enqueue("hello", times=2)
    assert result.status == "READY"
    flaky = sample_tasks.flaky.enqueue()
    records = _drain(url)
    assert len(records) == 2
    assert lambda_entry({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert sample_tasks.CALLS == ["hello", "hello", "flaky-1"]
    # the failed flaky attempt re-enqueued itself (project.tasks retry) rather than failing
    retry = _drain(url)
    assert len(retry) == 1
    assert json.loads(retry[0]["body"])["nimbus_task"]["kwargs"] == {"_nimbus_attempt": 2}
    assert flaky.id
    # a task whose retries are exhausted is reported, so SQS takes it to the DLQ
    settings.NIMBUS_TASK_RETRY = {"max_attempts": 2, "base_delay": 0.0, "max_delay": 0.0}
    assert lambda_entry({"Records": retry}, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": retry[0]["messageId"]}]
    }


def test_direct_event_that_is_malformed_or_unhandled_raises_for_lambda_to_retry(
    lambda_entry: Any, lambda_context: Any, aws_event: Any, isolated_registry: None
) -> None:
    from apps.events.exceptions import MalformedEventError

    event = aws_event("eventbridge_custom")
    with pytest.raises(MalformedEventError, match="No receiver matches"):
        lambda_entry(event, lambda_context)
    event["detail"] = "not an object"
    with pytest.raises(MalformedEventError, match="detail must be a JSON object"):
        lambda_entry(event, lambda_context)
