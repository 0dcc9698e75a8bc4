"""Running receivers: exactly-once effects, and the local bus's deliveries.

:func:`receiver_run` is shared by every bus: it runs a receiver in a transaction that also
inserts the ``(event id, receiver)`` inbox row, so a duplicate delivery (SQS at-least-once,
a resent outbox event, a worker re-claiming an expired lease) is acknowledged unrun.

The local bus's deliveries are claimed with a lease (``status=running`` until
``lease_expires_at``), committed before the receiver runs. How they reach a worker is the
bus's ``dispatch`` option (:func:`dispatch`):

* ``worker`` (with the database task backend, i.e. ``manage.py worker``): the delivery rows
  are the queue. The worker claims due deliveries in batches
  (:func:`deliveries_run_due`: one statement claims up to ``claim_batch`` rows) and runs
  each in its own transaction; a retry is the row's ``next_attempt_at``, and a worker
  killed mid-delivery leaves a running row whose lease lapses and which the next claim
  takes again. No task row per delivery.
* ``tasks`` (any other task backend, e.g. the immediate one under tests): one ``deliver``
  task per delivery; :func:`deliveries_requeue` (a periodic worker job) re-enqueues the
  deliveries whose task was lost.

The attempt counter doubles as a fencing token: a worker whose lease was taken over cannot
overwrite the new owner's outcome.
"""

from __future__ import annotations

import logging
import time
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
    # how often `manage.py worker` looks for deliveries whose worker died (`tasks` dispatch)
    "requeue_seconds": 30.0,
    # "worker": `manage.py worker` claims due delivery rows itself, `claim_batch` at a
    # time; "tasks": one `deliver` task per delivery; "auto": "worker" when the task
    # queue is the database's (:func:`dispatch`)
    "dispatch": "auto",
    "claim_batch": 50,
}


def _options() -> dict[str, Any]:
    """The delivery options in force: the default bus's, else the defaults."""
    bus = buses.default
    return {**LOCAL_BUS_OPTIONS, **{k: v for k, v in bus.options.items() if k in LOCAL_BUS_OPTIONS}}


def dispatch() -> str:
    """How local deliveries reach a worker: ``worker`` or ``tasks`` (see the module doc).

    ``auto`` (the default) is ``worker`` when the ``events`` task queue is stored in the
    database (django-tasks-db, which only ``manage.py worker`` runs, and it claims due
    deliveries itself), ``tasks`` otherwise.
    """
    mode = str(_options()["dispatch"])
    if mode != "auto":
        return mode
    from django_tasks_db.backend import DatabaseBackend  # the database queue's class, once

    return "worker" if isinstance(deliver.get_backend(), DatabaseBackend) else "tasks"


def deliveries_create(*, events: Sequence[Event], pending_ids: bool = True) -> list[int]:
    """Create the deliveries of ``events`` to matching receivers; return the pending ids
    (unless ``pending_ids`` is false: then nothing is read back)."""
    rows = [
        Delivery(event=event, receiver=r.name)
        for event in events
        for r in registry.receivers_for(event.as_eventbridge())
    ]
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    if not pending_ids:
        return []
    return list(
        Delivery.objects.filter(event__in=list(events), status=Status.PENDING).values_list(
            "pk", flat=True
        )
    )


def deliveries_enqueue(*, delivery_ids: Sequence[int], run_after: datetime | None = None) -> None:
    """Hand deliveries to the ``events`` task queue (inline under tests).

    Nothing to do when the worker claims due delivery rows itself (``dispatch`` worker):
    a pending row whose ``next_attempt_at`` has come is what it looks for.
    """
    if dispatch() == "worker":
        return
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


def _due(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | (
        Q(status=Status.RUNNING) & lapsed(now=now)
    )


def deliveries_claim_due(*, limit: int, now: datetime | None = None) -> list[Delivery]:
    """Atomically take up to ``limit`` due deliveries (oldest due first), with their events.

    One transaction: the due rows are selected (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
    so concurrent workers take different rows; SQLite's write lock serialises claims) and
    claimed with one ``UPDATE``: ``running``, one more attempt, a lease. The claim commits
    before any receiver runs, as :func:`delivery_claim`'s does.
    """
    now = now or timezone.now()
    lease = lease_end(now=now, seconds=float(_options()["lease_seconds"]))
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(_due(now))
            .order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).filter(_due(now)).update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease,
            updated_at=now,
        )
        # The rows are locked (or the database is) until commit: these are the ones claimed.
        return list(
            Delivery.objects.filter(pk__in=ids, status=Status.RUNNING, lease_expires_at=lease)
            .select_related("event")
            .order_by("next_attempt_at", "pk")
        )


#: Longest a group of deliveries shares one transaction (seconds): on SQLite the group
#: holds the database's write lock, so this bounds what other writers may wait.
GROUP_SECONDS = 0.05


def deliveries_run_due(
    *, limit: int | None = None, keep_going: Callable[[], bool] = lambda: True
) -> int:
    """Claim due deliveries in one batch and run them; returns how many were claimed.

    Consecutive deliveries to ``atomic`` receivers run in one transaction for up to
    ``GROUP_SECONDS`` (group commit), each inside its own savepoint: a delivery's effects,
    its inbox row and its outcome commit together or not at all, exactly as in
    :func:`delivery_run`; a receiver that raises rolls back to its savepoint and its
    failure is recorded. A crash before the group commits loses the whole group's effects
    and inbox rows, and the claims (committed first) hand every one of them out again:
    still exactly once. A receiver declared ``atomic=False`` runs alone, outside any
    transaction. When ``keep_going()`` turns false (the worker is stopping), the claimed
    deliveries not yet started are handed back at once (pending, the attempt not counted)
    rather than waiting for their lease to lapse.
    """
    claimed = deliveries_claim_due(limit=int(limit or _options()["claim_batch"]))
    pending = list(claimed)
    while pending:
        if len(pending) < len(claimed) and not keep_going():
            _release(pending)
            break
        receiver = registry.receivers.get(pending[0].receiver)
        if receiver is not None and not receiver.atomic:
            _run_claimed(pending.pop(0))
        else:
            _run_group(pending, keep_going)
    return len(claimed)


def _run_group(pending: list[Delivery], keep_going: Callable[[], bool]) -> None:
    """Run deliveries from the head of ``pending`` (removing them) in one transaction."""
    started = time.monotonic()
    succeeded: list[int] = []
    lease = pending[0].lease_expires_at
    with transaction.atomic():
        while pending and time.monotonic() - started < GROUP_SECONDS:
            receiver = registry.receivers.get(pending[0].receiver)
            if receiver is not None and not receiver.atomic:
                break
            if succeeded and not keep_going():
                break
            delivery = pending.pop(0)
            if _run_claimed(delivery, succeed_with_group=True) == Status.SUCCEEDED:
                succeeded.append(delivery.pk)
        if succeeded:
            # The batch's lease is the fence: a row another worker took over has its own.
            Delivery.objects.filter(
                pk__in=succeeded, status=Status.RUNNING, lease_expires_at=lease
            ).update(
                status=Status.SUCCEEDED,
                lease_expires_at=None,
                finished_at=timezone.now(),
                last_error="",
                traceback="",
            )


def _release(deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        Delivery.objects.filter(
            pk=delivery.pk, status=Status.RUNNING, attempts=delivery.attempts
        ).update(status=Status.PENDING, attempts=F("attempts") - 1, lease_expires_at=None)


def delivery_run(*, delivery_id: int) -> str:
    """Claim and run one delivery; returns its resulting status (or ``skipped``)."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    return _run_claimed(delivery)


def _run_claimed(delivery: Delivery, *, succeed_with_group: bool = False) -> str:
    """Run a delivery this process has claimed (its lease and attempt are committed).

    With ``succeed_with_group`` the caller's transaction marks it succeeded (in one
    statement for its group, :func:`_run_group`) instead of the receiver's own.
    """
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
            receiver_run(
                receiver=receiver, envelope=envelope, also=None if succeed_with_group else succeed
            )
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
    if dispatch() == "worker":
        return 0  # the worker's own claims take lapsed and overdue rows
    ids = list(due)
    if ids:
        logger.info("Re-enqueueing %d delivery(ies) whose task was lost", len(ids))
        deliveries_enqueue(delivery_ids=ids)
    return len(ids)
