"""publish(): schema-checked outbox rows, delivered to matching receivers after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from apps.events import registry
from apps.events.delivery import deliveries_requeue, delivery_run
from apps.events.exceptions import (
    EventSourceMismatchError,
    InvalidEventDetailError,
    UnknownEventTypeError,
)
from apps.events.models import Delivery, Event, Inbox
from apps.events.services import outbox_sweep, publish

pytestmark = pytest.mark.django_db


def _order(**extra: Any) -> dict[str, Any]:
    return {"order_id": "o-1", "owner_id": "u-1", "total": 12.5, **extra}


def test_undeclared_type_is_refused_and_nothing_written(isolated_registry: None) -> None:
    with pytest.raises(UnknownEventTypeError) as info:
        publish("shop.Nope", {})
    assert info.value.code == "unknown_event_type"
    assert not Event.objects.exists()


def test_detail_failing_schema_is_refused_with_errors(order_placed: registry.EventType) -> None:
    with pytest.raises(InvalidEventDetailError) as info:
        publish("shop.OrderPlaced", {"order_id": "o-1", "total": -1})
    assert info.value.code == "invalid_event_detail"
    assert info.value.status == 422
    paths = {e["path"] for e in info.value.detail["errors"]}
    assert "total" in paths
    assert not Event.objects.exists()


def test_wrong_source_is_refused(order_placed: registry.EventType) -> None:
    with pytest.raises(EventSourceMismatchError):
        publish("shop.OrderPlaced", _order(), source="aws.s3")


def test_event_is_delivered_only_after_commit(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[Any] = []

    @registry.receiver("shop.OrderPlaced")
    def remember(event: Any) -> None:
        seen.append(event)

    with django_capture_on_commit_callbacks(execute=True):
        event = publish("shop.OrderPlaced", _order())
        assert seen == []
        assert Event.objects.get().state == Event.State.PENDING
    assert [e.id for e in seen] == [str(event.id)]
    assert seen[0].detail == _order()
    assert seen[0]["detail-type"] == "shop.OrderPlaced"
    event.refresh_from_db()
    assert event.state == Event.State.PUBLISHED
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)
    assert Inbox.objects.filter(event_id=str(event.id), receiver="tests.remember").exists()


def test_rolled_back_publish_sends_nothing(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[Any] = []
    registry.receiver("shop.OrderPlaced", name="tests.seen")(lambda e: seen.append(e))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                publish("shop.OrderPlaced", _order())
                raise RuntimeError("caller failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert seen == []
    assert not Event.objects.exists()


def test_only_matching_receivers_get_the_event(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    big: list[Any] = []
    small: list[Any] = []
    registry.receiver({"detail": {"total": [{"numeric": [">=", 100]}]}}, name="tests.big")(
        lambda e: big.append(e)
    )
    registry.receiver({"detail": {"total": [{"numeric": ["<", 100]}]}}, name="tests.small")(
        lambda e: small.append(e)
    )
    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", _order(total=250))
    assert (len(big), len(small)) == (1, 0)
    assert list(Delivery.objects.values_list("receiver", flat=True)) == ["tests.big"]


def test_external_shaped_s3_event_can_be_published_locally(
    local_bus: Any, aws_event: Any, django_capture_on_commit_callbacks: Any, isolated_registry: None
) -> None:
    seen: list[Any] = []
    registry.receiver(
        {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"object": {"key": [{"prefix": "uploads/"}]}},
        },
        name="tests.on-object",
    )(lambda e: seen.append(e))
    s3 = aws_event("eventbridge_s3_object_created")
    with django_capture_on_commit_callbacks(execute=True):
        publish("Object Created", s3["detail"], source="aws.s3")
    assert seen[0].detail["object"]["key"] == s3["detail"]["object"]["key"]
    assert seen[0].source == "aws.s3"


def test_failing_receiver_is_retried_then_dead_lettered_with_traceback(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[int] = []

    @registry.receiver("shop.OrderPlaced")
    def explode(event: Any) -> None:
        Inbox.objects.create(event_id="side-effect", receiver=str(len(calls)))
        calls.append(1)
        raise ValueError("card declined")

    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", _order())
    delivery = Delivery.objects.get()
    assert len(calls) == 3
    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 3
    assert "ValueError: card declined" in delivery.last_error
    assert "Traceback" in delivery.traceback
    assert "explode" in delivery.traceback
    # every failed attempt's writes were rolled back, inbox row included
    assert not Inbox.objects.exists()


def test_receiver_that_recovers_succeeds_once(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[int] = []

    @registry.receiver("shop.OrderPlaced")
    def flaky(event: Any) -> None:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try later")

    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", _order())
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, len(calls)) == (Delivery.Status.SUCCEEDED, 2, 2)
    assert delivery.last_error == ""


def test_duplicate_delivery_is_acknowledged_without_running(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[int] = []
    registry.receiver("shop.OrderPlaced", name="tests.count")(lambda e: calls.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", _order())
    delivery = Delivery.objects.get()
    # The same delivery handed out again (e.g. a worker re-claiming after a crash).
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.PENDING)
    assert delivery_run(delivery_id=delivery.pk) == Delivery.Status.SUCCEEDED
    assert calls == [1]


def test_expired_lease_is_reclaimed_and_runs_once(
    order_placed: registry.EventType, local_bus: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    calls: list[int] = []
    registry.receiver("shop.OrderPlaced", name="tests.count")(lambda e: calls.append(1))
    event = publish("shop.OrderPlaced", _order())  # no commit in this test: deliver by hand
    delivery = Delivery.objects.create(
        event=event,
        receiver="tests.count",
        status=Delivery.Status.RUNNING,
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert deliveries_requeue() == 1  # immediate task backend: runs it now
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, calls) == (Delivery.Status.SUCCEEDED, 2, [1])
    assert deliveries_requeue() == 0


def test_sweeper_republishes_events_left_pending(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    calls: list[Any] = []
    registry.receiver("shop.OrderPlaced", name="tests.count")(lambda e: calls.append(e))
    event = publish("shop.OrderPlaced", _order())  # on_commit never fires: a "crash"
    assert outbox_sweep() == 0  # too recent
    Event.objects.filter(pk=event.pk).update(time=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_sweep() == 1
    assert len(calls) == 1
    assert outbox_sweep() == 0
    event.refresh_from_db()
    assert event.state == Event.State.PUBLISHED
    assert event.publish_attempts == 1


def test_reserved_metadata_key_is_refused(order_placed: registry.EventType) -> None:
    with pytest.raises(InvalidEventDetailError, match="reserved"):
        publish("shop.OrderPlaced", {**_order(), "_nimbus": {"event_id": "forged"}})


def test_oversized_event_is_refused(isolated_registry: None) -> None:
    registry.declare_event("shop.Big", schema={"type": "object"})
    with pytest.raises(InvalidEventDetailError) as info:
        publish("shop.Big", {"blob": "x" * 300_000})
    assert info.value.code == "event_too_large"
    assert not Event.objects.exists()


def test_failed_attempt_waits_with_jittered_backoff_before_the_next(
    order_placed: registry.EventType, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.local.LocalBus",
            "OPTIONS": {"max_attempts": 5, "base_delay": 10.0, "max_delay": 15.0},
        }
    }
    calls: list[int] = []

    @registry.receiver("shop.OrderPlaced")
    def fails_once(event: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("slow provider")

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", _order())
    delivery = Delivery.objects.get()
    # the retry was handed to the task queue at once, but is not due: it waits
    assert (delivery.status, delivery.attempts, len(calls)) == (Delivery.Status.PENDING, 1, 1)
    assert before <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    assert "TimeoutError: slow provider" in delivery.last_error
    assert deliveries_requeue() == 0  # not overdue yet
    # Its time came and went while no worker ran it: the periodic requeue hands it out.
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=61)
    )
    assert deliveries_requeue() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(calls)) == (Delivery.Status.SUCCEEDED, 2, 2)


def test_backoff_ceiling_doubles_and_is_capped(local_bus: Any, settings: Any) -> None:
    from apps.events.delivery import retry_delay

    settings.NIMBUS_EVENTS = {
        "default": {
            "BACKEND": "apps.events.backends.local.LocalBus",
            "OPTIONS": {"base_delay": 2.0, "max_delay": 20.0},
        }
    }
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 20.0), (9, 20.0)]:
        delays = [retry_delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # full jitter spreads over the whole range


def test_prune_keeps_pending_dead_and_recent_rows(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from apps.events.services import events_prune

    @registry.receiver({"detail": {"order_id": ["o-dead"]}}, name="tests.fail")
    def fail(event: Any) -> None:
        raise RuntimeError("always")

    registry.receiver("shop.OrderPlaced", name="tests.ok")(lambda e: None)
    with django_capture_on_commit_callbacks(execute=True):
        old_ok = publish("shop.OrderPlaced", _order(order_id="o-ok"))
        old_dead = publish("shop.OrderPlaced", _order(order_id="o-dead"))
        recent = publish("shop.OrderPlaced", _order(order_id="o-new"))
    old_pending = publish("shop.OrderPlaced", _order(order_id="o-pending"))  # never committed
    long_ago = timezone.now() - timedelta(days=40)
    Event.objects.exclude(pk=recent.pk).update(time=long_ago)
    Inbox.objects.exclude(event_id=str(recent.pk)).update(processed_at=long_ago)

    assert events_prune() == {"events": 1, "inbox": 2}
    assert set(Event.objects.values_list("pk", flat=True)) == {
        old_dead.pk,
        recent.pk,
        old_pending.pk,
    }
    assert Delivery.objects.filter(event=old_dead, status=Delivery.Status.DEAD).exists()
    assert Inbox.objects.filter(event_id=str(recent.pk)).count() == 1
    assert Event.objects.filter(pk=old_ok.pk).count() == 0
