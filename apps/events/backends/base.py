"""The contract every event bus implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from project.backends import Backend

if TYPE_CHECKING:
    from apps.events.models import Event


class EventBus(Backend):
    """Carries outbox events to receivers.

    :meth:`send` is called after the publishing transaction committed (and again by the
    outbox sweeper for events still pending). It returns the ids of the events the bus
    has durably accepted; the caller marks exactly those as published. Sending the same
    event twice must not duplicate effects (receivers are guarded by the inbox), and an
    event the bus could not accept must simply be left out of the result, never dropped.
    """

    #: True for a bus whose acceptance is a write to Nimbus's own database: ``send`` then
    #: runs inside the transaction that marks the events published, and must raise (not
    #: leave events out) when it cannot accept them.
    transactional = False

    @property
    def relayed(self) -> bool:
        """True when a worker relays the outbox to this bus itself (``outbox_relay``):
        ``publish()`` then hands nothing to the bus at commit."""
        return False

    def send(self, events: Sequence[Event]) -> list[str]:
        raise NotImplementedError
