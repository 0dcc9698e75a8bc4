"""The local worker keeps one database connection across tasks (bench: events_per_s_local)."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.backends.signals import connection_created

from project.tasks import background

#: What each task saw: seconds its connection had left to live (None: no limit).
seen: list[float | None] = []


@background()
def record_connection_lifetime() -> None:
    connection.ensure_connection()
    close_at = connection.close_at
    seen.append(None if close_at is None else close_at - time.monotonic())


def _run_worker(*args: str) -> int:
    """Run five tasks through ``manage.py worker --batch``; returns connections opened."""
    opened: list[object] = []

    def count(sender: object, connection: object, **kwargs: object) -> None:
        opened.append(connection)

    seen.clear()
    for _ in range(5):
        record_connection_lifetime.enqueue()
    connection_created.connect(count)
    try:
        call_command("worker", "--batch", "--interval", "0", *args)
    finally:
        connection_created.disconnect(count)
    assert len(seen) == 5
    return len(opened)


@pytest.mark.django_db(transaction=True)
def test_the_worker_keeps_its_connection_between_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert connections.settings["default"]["CONN_MAX_AGE"] == 0  # the web's setting

    kept = _run_worker()
    assert all(left is not None and left > 250 for left in seen)  # WORKER_CONN_MAX_AGE 300
    # Restored afterwards: the worker's lifetime does not leak into its host process.
    assert connections.settings["default"]["CONN_MAX_AGE"] == 0

    reconnecting = _run_worker("--conn-max-age", "0")
    assert all(left is not None and left <= 0 for left in seen)
    # Django never closes an in-memory SQLite database, so only count on a real one.
    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        # The worker checks its connections between rounds (a round claims the five task
        # rows at once): with a lifetime of 0 it reconnects each round, kept it does not.
        assert kept <= 1
        assert reconnecting >= 2
        assert reconnecting > kept
