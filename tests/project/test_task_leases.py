"""Task rows whose worker died are recovered once the worker's lease lapses.

The real ``kill -9`` of a worker mid-task is in tests/apps/events/test_worker_crash.py;
these pin down which rows :func:`project.tasks.tasks_recover` takes and what it makes of
them, on the database task backend.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from project.models import WorkerLease
from project.tasks import WORKER_LOST, tasks_recover, worker_lease_renew
from tests.project import tasks_for_tests as t

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def database_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.NIMBUS_TASK_LEASE = {"lease_seconds": 60.0, "recover_seconds": 15.0}
    settings.NIMBUS_TASK_RETRY = {"max_attempts": 3, "base_delay": 0.0, "max_delay": 0.0}


def running_row(*, worker_ids: list[str], started_ago: float) -> Any:
    """A task row as a worker leaves it mid-task: claimed, ``RUNNING``."""
    from django_tasks_db.models import DBTaskResult

    result = t.flaky.enqueue("recovered", fail_times=0)
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING",
        worker_ids=worker_ids,
        started_at=timezone.now() - timedelta(seconds=started_ago),
    )
    return DBTaskResult.objects.get(pk=result.id)


def status_of(row: Any) -> str:
    row.refresh_from_db()
    return str(row.status)


@pytest.mark.django_db(transaction=True)  # the worker checks its connections between tasks
def test_a_row_whose_worker_holds_no_lease_runs_again():
    row = running_row(worker_ids=["dead"], started_ago=120)
    assert tasks_recover() == 1
    assert status_of(row) == "READY"
    t.calls.clear()
    call_command("worker", "--batch", "--interval", "0")
    assert t.calls == ["recovered"]
    assert status_of(row) == "SUCCESSFUL"


def test_a_row_whose_workers_lease_lapsed_runs_again_and_the_lease_is_forgotten():
    WorkerLease.objects.create(
        worker_id="dead",
        started_at=timezone.now() - timedelta(hours=1),
        lease_expires_at=timezone.now() - timedelta(minutes=5),
    )
    row = running_row(worker_ids=["dead"], started_ago=600)
    assert tasks_recover() == 1
    assert status_of(row) == "READY"
    assert not WorkerLease.objects.filter(pk="dead").exists()


def test_a_live_workers_long_task_is_left_alone():
    worker_lease_renew(worker_id="alive", started=True)
    row = running_row(worker_ids=["alive"], started_ago=3600)
    assert tasks_recover() == 0
    assert status_of(row) == "RUNNING"


def test_a_row_claimed_less_than_a_lease_ago_is_left_alone():
    """The claim and the worker's first lease are not one write: give it a lease's time."""
    row = running_row(worker_ids=["starting"], started_ago=5)
    assert tasks_recover() == 0
    assert status_of(row) == "RUNNING"


def test_a_task_that_keeps_killing_its_worker_fails_visibly(caplog):
    row = running_row(worker_ids=["w1", "w2", "w3"], started_ago=120)
    assert tasks_recover() == 1
    row.refresh_from_db()
    assert row.status == "FAILED"
    assert row.exception_class_path == WORKER_LOST
    assert "stopped before it finished (3 time(s)" in row.traceback
    assert "lost its worker 3 time(s); failing it" in caplog.text


def test_a_row_claimed_again_meanwhile_is_not_touched(monkeypatch):
    """The claim time fences the recovery: another worker's fresh claim wins."""
    from django_tasks_db.models import DBTaskResult

    row = running_row(worker_ids=["dead"], started_ago=120)
    real_update = DBTaskResult.objects.filter(pk=row.pk).update
    reclaimed = timezone.now()

    from project import tasks

    original = tasks._task_recover

    def reclaim_first(stale: Any, *, now: Any) -> int:
        real_update(worker_ids=["dead", "new"], started_at=reclaimed)
        return original(stale, now=now)

    monkeypatch.setattr(tasks, "_task_recover", reclaim_first)
    assert tasks_recover() == 0
    assert status_of(row) == "RUNNING"


@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_a_lease_while_it_runs_and_drops_it_when_it_stops():
    seen: list[bool] = []

    def during(**kwargs: Any) -> None:
        seen.append(WorkerLease.objects.filter(lease_expires_at__gt=timezone.now()).exists())

    from django.tasks.signals import task_started

    task_started.connect(during)
    try:
        t.flaky.enqueue("leased", fail_times=0)
        call_command("worker", "--batch", "--interval", "0")
    finally:
        task_started.disconnect(during)
    assert seen == [True]
    assert not WorkerLease.objects.exists()
