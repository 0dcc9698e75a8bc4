"""Background tasks and periodic jobs of the events app."""

from __future__ import annotations

from collections.abc import Callable

from apps.events.registry import scheduled
from project.tasks import background
from project.worker import drain, every


@background(queue_name="events")
def deliver(delivery_id: int) -> str:
    """Run one local delivery. Failures are retried by the delivery itself, not the task."""
    from apps.events.delivery import delivery_run

    return delivery_run(delivery_id=delivery_id)


@drain("events.deliveries")
def run_due_deliveries(keep_going: Callable[[], bool]) -> int:
    """The local bus's deliveries, claimed in batches by the worker (``dispatch`` worker)."""
    from apps.events.delivery import deliveries_run_due, dispatch
    from apps.events.services import outbox_relay

    if dispatch() != "worker":
        return 0
    return outbox_relay() + deliveries_run_due(keep_going=keep_going)


def _requeue_seconds() -> float:
    from django.conf import settings

    options = settings.NIMBUS_EVENTS.get("default", {}).get("OPTIONS", {})
    return float(options.get("requeue_seconds", 30.0))


@every(_requeue_seconds(), name="events.requeue-deliveries")
def requeue_deliveries() -> None:
    """Locally: hand out again deliveries whose worker died (expired lease)."""
    from apps.events.delivery import deliveries_requeue

    deliveries_requeue()


@scheduled("rate(1 day)", name="events.prune")
def prune_events() -> None:
    """Forget published events and inbox rows older than 30 days (dead letters are kept)."""
    from apps.events.services import events_prune

    events_prune()


@scheduled("rate(1 minute)", name="events.sweep-outbox")
def sweep_outbox() -> None:
    """Republish outbox events the bus has not acknowledged (a crash after commit)."""
    from apps.events.services import outbox_sweep

    outbox_sweep()
