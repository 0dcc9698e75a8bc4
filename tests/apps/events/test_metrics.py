"""EventsProcessed / EventsFailed are recorded once per receiver run, on AWS and locally.

Both buses run receivers through ``receiver_run``: the SQS and direct EventBridge entries
(``event_dispatch``) as much as the local bus's deliveries, so the operations dashboard's
event series count production's runs, not only the local worker's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.events import registry
from apps.events.envelope import EventEnvelope
from apps.events.inbound import ReceiversFailedError, event_dispatch, sqs_record_process
from apps.events.services import publish
from project import telemetry

pytestmark = pytest.mark.django_db

WATCHED = {
    telemetry.EVENTS_PROCESSED,
    telemetry.EVENTS_FAILED,
    telemetry.EVENTS_DEAD_LETTERED,
}


@pytest.fixture
def samples() -> list[tuple[str, float, str, dict[str, str]]]:
    backend = telemetry.metrics.default
    backend.samples.clear()
    return backend.samples


def _recorded(samples: list[tuple[str, float, str, dict[str, str]]]) -> list[tuple[str, str]]:
    return [(name, dims["receiver"]) for name, _, _, dims in samples if name in WATCHED]


def _envelope(n: int = 1) -> EventEnvelope:
    return EventEnvelope(
        id=f"00000000-0000-4000-8000-00000000000{n}",
        detail_type="shop.OrderPlaced",
        source="nimbus.shop",
        detail={"order_id": f"o-{n}", "owner_id": "u-1", "total": 1.0},
        time="2026-11-27T12:00:00Z",
    )


def _sqs_record(envelope: EventEnvelope, group: str) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "body": json.dumps(envelope.as_dict()),
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:nimbus-dev-{group}",
    }


@pytest.mark.parametrize("atomic", [True, False])
def test_an_sqs_record_counts_each_receiver_processed_or_failed(
    isolated_registry: None, settings: Any, samples: Any, atomic: bool
) -> None:
    settings.NIMBUS_STAGE = "dev"
    registry.receiver("shop.OrderPlaced", name="shop.ok", group="shop", atomic=atomic)(
        lambda e: None
    )

    @registry.receiver("shop.OrderPlaced", name="shop.broken", group="shop", atomic=atomic)
    def broken(event: EventEnvelope) -> None:
        raise RuntimeError("receiver bug")

    envelope = _envelope()
    with pytest.raises(ReceiversFailedError, match=r"shop\.broken"):
        sqs_record_process(record=_sqs_record(envelope, "shop"))
    assert sorted(_recorded(samples)) == [
        (telemetry.EVENTS_FAILED, "shop.broken"),
        (telemetry.EVENTS_PROCESSED, "shop.ok"),
    ]
    # SQS delivers the message again: the receiver that ran is acknowledged unrun, uncounted.
    samples.clear()
    with pytest.raises(ReceiversFailedError):
        sqs_record_process(record=_sqs_record(envelope, "shop"))
    assert _recorded(samples) == [(telemetry.EVENTS_FAILED, "shop.broken")]


def test_a_direct_eventbridge_event_counts_as_processed(
    isolated_registry: None, samples: Any
) -> None:
    registry.receiver("shop.OrderPlaced", name="shop.ok", group="shop")(lambda e: None)
    assert event_dispatch(envelope=_envelope(), group=None) == "ok"
    assert _recorded(samples) == [(telemetry.EVENTS_PROCESSED, "shop.ok")]


def test_a_local_delivery_counts_each_attempt_once(
    order_placed: registry.EventType,
    local_bus: Any,
    samples: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[int] = []

    @registry.receiver("shop.OrderPlaced", name="shop.flaky")
    def flaky(event: EventEnvelope) -> None:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try later")

    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": 1.0})
    assert len(calls) == 2
    assert _recorded(samples) == [
        (telemetry.EVENTS_FAILED, "shop.flaky"),
        (telemetry.EVENTS_PROCESSED, "shop.flaky"),
    ]


def test_a_local_delivery_that_runs_out_of_attempts_is_also_dead_lettered(
    order_placed: registry.EventType,
    local_bus: Any,
    samples: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    @registry.receiver("shop.OrderPlaced", name="shop.broken")
    def broken(event: EventEnvelope) -> None:
        raise ValueError("card declined")

    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": 1.0})
    assert _recorded(samples) == [
        (telemetry.EVENTS_FAILED, "shop.broken"),
        (telemetry.EVENTS_FAILED, "shop.broken"),
        (telemetry.EVENTS_FAILED, "shop.broken"),
        (telemetry.EVENTS_DEAD_LETTERED, "shop.broken"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failure_is_kept_by_the_local_backend_although_its_transaction_rolled_back(
    isolated_registry: None, settings: Any
) -> None:
    from apps.events.delivery import receiver_run
    from project.models import MetricSample

    settings.NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.LocalMetrics"}}

    @registry.receiver("shop.OrderPlaced", name="shop.broken", group="shop")
    def broken(event: EventEnvelope) -> None:
        raise RuntimeError("receiver bug")

    with pytest.raises(RuntimeError, match="receiver bug"):
        receiver_run(receiver=registry.receivers["shop.broken"], envelope=_envelope())
    assert list(MetricSample.objects.values_list("name", "dimensions")) == [
        (telemetry.EVENTS_FAILED, {"receiver": "shop.broken"})
    ]
