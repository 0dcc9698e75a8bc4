"""Running receivers: exactly-once effects, and the local bus's deliveries.

:func:`receiver_run` is shared by every bus: it runs a receiver in a transaction that also
inserts the ``(event id, receiver)`` inbox row, so a duplicate delivery (SQS at-least-once,
a resent outbox event, a worker re-claiming an expired lease) is acknowledged unrun.

The local bus's deliveries are claimed with a lease (``status=running`` until
``lease_expires_at``); a worker killed mid-delivery leaves a running row whose lease
expires and :func:`deliveries_requeue` (a periodic worker job) hands it out again
(:mod:`project.leases`; the worker's own task rows are recovered the same way). The
attempt counter doubles as a fencing token: a worker whose lease was taken over cannot
overwrite the new owner's outcome.
"""

from __future__ import annotations

import logging
import traceback as tb
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.events import registry
from apps.events.backends import buses
from apps.events.envelope import EventEnvelope
from apps.events.models import Delivery, Event, Inbox
from project import telemetry
from project.leases import lapsed, lease_end
from project.logging import bind
from project.tasks import background
from project.tasks import retry_delay as backoff_delay

logger = logging.getLogger("nimbus.events")

Status = Delivery.Status


def receiver_run(
    *,
    receiver: registry.Receiver,
    envelope: EventEnvelope,
    also: Callable[[], Any] | None = None,
) -> bool:
    """Run ``receiver`` for ``envelope`` once; returns False when it had already run.

    The receiver's writes, the inbox row and ``also()`` commit together or not at all;
    an exception from the receiver propagates after rolling all three back.

    A receiver declared ``atomic=False`` runs first, outside any transaction, and the
    inbox row and ``also()`` commit after it returns: a slow receiver holds no
    transaction (and no connection in one) open while it works. It must be idempotent,
    since a crash between its own commit and the inbox row, or two deliveries racing,
    runs it again.

    Every bus goes through here, so this is where ``EventsProcessed`` (the receiver ran and
    committed) and ``EventsFailed`` (it raised) are recorded, once per run, outside the
    transaction (a metric recorded in a rolled-back transaction would be lost locally).
    A duplicate acknowledged unrun records neither.
    """
    try:
        if receiver.atomic:
            ran = _receiver_run_atomic(receiver=receiver, envelope=envelope, also=also)
        else:
            ran = _receiver_run_then_record(receiver=receiver, envelope=envelope, also=also)
    except Exception:
        telemetry.metric(telemetry.EVENTS_FAILED, receiver=receiver.name)
        raise
    if ran:
        telemetry.metric(telemetry.EVENTS_PROCESSED, receiver=receiver.name)
    return ran


def _receiver_run_atomic(
    *, receiver: registry.Receiver, envelope: EventEnvelope, also: Callable[[], Any] | None
) -> bool:
    with bind(event_id=envelope.id, receiver=receiver.name), transaction.atomic():
        try:
            with transaction.atomic():
                Inbox.objects.create(event_id=envelope.id, receiver=receiver.name)
        except IntegrityError:
            logger.info("Duplicate delivery acknowledged without running")
            ran = False
        else:
            receiver.func(envelope)
            ran = True
        if also is not None:
            also()
    return ran


def _receiver_run_then_record(
    *, receiver: registry.Receiver, envelope: EventEnvelope, also: Callable[[], Any] | None
) -> bool:
    inbox = Inbox.objects.filter(event_id=envelope.id, receiver=receiver.name)
    with bind(event_id=envelope.id, receiver=receiver.name):
        ran = not inbox.exists()
        if ran:
            receiver.func(envelope)
        else:
            logger.info("Duplicate delivery acknowledged without running")
        with transaction.atomic():
            if ran:
                try:
                    with transaction.atomic():
                        Inbox.objects.create(event_id=envelope.id, receiver=receiver.name)
                except IntegrityError:
                    logger.info("A concurrent delivery of the same event ran it too")
            if also is not None:
                also()
    return ran


# ------------------------------------------------------------------------- local bus


#: The local bus's options and their defaults (``LocalBus.default_options``).
LOCAL_BUS_OPTIONS: dict[str, Any] = {
    # attempts per delivery before it is dead-lettered
    "max_attempts": 8,
    # backoff: full jitter over min(max_delay, base_delay * 2**(attempt-1)) seconds
    "base_delay": 5.0,
    "max_delay": 900.0,
    # a running delivery whose worker died is re-claimed after this many seconds
    "lease_seconds": 300.0,
    # how often `manage.py worker` looks for deliveries whose worker died
    "requeue_seconds": 30.0,
}


def _options() -> dict[str, Any]:
    """The delivery options in force: the default bus's, else the defaults."""
    bus = buses.default
    return {**LOCAL_BUS_OPTIONS, **{k: v for k, v in bus.options.items() if k in LOCAL_BUS_OPTIONS}}


def deliveries_create(*, events: Sequence[Event]) -> list[int]:
    """Create the deliveries of ``events`` to matching receivers; return the pending ids."""
    rows = [
        Delivery(event=event, receiver=r.name)
        for event in events
        for r in registry.receivers_for(event.as_eventbridge())
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        Delivery.objects.filter(event__in=list(events), status=Status.PENDING).values_list(
            "pk", flat=True
        )
    )


def deliveries_enqueue(*, delivery_ids: Sequence[int], run_after: datetime | None = None) -> None:
    """Hand deliveries to the ``events`` task queue (the worker; inline under tests)."""
    task = deliver
    if run_after is not None and deliver.get_backend().supports_defer:
        task = deliver.using(run_after=run_after)
    for delivery_id in delivery_ids:
        task.enqueue(delivery_id)


@background(queue_name="events")
def deliver(delivery_id: int) -> str:
    """Run one local delivery. Failures are retried by the delivery itself, not the task."""
    return delivery_run(delivery_id=delivery_id)


def delivery_claim(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Atomically take a due delivery (pending and due, or running with an expired lease)."""
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now)
            | (Q(status=Status.RUNNING) & lapsed(now=now))
        )
        .update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_end(now=now, seconds=float(_options()["lease_seconds"])),
            updated_at=now,
        )
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("event").get(pk=delivery_id)


def delivery_run(*, delivery_id: int) -> str:
    """Claim and run one delivery; returns its resulting status (or ``skipped``)."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    token = delivery.attempts
    mine = Delivery.objects.filter(pk=delivery.pk, status=Status.RUNNING, attempts=token)
    with bind(event_id=str(delivery.event_id), receiver=delivery.receiver, attempt=token):
        receiver = registry.receivers.get(delivery.receiver)
        if receiver is None:
            _record_failure(
                delivery, mine, f"Receiver {delivery.receiver!r} is not registered.", "", final=True
            )
            return Status.DEAD
        envelope = EventEnvelope.from_event(delivery.event)

        def succeed() -> None:
            mine.update(
                status=Status.SUCCEEDED,
                lease_expires_at=None,
                finished_at=timezone.now(),
                last_error="",
                traceback="",
            )

        try:
            receiver_run(receiver=receiver, envelope=envelope, also=succeed)
        except Exception as exc:
            limit = int(_options()["max_attempts"])
            _record_failure(delivery, mine, _describe(exc), tb.format_exc(), final=token >= limit)
            return Status.DEAD if token >= limit else Status.PENDING
    return Status.SUCCEEDED


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"[:2000]


def retry_delay(attempt: int) -> float:
    """Seconds before the next attempt: full jitter over a capped exponential."""
    options = _options()
    return backoff_delay(
        attempt, base_delay=float(options["base_delay"]), max_delay=float(options["max_delay"])
    )


def _record_failure(delivery: Delivery, mine: Any, error: str, trace: str, *, final: bool) -> None:
    now = timezone.now()
    if final:
        mine.update(
            status=Status.DEAD,
            lease_expires_at=None,
            finished_at=now,
            last_error=error,
            traceback=trace,
        )
        logger.error("Delivery dead-lettered after %d attempt(s): %s", delivery.attempts, error)
        telemetry.metric(telemetry.EVENTS_DEAD_LETTERED, receiver=delivery.receiver)
        return
    next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
    updated = mine.update(
        status=Status.PENDING,
        lease_expires_at=None,
        next_attempt_at=next_at,
        last_error=error,
        traceback=trace,
    )
    logger.warning("Delivery attempt %d failed, retry at %s: %s", delivery.attempts, next_at, error)
    if updated:
        deliveries_enqueue(delivery_ids=[delivery.pk], run_after=next_at)


def deliveries_requeue(*, now: datetime | None = None, grace_seconds: float = 60.0) -> int:
    """Re-enqueue deliveries whose task was lost: expired leases, overdue pending rows.

    Safe to run any time: claiming is atomic, so a delivery enqueued twice runs once.
    """
    now = now or timezone.now()
    due = Delivery.objects.filter(
        (Q(status=Status.RUNNING) & lapsed(now=now))
        | Q(status=Status.PENDING, next_attempt_at__lte=now - timedelta(seconds=grace_seconds))
    ).values_list("pk", flat=True)[:1000]
    ids = list(due)
    if ids:
        logger.info("Re-enqueueing %d delivery(ies) whose task was lost", len(ids))
        deliveries_enqueue(delivery_ids=ids)
    return len(ids)
