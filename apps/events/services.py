"""Publishing events and operating on deliveries (keyword-only service functions).

``publish()`` is the one entry point for producers::

    from apps.events.services import publish

    with transaction.atomic():
        upload.save()
        publish("files.FileUploaded", {"file_id": str(upload.id), "owner_id": str(user.id)})

The event row is written in the caller's transaction (the outbox) and handed to the bus
only after commit; if the process dies in between, :func:`outbox_sweep` republishes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.events import registry
from apps.events.backends import buses
from apps.events.envelope import META_KEY
from apps.events.exceptions import (
    DeliveryStateError,
    EventSourceMismatchError,
    InvalidEventDetailError,
    UnknownEventTypeError,
    UnknownReceiverError,
)
from apps.events.models import Delivery, Event
from project import telemetry
from project.errors import NotFound

logger = logging.getLogger("nimbus.events")

#: EventBridge's 256 KB entry limit, less room for Time and the outbox id (see backends.aws).
MAX_EVENT_BYTES = 256 * 1024 - 128

__all__ = [
    "delivery_discard",
    "delivery_redrive",
    "event_replay",
    "outbox_flush",
    "outbox_sweep",
    "publish",
]


def publish(detail_type: str, detail: Mapping[str, Any], *, source: str | None = None) -> Event:
    """Validate and record an event in the caller's transaction; send it after commit.

    Raises :class:`UnknownEventTypeError` for an undeclared type,
    :class:`EventSourceMismatchError` when ``source`` differs from the declared one and
    :class:`InvalidEventDetailError` (code ``invalid_event_detail``, 422) when ``detail``
    fails the type's JSON schema; nothing is written in those cases.
    """
    event_type = registry.event_types.get(detail_type)
    if event_type is None:
        raise UnknownEventTypeError(
            f"Event type {detail_type!r} is not declared (declare_event in apps/<app>/events.py).",
            detail={"detail_type": detail_type},
        )
    if source is not None and source != event_type.source:
        raise EventSourceMismatchError(
            f"{detail_type!r} is declared with source {event_type.source!r}, not {source!r}.",
            detail={"detail_type": detail_type, "source": source},
        )
    payload = _validated(event_type, detail)
    event = Event.objects.create(detail_type=detail_type, source=event_type.source, detail=payload)
    if not buses.default.relayed:
        transaction.on_commit(lambda: outbox_flush(events=[event]), robust=True)
    telemetry.metric(telemetry.EVENTS_PUBLISHED, detail_type=detail_type)
    return event


def _validated(event_type: registry.EventType, detail: Mapping[str, Any]) -> dict[str, Any]:
    if META_KEY in detail:
        raise InvalidEventDetailError(
            f"{META_KEY!r} is reserved in event details.",
            detail={"detail_type": event_type.detail_type},
        )
    try:
        document = json.dumps(dict(detail), allow_nan=False)
        payload = json.loads(document)
    except (TypeError, ValueError) as exc:
        raise InvalidEventDetailError(
            f"{event_type.detail_type} detail is not JSON: {exc}",
            detail={"detail_type": event_type.detail_type},
        ) from exc
    size = len(document.encode()) + len(event_type.source) + len(event_type.detail_type)
    if size > MAX_EVENT_BYTES:
        raise InvalidEventDetailError(
            f"{event_type.detail_type} is {size} bytes; events are limited to {MAX_EVENT_BYTES}.",
            code="event_too_large",
            detail={"detail_type": event_type.detail_type, "size": size},
        )
    errors = event_type.validator.errors(document)
    if errors:
        first = errors[0]
        where = f"{first['path']}: " if first["path"] else ""
        raise InvalidEventDetailError(
            f"{event_type.detail_type} detail does not match its schema: {where}{first['message']}",
            detail={"detail_type": event_type.detail_type, "errors": errors[:20]},
        )
    return payload


def outbox_flush(*, event_ids: Sequence[Any] = (), events: Sequence[Event] | None = None) -> int:
    """Send pending outbox events to the bus; mark those it accepted. Never raises.

    ``events`` (rows just committed by :func:`publish`) saves reading them again, for a
    bus that accepts events in the database (``EventBus.transactional``): its work and the
    marking commit together, and a row the sweeper published meanwhile is matched by
    neither (its deliveries exist; the update is conditional). Any other bus is given only
    the rows still pending, read here.
    """
    bus = buses.default
    if events is None or not bus.transactional:
        ids = list(event_ids) if events is None else [e.id for e in events]
        events = list(Event.objects.filter(id__in=ids, state=Event.State.PENDING))
    if not events:
        return 0
    if bus.transactional:
        try:
            with transaction.atomic():
                accepted = {str(event_id) for event_id in bus.send(events)}
                done = [e.id for e in events if str(e.id) in accepted]
                _mark_published(done)
        except Exception as exc:
            logger.exception("Publishing %d event(s) failed; the sweeper will retry", len(events))
            Event.objects.filter(id__in=[e.id for e in events]).update(
                publish_attempts=F("publish_attempts") + 1,
                last_publish_error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            return 0
        return len(done)
    error = "not accepted by the bus"
    try:
        accepted = {str(event_id) for event_id in buses.default.send(events)}
    except Exception as exc:
        logger.exception("Publishing %d event(s) failed; the sweeper will retry", len(events))
        accepted, error = set(), f"{type(exc).__name__}: {exc}"[:2000]
    done = [e.id for e in events if str(e.id) in accepted]
    rest = [e.id for e in events if str(e.id) not in accepted]
    with transaction.atomic():
        _mark_published(done)
        if rest:
            Event.objects.filter(id__in=rest).update(
                publish_attempts=F("publish_attempts") + 1, last_publish_error=error
            )
    return len(done)


def outbox_relay(*, limit: int = 200) -> int:
    """Hand the oldest pending outbox rows to a relayed bus in one transaction; how many.

    What ``manage.py worker`` does each round when the local bus is relayed
    (``EventBus.relayed``): the rows are selected (``SKIP LOCKED`` on PostgreSQL; SQLite's
    write lock serialises relays), their deliveries created and the rows marked published,
    all or nothing, so a batch of events costs three statements, not three each.
    """
    bus = buses.default
    if not bus.relayed:
        return 0
    try:
        with transaction.atomic():
            events = list(
                Event.objects.filter(state=Event.State.PENDING)
                .order_by("time")
                .select_for_update(skip_locked=True)[:limit]
            )
            if not events:
                return 0
            accepted = {str(event_id) for event_id in bus.send(events)}
            _mark_published([e.id for e in events if str(e.id) in accepted])
    except Exception:
        logger.exception("Relaying the outbox failed; the next round retries")
        return 0
    return len(events)


def _mark_published(ids: Sequence[Any]) -> None:
    if ids:
        Event.objects.filter(id__in=ids, state=Event.State.PENDING).update(
            state=Event.State.PUBLISHED,
            published_at=timezone.now(),
            publish_attempts=F("publish_attempts") + 1,
            last_publish_error="",
        )


def outbox_sweep(*, older_than_seconds: float = 30.0, limit: int = 500) -> int:
    """Republish events still pending ``older_than_seconds`` after they were written."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Event.objects.filter(state=Event.State.PENDING, time__lte=cutoff)
        .order_by("time")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for start in range(0, len(ids), 100):
        sent += outbox_flush(event_ids=ids[start : start + 100])
    if ids:
        logger.info("Outbox sweep: %d pending, %d accepted", len(ids), sent)
    return sent


def events_prune(*, older_than_days: float = 30.0) -> dict[str, int]:
    """Delete what no longer protects anything: old published events and inbox rows.

    Kept: pending events (the sweeper still owes them), events with a dead or unfinished
    delivery (an operator still has to act), and inbox rows younger than the cutoff (SQS
    keeps messages at most 14 days, so older duplicates cannot arrive).
    """
    from apps.events.models import Inbox

    cutoff = timezone.now() - timedelta(days=older_than_days)
    unfinished = Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).values("event_id")
    _, deleted = (
        Event.objects.filter(state=Event.State.PUBLISHED, time__lt=cutoff)
        .exclude(id__in=unfinished)
        .delete()
    )
    events = deleted.get(Event._meta.label, 0)
    inbox, _ = Inbox.objects.filter(processed_at__lt=cutoff).delete()
    if events or inbox:
        logger.info("Pruned %d event row(s) and %d inbox row(s)", events, inbox)
    return {"events": events, "inbox": inbox}


# ----------------------------------------------------------------- operator actions


def _delivery(delivery_id: int) -> Delivery:
    try:
        return Delivery.objects.get(pk=delivery_id)
    except Delivery.DoesNotExist as exc:
        raise NotFound(f"No delivery {delivery_id}.") from exc


def delivery_redrive(*, delivery_id: int) -> Delivery:
    """Give a dead delivery a fresh set of attempts, now."""
    from apps.events.delivery import deliveries_enqueue

    delivery = _delivery(delivery_id)
    updated = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.DEAD).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        finished_at=None,
    )
    if not updated:
        raise DeliveryStateError(f"Delivery {delivery_id} is {delivery.status}, not dead.")
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery


def delivery_discard(*, delivery_id: int) -> None:
    """Delete a dead delivery an operator decided not to run."""
    delivery = _delivery(delivery_id)
    deleted, _ = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.DEAD).delete()
    if not deleted:
        raise DeliveryStateError(f"Delivery {delivery_id} is {delivery.status}, not dead.")
    logger.warning("Dead delivery %s of %s discarded", delivery.receiver, delivery.event_id)


def event_replay(*, event_id: Any, receiver: str) -> Delivery:
    """Run one stored event through one receiver again, even if it already ran.

    The receiver's inbox row for the event is removed so the effect can happen again;
    replay is an explicit operator decision to repeat it.
    """
    from apps.events.delivery import deliveries_enqueue
    from apps.events.models import Inbox

    if receiver not in registry.receivers:
        raise UnknownReceiverError(f"No receiver named {receiver!r}.")
    try:
        event = Event.objects.get(pk=event_id)
    except (Event.DoesNotExist, ValueError) as exc:
        raise NotFound(f"No event {event_id}.") from exc
    with transaction.atomic():
        delivery, _ = Delivery.objects.get_or_create(event=event, receiver=receiver)
        reset = (
            Delivery.objects.filter(pk=delivery.pk)
            .exclude(status=Delivery.Status.RUNNING)
            .update(
                status=Delivery.Status.PENDING,
                attempts=0,
                next_attempt_at=timezone.now(),
                finished_at=None,
            )
        )
        if not reset:
            raise DeliveryStateError(
                f"{receiver} is running event {event_id} right now; replay it afterwards."
            )
        Inbox.objects.filter(event_id=str(event.id), receiver=receiver).delete()
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery
