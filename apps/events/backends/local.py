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
from apps.events.delivery import (
    LOCAL_BUS_OPTIONS,
    deliveries_create,
    deliveries_enqueue,
    dispatch,
)

if TYPE_CHECKING:
    from apps.events.models import Event


class LocalBus(EventBus):
    is_local = True
    transactional = True
    default_options = LOCAL_BUS_OPTIONS

    @property
    def relayed(self) -> bool:
        # With `worker` dispatch, manage.py worker relays pending outbox rows in batches.
        return dispatch() == "worker"

    def send(self, events: Sequence[Event]) -> list[str]:
        # The task rows (`tasks` dispatch) are written in the same transaction as the
        # deliveries (one commit; the worker sees both or neither). Under the immediate
        # test backend they run here. With `worker` dispatch the rows are the queue.
        with transaction.atomic():
            if dispatch() == "worker":
                deliveries_create(events=events, pending_ids=False)
            else:
                deliveries_enqueue(delivery_ids=deliveries_create(events=events))
        return [str(event.id) for event in events]
