"""Event buses, selected by ``settings.NIMBUS_EVENTS`` (see project/backends.py)."""

from __future__ import annotations

from apps.events.backends.base import EventBus
from project.backends import handler

buses = handler("NIMBUS_EVENTS", EventBus)

__all__ = ["EventBus", "buses"]
