"""Run the local background worker: queued tasks and periodic jobs, until Ctrl-C."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from project.worker import Scheduler, periodic_jobs


class Command(BaseCommand):
    help = "Run Nimbus's local worker: database-queued tasks and periodic jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="Idle poll interval (s).")
        parser.add_argument("--batch", action="store_true", help="Drain the queue, then exit.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not run periodic jobs.")

    def handle(
        self, *args: Any, interval: float, batch: bool, no_scheduler: bool, **options: Any
    ) -> None:
        scheduler = None
        if not no_scheduler and not batch:
            scheduler = Scheduler()
            scheduler.start()
        self.stdout.write(
            f"Nimbus worker: all queues, {len(periodic_jobs)} periodic job(s). Ctrl-C stops."
        )
        worker = Worker(
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
        try:
            worker.run()
        finally:
            if scheduler:
                scheduler.stop()
