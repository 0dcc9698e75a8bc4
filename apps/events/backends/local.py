"""The embedded bus: matching deliveries stored in the database, run by the worker.

For each event, one :class:`~apps.events.models.Delivery` row per matching receiver is
created (idempotently: a resent event creates nothing new) and handed to the
``events`` task queue after commit. Delivery, retries with backoff, leases and
dead-lettering are in :mod:`apps.events.delivery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from apps.events.backends.base import EventBus

if TYPE_CHECKING:
    from apps.events.models import Event


class LocalBus(EventBus):
    is_local = True
    transactional = True
    default_options = {
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
        # queue is the database's (apps.events.delivery.dispatch)
        "dispatch": "auto",
        "claim_batch": 50,
    }

    @property
    def relayed(self) -> bool:
        # With `worker` dispatch, manage.py worker relays pending outbox rows in batches.
        from apps.events.delivery import dispatch

        return dispatch() == "worker"

    def send(self, events: Sequence[Event]) -> list[str]:
        from apps.events.delivery import deliveries_create, deliveries_enqueue, dispatch

        # The task rows (`tasks` dispatch) are written in the same transaction as the
        # deliveries (one commit; the worker sees both or neither). Under the immediate
        # test backend they run here. With `worker` dispatch the rows are the queue.
        with transaction.atomic():
            if dispatch() == "worker":
                deliveries_create(events=events, pending_ids=False)
            else:
                deliveries_enqueue(delivery_ids=deliveries_create(events=events))
        return [str(event.id) for event in events]
