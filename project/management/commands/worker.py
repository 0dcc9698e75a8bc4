"""Run the local background worker: queued tasks and periodic jobs, until Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.db.utils import OperationalError
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from project import telemetry
from project.tasks import task_lease_seconds, worker_lease_drop, worker_lease_renew
from project.worker import Heartbeat, Scheduler, drains, periodic_jobs

logger = logging.getLogger("nimbus.worker")

#: The worker checks its connections around every round (``close_old_connections``); with
#: the web's CONN_MAX_AGE of 0 that reconnects (and re-runs SQLite's init pragmas) each
#: time, which capped the local event bus at a few events per second when it was per task.
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


#: Task rows claimed in one transaction (a worker killed holding them loses none: they are
#: recovered with its lease, ``project.tasks.tasks_recover``).
TASK_CLAIM_BATCH = 20


class LeasedWorker(Worker):
    """django-tasks-db's worker, holding a lease while it lives (see ``WorkerLease``),
    claiming task rows in batches and draining the queues apps register with
    :func:`project.worker.drain` (the local bus's deliveries).

    Each round runs every drain (each claims a batch of its due work in one transaction
    and runs the items one by one), then claims up to ``claim_batch`` ready task rows in
    one transaction and runs them one by one: two claims per round instead of one per task.
    A stop signal (SIGTERM, Ctrl-C) during a round lets the current item finish; what was
    claimed and not started is handed back at once.

    The :class:`~project.worker.Heartbeat` thread renews the lease; with ``--batch`` (run
    inside tests and the bench, where no extra thread or connection is wanted) the lease
    is renewed before a task once a third of it has passed instead.
    """

    renewed_at = 0.0
    claim_batch = TASK_CLAIM_BATCH
    in_round = False

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if self.running and self.in_round:
            logger.warning("Received %s - finishing the current item", signal.strsignal(signum))
            self.running = False
            return
        super().shutdown(signum, frame)

    def _renew(self) -> None:
        if time.monotonic() - self.renewed_at > task_lease_seconds() / 3:
            worker_lease_renew(worker_id=self.worker_id)
            self.renewed_at = time.monotonic()

    def run_task(self, db_task_result: Any) -> None:
        self._renew()
        super().run_task(db_task_result)

    def run(self) -> None:
        logger.info("Starting worker worker_id=%s", self.worker_id)
        while self.running:
            close_old_connections()
            self.in_round = True
            try:
                with telemetry.batched():
                    worked, retrieved = self._round()
            finally:
                self.in_round = False
            if self.batch and retrieved and not worked:
                return
            close_old_connections()
            if self.running and not worked:
                time.sleep(self.interval)

    def _round(self) -> tuple[int, bool]:
        worked = 0
        for run_drain in drains.values():
            if not self.running:
                break
            self._renew()
            worked += run_drain(lambda: self.running)
        rows, retrieved = self._claim_tasks() if self.running else ([], False)
        for index, row in enumerate(rows):
            if not self.running:
                self._unclaim(rows[index:])
                break
            self.run_task(row)
        return worked + len(rows), retrieved

    def _claim_tasks(self) -> tuple[list[Any], bool]:
        """Up to ``claim_batch`` ready rows, claimed in one transaction; False when the
        database was locked (nothing was looked at)."""
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        try:
            with exclusive_transaction(tasks.db):
                rows = list(tasks.select_for_update(skip_locked=True)[: self.claim_batch])
                now = timezone.now()
                # One UPDATE per distinct claim history (almost always one: never claimed).
                by_history: dict[str, list[Any]] = {}
                for row in rows:
                    by_history.setdefault(json.dumps(row.worker_ids), []).append(row)
                for group in by_history.values():
                    worker_ids = [*group[0].worker_ids, self.worker_id]
                    DBTaskResult.objects.filter(pk__in=[row.pk for row in group]).update(
                        status=TaskResultStatus.RUNNING, started_at=now, worker_ids=worker_ids
                    )
                    for row in group:
                        row.status, row.started_at = TaskResultStatus.RUNNING, now
                        row.worker_ids = worker_ids
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return [], False
            raise
        return rows, True

    def _unclaim(self, rows: list[Any]) -> None:
        """Hand back claimed rows this worker will not run (it is stopping)."""
        for row in rows:
            DBTaskResult.objects.filter(
                pk=row.pk, status=TaskResultStatus.RUNNING, started_at=row.started_at
            ).update(status=TaskResultStatus.READY, started_at=None, worker_ids=row.worker_ids[:-1])


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
