"""The local background worker: Django Tasks from the database plus periodic jobs.

Apps register periodic work with :func:`every` (the events app's ``@scheduled`` uses it
locally; on AWS the same jobs run from EventBridge schedule rules). The worker runs them
in a thread beside the task loop; each job runs at most once at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

logger = logging.getLogger("nimbus.worker")


@dataclass
class PeriodicJob:
    name: str
    interval: float
    func: Callable[[], object]
    next_run: float = field(default=0.0)


periodic_jobs: dict[str, PeriodicJob] = {}

#: Queues the worker drains itself, beside the task rows: name -> a function that claims a
#: batch of its due work, runs it, and returns how many items it claimed (0: none due).
#: It is given ``keep_going()``, false once the worker is asked to stop.
Drain = Callable[[Callable[[], bool]], int]
drains: dict[str, Drain] = {}


def drain(name: str) -> Callable[[Drain], Drain]:
    """Have ``manage.py worker`` call the decorated function on every round."""

    def decorate(func: Drain) -> Drain:
        drains[name] = func
        return func

    return decorate


def every(
    seconds: float, *, name: str | None = None
) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Run the decorated function every ``seconds`` while a local worker runs."""

    def decorate(func: Callable[[], object]) -> Callable[[], object]:
        job_name = name or f"{func.__module__}.{func.__qualname__}"
        periodic_jobs[job_name] = PeriodicJob(job_name, float(seconds), func)
        return func

    return decorate


def run_due_jobs(now: float | None = None) -> list[str]:
    """Run every job whose time has come; returns the names run. Errors are logged."""
    now = time.monotonic() if now is None else now
    ran = []
    for job in list(periodic_jobs.values()):
        if job.next_run > now:
            continue
        job.next_run = now + job.interval
        try:
            job.func()
        except Exception:
            logger.exception("Periodic job %s failed", job.name)
        finally:
            close_old_connections()
        ran.append(job.name)
    return ran


class Scheduler(threading.Thread):
    """Runs periodic jobs once a second until stopped."""

    def __init__(self) -> None:
        super().__init__(name="nimbus-scheduler", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            run_due_jobs()
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()


class Heartbeat(threading.Thread):
    """Renews the worker's lease every third of its length until stopped.

    A thread of its own, so a long task or a slow periodic job never lets the lease of a
    live worker lapse; ``kill -9`` stops it with the worker, and the lease lapses.
    """

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="nimbus-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopping = threading.Event()

    def run(self) -> None:
        from project.tasks import task_lease_seconds, worker_lease_renew

        while not self.stopping.wait(task_lease_seconds() / 3):
            try:
                worker_lease_renew(worker_id=self.worker_id)
            except Exception:
                logger.exception("Could not renew the worker's lease")
            finally:
                close_old_connections()

    def stop(self) -> None:
        self.stopping.set()


def _recover_seconds() -> float:
    from django.conf import settings

    return float(settings.NIMBUS_TASK_LEASE["recover_seconds"])


@every(_recover_seconds(), name="tasks.recover-lost")
def recover_lost_tasks() -> None:
    """Locally: run again (or fail) task rows whose worker died (lapsed lease)."""
    from project.tasks import tasks_recover

    tasks_recover()
