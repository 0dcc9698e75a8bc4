"""Run the local background worker: queued tasks and periodic jobs, until Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from project.tasks import task_lease_seconds, worker_lease_drop, worker_lease_renew
from project.worker import Heartbeat, Scheduler, periodic_jobs

#: The worker checks its connections after every task (``close_old_connections``); with
#: the web's CONN_MAX_AGE of 0 that reconnects (and re-runs SQLite's init pragmas) per
#: task, which capped the local event bus at a few events per second.
WORKER_CONN_MAX_AGE = 300


@contextmanager
def _kept_connections(max_age: int) -> Iterator[None]:
    """While the worker runs, let this process's connections live ``max_age`` seconds
    (read when a connection opens). Broken connections are still dropped after the task
    that broke them, by ``close_old_connections``. The settings are restored afterwards
    (``--batch`` runs inside other processes: tests, the bench)."""
    from django.db import connections

    changed = [a for a in connections if connections.settings[a].get("CONN_MAX_AGE") == 0]
    before = {a: connections[a].close_at for a in changed}
    for alias in changed:
        connections.settings[alias]["CONN_MAX_AGE"] = max_age
        # An open connection keeps the lifetime it was opened with: extend it in place
        # (closing it could break a caller's transaction, e.g. a test's).
        connections[alias].close_at = time.monotonic() + max_age
    try:
        yield
    finally:
        for alias in changed:
            connections.settings[alias]["CONN_MAX_AGE"] = 0
            connections[alias].close_at = before[alias]


class LeasedWorker(Worker):
    """django-tasks-db's worker, holding a lease while it lives (see ``WorkerLease``).

    The :class:`~project.worker.Heartbeat` thread renews the lease; with ``--batch`` (run
    inside tests and the bench, where no extra thread or connection is wanted) the lease
    is renewed before a task once a third of it has passed instead.
    """

    renewed_at = 0.0

    def run_task(self, db_task_result: Any) -> None:
        if time.monotonic() - self.renewed_at > task_lease_seconds() / 3:
            worker_lease_renew(worker_id=self.worker_id)
            self.renewed_at = time.monotonic()
        super().run_task(db_task_result)


class Command(BaseCommand):
    help = "Run Nimbus's local worker: database-queued tasks and periodic jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="Idle poll interval (s).")
        parser.add_argument("--batch", action="store_true", help="Drain the queue, then exit.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not run periodic jobs.")
        parser.add_argument(
            "--conn-max-age",
            type=int,
            default=WORKER_CONN_MAX_AGE,
            help="Seconds the worker keeps a database connection between tasks.",
        )

    def handle(
        self,
        *args: Any,
        interval: float,
        batch: bool,
        no_scheduler: bool,
        conn_max_age: int,
        **options: Any,
    ) -> None:
        with _kept_connections(conn_max_age):
            self._run(interval=interval, batch=batch, no_scheduler=no_scheduler)

    def _run(self, *, interval: float, batch: bool, no_scheduler: bool) -> None:
        scheduler = None
        if not no_scheduler and not batch:
            scheduler = Scheduler()
            scheduler.start()
        self.stdout.write(
            f"Nimbus worker: all queues, {len(periodic_jobs)} periodic job(s). Ctrl-C stops."
        )
        worker = LeasedWorker(
            queue_names=["*"],
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker_lease_renew(worker_id=worker.worker_id, started=True)
        worker.renewed_at = time.monotonic()
        heartbeat = None if batch else Heartbeat(worker.worker_id)
        if heartbeat:
            heartbeat.start()
        try:
            worker.run()
        finally:
            if heartbeat:
                heartbeat.stop()
            if scheduler:
                scheduler.stop()
            worker_lease_drop(worker_id=worker.worker_id)
