"""One contract for every event bus, subclassed per backend (the AWS one under moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from moto import mock_aws

from apps.events import registry
from apps.events.backends import buses
from apps.events.backends.aws import EventBridgeBus
from apps.events.backends.dummy import DummyBus
from apps.events.backends.local import LocalBus
from apps.events.envelope import EventEnvelope
from apps.events.inbound import event_dispatch
from apps.events.models import Event
from apps.events.services import publish

pytestmark = pytest.mark.django_db


class EventBusContract:
    backend_path: str
    options: dict[str, Any] = {}

    @pytest.fixture
    def bus(self, settings: Any, order_placed: registry.EventType) -> Any:
        settings.NIMBUS_EVENTS = {
            "default": {"BACKEND": self.backend_path, "OPTIONS": dict(self.options)}
        }
        return buses.default

    @pytest.fixture
    def effects(self, bus: Any) -> list[str]:
        seen: list[str] = []
        registry.receiver("shop.OrderPlaced", name="shop.record", group="shop")(
            lambda e: seen.append(e.id)
        )
        self.wire(bus)
        return seen

    def wire(self, bus: Any) -> None:
        """Create whatever carries events to the receiver (AWS: rule and queue)."""

    def deliver(self, bus: Any, capture: Any) -> None:
        """Run what the bus has queued for receivers."""
        raise NotImplementedError

    def _events(self, n: int) -> list[Event]:
        return [
            publish("shop.OrderPlaced", {"order_id": f"o-{i}", "owner_id": "u", "total": i})
            for i in range(n)
        ]

    def test_unknown_option_is_refused(self, bus: Any) -> None:
        with pytest.raises(ImproperlyConfigured, match="unknown OPTIONS nope"):
            type(bus)("default", nope=1)

    def test_sending_nothing_accepts_nothing(self, bus: Any) -> None:
        assert bus.send([]) == []

    def test_every_event_is_accepted_and_reaches_the_receiver_once(
        self, bus: Any, effects: list[str], django_capture_on_commit_callbacks: Any
    ) -> None:
        events = self._events(12)
        with django_capture_on_commit_callbacks(execute=True):
            assert sorted(bus.send(events)) == sorted(str(e.id) for e in events)
            # resending (the sweeper after a lost acknowledgement) must not double effects
            assert len(bus.send(events[:3])) == 3
        self.deliver(bus, django_capture_on_commit_callbacks)
        assert sorted(effects) == sorted(str(e.id) for e in events)


class TestLocalBus(EventBusContract):
    backend_path = "apps.events.backends.local.LocalBus"
    options = {"base_delay": 0.0, "max_delay": 0.0}

    def deliver(self, bus: Any, capture: Any) -> None:
        """The deliveries ran at commit (the immediate task backend)."""

    def test_is_local(self, bus: Any) -> None:
        assert isinstance(bus, LocalBus)
        assert bus.is_local


class TestDummyBus(EventBusContract):
    backend_path = "apps.events.backends.dummy.DummyBus"

    def deliver(self, bus: Any, capture: Any) -> None:
        for sent in bus.sent:
            event_dispatch(envelope=EventEnvelope.from_eventbridge(sent), group=None)

    def test_records_what_was_sent(self, bus: Any) -> None:
        assert isinstance(bus, DummyBus)
        events = self._events(2)
        bus.send(events)
        assert [s["id"] for s in bus.sent] == [str(e.id) for e in events]
        assert bus.sent[0]["detail-type"] == "shop.OrderPlaced"


class TestEventBridgeBus(EventBusContract):
    backend_path = "apps.events.backends.aws.EventBridgeBus"
    options = {"bus_name": "nimbus-dev", "region_name": "us-east-1", "retry_delay": 0.0}

    @pytest.fixture(autouse=True)
    def aws(self, settings: Any) -> Iterator[None]:
        settings.NIMBUS_STAGE = "dev"
        with mock_aws():
            boto3.client("events", region_name="us-east-1").create_event_bus(Name="nimbus-dev")
            yield

    def wire(self, bus: Any) -> None:
        sqs = boto3.client("sqs", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        self.url = sqs.create_queue(QueueName="nimbus-dev-shop")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        r = registry.receivers["shop.record"]
        events.put_rule(
            Name=f"nimbus-dev-{r.rule_name_suffix}",
            EventBusName="nimbus-dev",
            EventPattern=json.dumps(r.pattern),
        )
        events.put_targets(
            Rule=f"nimbus-dev-{r.rule_name_suffix}",
            EventBusName="nimbus-dev",
            Targets=[{"Id": "q", "Arn": arn}],
        )

    def deliver(self, bus: Any, capture: Any) -> None:
        from apps.events.entry import handle_sqs

        sqs = boto3.client("sqs", region_name="us-east-1")
        while messages := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            records = [
                {
                    "messageId": m["MessageId"],
                    "body": m["Body"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:nimbus-dev-shop",
                }
                for m in messages
            ]
            assert handle_sqs({"Records": records}, None) == {"batchItemFailures": []}
            for m in messages:
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def test_is_not_local(self, bus: Any) -> None:
        assert isinstance(bus, EventBridgeBus)
        assert not bus.is_local
        assert bus.check() == []
        assert [m.id for m in EventBridgeBus("default", bus_name="").check()] == ["events.E010"]
