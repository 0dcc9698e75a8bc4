"""Background tasks and periodic jobs of the events app."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from apps.events.delivery import (
    LOCAL_BUS_OPTIONS,
    deliver,
    deliveries_requeue,
    deliveries_run_due,
    dispatch,
)
from apps.events.registry import scheduled
from apps.events.services import events_prune, outbox_relay, outbox_sweep
from project.worker import drain, every

#: ``deliver`` is defined with the deliveries it runs; its old path still names it, so a
#: task queued before it moved still runs.
__all__ = [
    "deliver",
    "prune_events",
    "requeue_deliveries",
    "run_due_deliveries",
    "sweep_outbox",
]


@drain("events.deliveries")
def run_due_deliveries(keep_going: Callable[[], bool]) -> int:
    """The local bus's deliveries, claimed in batches by the worker (``dispatch`` worker)."""
    if dispatch() != "worker":
        return 0
    return outbox_relay() + deliveries_run_due(keep_going=keep_going)


def _requeue_seconds() -> float:
    options = settings.NIMBUS_EVENTS.get("default", {}).get("OPTIONS", {})
    return float({**LOCAL_BUS_OPTIONS, **options}["requeue_seconds"])


@every(_requeue_seconds(), name="events.requeue-deliveries")
def requeue_deliveries() -> None:
    """Locally: hand out again deliveries whose worker died (expired lease)."""
    deliveries_requeue()


@scheduled("rate(1 day)", name="events.prune")
def prune_events() -> None:
    """Forget published events and inbox rows older than 30 days (dead letters are kept)."""
    events_prune()


@scheduled("rate(1 minute)", name="events.sweep-outbox")
def sweep_outbox() -> None:
    """Republish outbox events the bus has not acknowledged (a crash after commit)."""
    outbox_sweep()
