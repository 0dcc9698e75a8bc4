"""Exactly-once runs of receivers, atomic (the default) and ``atomic=False`` (slow work).

These tests commit for real (``transaction=True``): what matters is whether a
transaction is open while the receiver runs and what is left committed afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection

from apps.events import registry
from apps.events.delivery import receiver_run
from apps.events.envelope import EventEnvelope
from apps.events.models import Inbox

pytestmark = pytest.mark.django_db(transaction=True)


def _envelope() -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        detail_type="shop.OrderPlaced",
        source="nimbus.shop",
        detail={"order_id": "o-1"},
        time="2026-11-27T12:00:00Z",
    )


def _receiver(isolated: None, *, atomic: bool, fail: bool = False) -> tuple[Any, list[bool]]:
    """A receiver that records whether a transaction was open while it ran."""
    in_transaction: list[bool] = []

    def run(event: EventEnvelope) -> None:
        in_transaction.append(connection.in_atomic_block)
        if fail:
            raise RuntimeError("the receiver failed")

    registry.receiver("shop.OrderPlaced", name="shop.slow", atomic=atomic)(run)
    return registry.receivers["shop.slow"], in_transaction


@pytest.mark.parametrize("atomic", [True, False])
def test_runs_once_per_event_either_way(isolated_registry, atomic):
    receiver, seen = _receiver(isolated_registry, atomic=atomic)
    envelope = _envelope()
    also: list[str] = []
    assert receiver_run(receiver=receiver, envelope=envelope, also=lambda: also.append("x"))
    assert not receiver_run(receiver=receiver, envelope=envelope, also=lambda: also.append("y"))
    assert len(seen) == 1
    assert also == ["x", "y"]  # a duplicate is still acknowledged (delivery marked done)
    assert Inbox.objects.filter(event_id=envelope.id, receiver="shop.slow").count() == 1


@pytest.mark.parametrize(("atomic", "held"), [(True, True), (False, False)])
def test_only_an_atomic_receiver_runs_inside_a_transaction(isolated_registry, atomic, held):
    receiver, seen = _receiver(isolated_registry, atomic=atomic)
    receiver_run(receiver=receiver, envelope=_envelope())
    assert seen == [held]


@pytest.mark.parametrize("atomic", [True, False])
def test_a_failing_receiver_leaves_no_inbox_row_and_is_run_again(isolated_registry, atomic):
    receiver, seen = _receiver(isolated_registry, atomic=atomic, fail=True)
    envelope = _envelope()
    also: list[str] = []
    for _ in range(2):
        with pytest.raises(RuntimeError, match="the receiver failed"):
            receiver_run(receiver=receiver, envelope=envelope, also=lambda: also.append("x"))
    assert len(seen) == 2
    assert also == []
    assert not Inbox.objects.exists()


def test_a_non_atomic_receiver_that_raced_a_duplicate_is_recorded_once(isolated_registry):
    """Two deliveries of one event both pass the inbox check; both rows cannot commit."""
    receiver, _ = _receiver(isolated_registry, atomic=False)
    envelope = _envelope()

    def run_and_meanwhile_a_duplicate(event: EventEnvelope) -> None:
        Inbox.objects.create(event_id=envelope.id, receiver="shop.slow")

    racing = registry.Receiver(
        name="shop.slow",
        pattern=receiver.pattern,
        group=receiver.group,
        func=run_and_meanwhile_a_duplicate,
        atomic=False,
    )
    assert receiver_run(receiver=racing, envelope=envelope)
    assert Inbox.objects.filter(event_id=envelope.id).count() == 1


def test_file_inspection_is_declared_non_atomic():
    assert registry.receivers["files.inspect"].atomic is False
    assert registry.receivers["files.object_created"].atomic is True
