"""Executions waiting when the worker is killed complete after it restarts.

Real processes on a file SQLite database: executions are started, ``manage.py worker``
advances them into their Wait (and one into a callback wait), and is SIGKILLed. While no
worker runs, the callback is answered and one execution's queued continuation is deleted
(as if lost). A new worker must finish every execution — the queued continuations from the
database, the lost one through the reconciler — each exactly once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import start_worker, wait_until

REPO = Path(__file__).resolve().parents[3]
WAITING = 3


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.apps.workflows.worker_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'nimbus.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return done.stdout


def query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=20) as conn:
        return conn.execute(sql, params).fetchall()


def count(db: Path, event_type: str) -> int:
    rows = query(db, "select count(*) from workflows_historyevent where type = ?", event_type)
    return int(rows[0][0])  # type: ignore[call-overload]


START = """
from apps.workflows.services import execution_start
from tests.apps.workflows import steps
for n in range({waiting}):
    execution_start(workflow="wait_then_echo", input={{"seconds": 4, "n": n}}, name=f"w{{n}}")
execution_start(workflow="approval", input={{"doc": "d"}}, name="ask")
"""

ANSWER = """
from apps.workflows.models import TaskToken
from apps.workflows.services import task_resolve
task = TaskToken.objects.get(execution__name="ask")
task_resolve(task=task, outcome="success", output={"approved": True}, actor="test")
"""


@pytest.mark.slow
def test_killed_worker_restarts_and_completes_waiting_executions(env, tmp_path, workers):
    db = tmp_path / "nimbus.sqlite3"
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", START.format(waiting=WAITING))

    first = start_worker(env, tmp_path, 1)
    workers.append(first)
    wait_until(lambda: count(db, "WaitStateEntered") == WAITING, 60, "executions to reach Wait")
    wait_until(lambda: count(db, "TaskSubmitted") == 1, 30, "the approval to wait")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert query(db, "select count(*) from workflows_execution where status = 'RUNNING'") == [
        (WAITING + 1,)
    ]

    manage(env, "shell", "-c", ANSWER)
    w0 = str(
        uuid.UUID(str(query(db, "select id from workflows_execution where name = 'w0'")[0][0]))
    )
    lost = query(
        db,
        "select id from django_tasks_database_dbtaskresult where status = 'READY' "
        "and args_kwargs like ?",
        f"%{w0}%",
    )
    assert lost, "the continuation of w0 should be queued"
    for (task_id,) in lost:  # every queued continuation of w0: only the reconciler is left
        query(db, "delete from django_tasks_database_dbtaskresult where id = ?", task_id)

    second = start_worker(env, tmp_path, 2)
    workers.append(second)
    wait_until(
        lambda: (
            query(db, "select count(*) from workflows_execution where status = 'SUCCEEDED'")
            == [(WAITING + 1,)]
        ),
        60,
        "every execution to succeed after the restart",
    )
    assert count(db, "ExecutionSucceeded") == WAITING + 1
    assert count(db, "TaskSucceeded") == WAITING + 1  # each echo ran once, plus the approval
    assert count(db, "ExecutionStarted") == WAITING + 1
