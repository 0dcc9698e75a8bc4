"""A bus that records what it was given (tests, and code paths that need no delivery)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apps.events.backends.base import EventBus

if TYPE_CHECKING:
    from apps.events.models import Event


class DummyBus(EventBus):
    """Accepts every event and keeps its EventBridge-shaped dict in :attr:`sent`."""

    default_options = {"accept": True}

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        self.sent: list[dict[str, Any]] = []

    def send(self, events: Sequence[Event]) -> list[str]:
        if not self.options["accept"]:
            return []
        self.sent.extend(event.as_eventbridge() for event in events)
        return [str(event.id) for event in events]
