"""Leases: a claim on work that lapses unless its holder renews it.

Work claimed by a process that dies (``kill -9``, a lost container) would stay claimed
forever; a lease makes the claim lapse instead, and a periodic job hands lapsed work out
again. The local event bus leases each delivery (``Delivery.lease_expires_at``, see
:mod:`apps.events.delivery`); the local worker leases itself (``WorkerLease``), and the
task rows of a worker whose lease lapsed are recovered (:func:`project.tasks.tasks_recover`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q


def lease_end(*, now: datetime, seconds: float) -> datetime:
    """When a lease taken or renewed at ``now`` for ``seconds`` lapses."""
    return now + timedelta(seconds=seconds)


def lapsed(*, now: datetime, field: str = "lease_expires_at") -> Q:
    """Rows whose lease in ``field`` had lapsed by ``now`` (a null lease is not lapsed)."""
    return Q(**{f"{field}__lt": now})
