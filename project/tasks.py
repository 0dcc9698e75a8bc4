"""Background work on Django's Tasks framework, with retries and exponential backoff.

``@background()`` declares a task like ``django.tasks.task`` does, but a failed attempt is
re-enqueued with a delay of ``base_delay * 2**(attempt-1)`` (capped, with full jitter) up to
``max_attempts`` (``settings.NIMBUS_TASK_RETRY``). Each failed attempt is still recorded as a
failed task result, with its traceback, where operators can see it (the tasks admin);
the last one is logged as an error.

Locally the database backend queues the work and ``manage.py worker`` runs it; on AWS the
same ``enqueue()`` goes through SQS to the Lambda entry. A local worker holds a lease
(``WorkerLease``, renewed while it lives); the task rows of a worker killed mid-task are
recovered once its lease lapses (:func:`tasks_recover`), as the event bus recovers
deliveries (:mod:`project.leases`).
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.tasks import Task, TaskResultStatus, task
from django.utils import timezone

logger = logging.getLogger("nimbus.tasks")

ATTEMPT_KWARG = "_nimbus_attempt"


def retry_delay(attempt: int, *, base_delay: float, max_delay: float) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (full jitter, AWS style)."""
    ceiling = min(max_delay, base_delay * (2 ** (attempt - 1)))
    return random.uniform(0, ceiling) if ceiling > 0 else 0.0


def background(
    *, queue_name: str = "default", priority: int = 0, max_attempts: int | None = None
) -> Callable[[Callable[..., Any]], Task]:
    """Declare a background task that retries with backoff. Arguments must be JSON."""

    def decorate(func: Callable[..., Any]) -> Task:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            policy = settings.NIMBUS_TASK_RETRY
            limit = max_attempts or int(policy["max_attempts"])
            try:
                return func(*args, **kwargs)
            except Exception:
                if attempt >= limit:
                    logger.error(
                        "Task %s failed for good after %d attempts",
                        func.__qualname__,
                        attempt,
                        exc_info=True,
                    )
                    raise
                delay = retry_delay(
                    attempt,
                    base_delay=float(policy["base_delay"]),
                    max_delay=float(policy["max_delay"]),
                )
                logger.warning(
                    "Task %s failed (attempt %d of %d); retrying in %.1fs",
                    func.__qualname__,
                    attempt,
                    limit,
                    delay,
                    exc_info=True,
                )
                _enqueue_retry(defined, delay, args, {**kwargs, ATTEMPT_KWARG: attempt + 1})
                raise

        defined: Task = task(queue_name=queue_name, priority=priority)(run)
        return defined

    return decorate


def _enqueue_retry(defined: Task, delay: float, args: Any, kwargs: dict[str, Any]) -> None:
    backend = defined.get_backend()
    if delay > 0 and backend.supports_defer:
        defined = defined.using(run_after=timezone.now() + timedelta(seconds=delay))
    defined.enqueue(*args, **kwargs)


# ---- leases: task rows of a worker that died -------------------------------------------

#: What a task row left running by a dead worker fails with once it has used its attempts.
WORKER_LOST = "project.tasks.WorkerLost"


class WorkerLost(Exception):
    """The worker running a task stopped (its lease lapsed) before the task finished."""


def task_lease_seconds() -> float:
    return float(settings.NIMBUS_TASK_LEASE["lease_seconds"])


def worker_lease_renew(*, worker_id: str, started: bool = False) -> None:
    """Take or renew the lease of the local worker ``worker_id`` (it is alive)."""
    import os
    import socket

    from project.leases import lease_end
    from project.models import WorkerLease

    now = timezone.now()
    expires = lease_end(now=now, seconds=task_lease_seconds())
    if started or not WorkerLease.objects.filter(pk=worker_id).update(lease_expires_at=expires):
        WorkerLease.objects.update_or_create(
            worker_id=worker_id,
            defaults={
                "lease_expires_at": expires,
                "started_at": now,
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
            },
        )


def worker_lease_drop(*, worker_id: str) -> None:
    """The worker stopped cleanly: it holds no task any more."""
    from project.models import WorkerLease

    WorkerLease.objects.filter(pk=worker_id).delete()


def tasks_recover(*, now: datetime | None = None) -> int:
    """Recover task rows left ``RUNNING`` by workers whose lease lapsed; returns how many.

    A row whose last claimant holds no live lease, claimed longer than a lease ago, goes
    back to ``READY`` and runs again (tasks, like deliveries, run at least once), unless
    it was already claimed ``max_attempts`` times (``NIMBUS_TASK_RETRY``): a task that
    keeps killing its worker fails with :class:`WorkerLost` where operators see it. The
    claim time is the fencing token: a row claimed again meanwhile is left alone.
    """
    from django_tasks_db.models import DBTaskResult

    from project.leases import lapsed
    from project.models import WorkerLease

    now = now or timezone.now()
    lease = timedelta(seconds=task_lease_seconds())
    live = set(WorkerLease.objects.exclude(lapsed(now=now)).values_list("worker_id", flat=True))
    stale = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=now - lease)
    recovered = 0
    for row in stale.order_by("started_at")[:1000]:
        if row.worker_ids and row.worker_ids[-1] in live:
            continue
        recovered += _task_recover(row, now=now)
    # Leases that lapsed a while ago belong to workers that will never come back.
    WorkerLease.objects.filter(lapsed(now=now - lease)).delete()
    return recovered


def _task_recover(row: Any, *, now: datetime) -> int:
    limit = int(settings.NIMBUS_TASK_RETRY["max_attempts"])
    claims = len(row.worker_ids)
    mine = type(row).objects.filter(
        pk=row.pk, status=TaskResultStatus.RUNNING, started_at=row.started_at
    )
    if claims < limit:
        logger.warning(
            "Task %s (%s) lost its worker; running it again (claim %d of %d)",
            row.pk,
            row.task_path,
            claims,
            limit,
        )
        return mine.update(status=TaskResultStatus.READY)
    logger.error(
        "Task %s (%s) lost its worker %d time(s); failing it", row.pk, row.task_path, claims
    )
    return mine.update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=WORKER_LOST,
        traceback=(
            f"{WORKER_LOST}: the worker running this task stopped before it finished "
            f"({claims} time(s); its lease lapsed).\n"
        ),
    )
