"""A user's notification ids commit in increasing order, so "everything after id n" is safe."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from apps.push.services import notification_create
from tests.apps.users.factories import user_create


@pytest.mark.django_db(transaction=True)
def test_a_later_notification_waits_for_the_earlier_one_to_commit():
    """B's notification cannot commit while A's (a lower id) is still uncommitted.

    On PostgreSQL the user's inbox row lock makes B wait; otherwise a client that saw B's
    id live could later ask for "everything after" it and never get A's.
    """
    alice = user_create()
    a_created = threading.Event()
    log: list[tuple[str, int]] = []

    def first() -> None:
        try:
            with transaction.atomic():
                n = notification_create(user_id=alice.pk, message={"type": "a"})
                a_created.set()
                time.sleep(0.4)
                log.append(("a committing", n.pk))
        finally:
            connection.close()

    def second() -> None:
        a_created.wait(5)
        try:
            with transaction.atomic():
                n = notification_create(user_id=alice.pk, message={"type": "b"})
                log.append(("b created", n.pk))
        except OperationalError:
            # SQLite's shared-cache test database refuses a second writer outright
            # ("table is locked") instead of waiting: no interleaving either.
            log.append(("b refused", 0))
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    order = [entry[0] for entry in log]
    assert "a committing" in order
    assert "b created" not in order[: order.index("a committing")]
    if connection.vendor == "postgresql":
        assert order == ["a committing", "b created"]
        assert log[0][1] < log[1][1]
