"""A worker killed mid-delivery loses nothing and doubles nothing.

Real processes on a real database (a file SQLite database; also PostgreSQL when the suite
runs on it): events are published, ``manage.py worker`` runs their deliveries and is
SIGKILLed while one receiver is inside its transaction (effect written, not committed).
A new worker re-claims that delivery once its lease expires. Every event's effect must
exist exactly once, and the killed worker's task row must not stay ``RUNNING``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import start_worker, wait_until

REPO = Path(__file__).resolve().parents[3]
EVENTS = 6
HANG_ON = 3
Query = Callable[..., list[tuple[Any, ...]]]


def _sqlite(tmp_path: Path) -> Iterator[tuple[str, Query]]:
    db = tmp_path / "nimbus.sqlite3"

    def query(sql: str, *params: object) -> list[tuple[Any, ...]]:
        sql = sql.replace("%s", "?").replace("{n}", "json_extract(e.detail, '$.n')")
        with sqlite3.connect(db, timeout=20) as conn:
            return conn.execute(sql, params).fetchall()

    yield f"sqlite:///{db}", query


def _postgres(tmp_path: Path) -> Iterator[tuple[str, Query]]:
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"nimbus_events_crash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def query(sql: str, *params: object) -> list[tuple[Any, ...]]:
        sql = sql.replace("{n}", "(e.detail->>'n')::int")
        with psycopg.connect(f"{base}/{name}") as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    try:
        yield f"{base}/{name}", query
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.fixture(params=["sqlite", *(["postgresql"] if _ON_POSTGRES else [])])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Query]]:
    factory = _sqlite if request.param == "sqlite" else _postgres
    yield from factory(tmp_path)


@pytest.fixture
def env(tmp_path: Path, database: tuple[str, Query]) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.apps.events.worker_settings",
        "DATABASE_URL": database[0],
        "NIMBUS_KILLTEST_DIR": str(tmp_path),
        "NIMBUS_KILLTEST_HANG": str(HANG_ON),
        "LOG_LEVEL": "WARNING",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


TASKS_RUNNING = "select count(*) from django_tasks_database_dbtaskresult where status = 'RUNNING'"
HUNG_DELIVERY = (
    "select d.status, d.attempts from events_delivery d join events_event e "
    "on e.id = d.event_id where {n} = %s"
)


@pytest.mark.slow
def test_worker_killed_mid_delivery_delivers_every_effect_exactly_once(
    env: dict[str, str],
    tmp_path: Path,
    database: tuple[str, Query],
    workers: list[subprocess.Popen[bytes]],
) -> None:
    query = database[1]
    _manage(env, "migrate", "--no-input")
    _manage(
        env,
        "shell",
        "-c",
        "from apps.events.services import publish\n"
        f"for n in range({EVENTS}): publish('killtest.Work', {{'n': n}})",
    )
    # The worker relays the outbox (the local bus's `worker` dispatch): until it runs, the
    # events wait in the outbox and no delivery exists yet.
    assert query("select count(*) from events_event where state = 'pending'") == [(EVENTS,)]
    assert query("select count(*) from events_delivery") == [(0,)]

    first = start_worker(env, tmp_path, 1)
    workers.append(first)
    wait_until(lambda: (tmp_path / "hanging").exists(), 60, "the receiver to hang mid-delivery")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert query(HUNG_DELIVERY, HANG_ON) == [("running", 1)]

    second = start_worker(env, tmp_path, 2)
    workers.append(second)
    wait_until(
        lambda: (
            query("select count(*) from events_delivery where status = 'succeeded'") == [(EVENTS,)]
        ),
        60,
        "every delivery to succeed after the restart",
    )
    effects = query("select name from auth_group where name like 'effect:%%'")
    per_event = sorted(int(str(name).split(":")[1]) for (name,) in effects)
    assert per_event == list(range(EVENTS))
    assert query("select count(*) from events_inbox") == [(EVENTS,)]
    assert query(HUNG_DELIVERY, HANG_ON) == [("succeeded", 2)]
    # The killed worker's task row is recovered too once its lease lapses: nothing is
    # left RUNNING, and the dead worker's lease is gone while the live one holds its own.
    wait_until(
        lambda: query(TASKS_RUNNING) == [(0,)],
        60,
        "the killed worker's task row to be recovered",
    )
    wait_until(
        lambda: query("select count(*) from nimbus_workerlease") == [(1,)],
        60,
        "the killed worker's lease to be forgotten",
    )
