"""A worker killed mid-delivery loses nothing and doubles nothing.

Real processes on a real database (a file SQLite database; also PostgreSQL when the suite
runs on it): events are published, ``manage.py worker`` runs their deliveries and is
SIGKILLed while one receiver is inside its transaction (effect written, not committed).
A new worker re-claims that delivery once its lease expires. Every event's effect must
exist exactly once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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


def _start(env: dict[str, str], tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"worker-{n}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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
    assert query("select count(*) from events_delivery") == [(EVENTS,)]

    first = _start(env, tmp_path, 1)
    workers.append(first)
    _wait(lambda: (tmp_path / "hanging").exists(), 60, "the receiver to hang mid-delivery")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert query(HUNG_DELIVERY, HANG_ON) == [("running", 1)]

    second = _start(env, tmp_path, 2)
    workers.append(second)
    _wait(
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
