"""System checks on the events registry (IDs events.W001..)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from apps.events import registry


@checks.register("nimbus")
def check_receivers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about receivers waiting for a ``nimbus.*`` detail-type nobody declared."""
    messages: list[checks.CheckMessage] = []
    for r in registry.receivers.values():
        for detail_type in r.pattern.get("detail-type", []):
            if (
                isinstance(detail_type, str)
                and "." in detail_type
                and detail_type not in registry.event_types
            ):
                messages.append(
                    checks.Warning(
                        f"Receiver {r.name!r} listens to undeclared event type "
                        f"{detail_type!r}; it will never be published.",
                        hint="declare_event() it in apps/<app>/events.py.",
                        id="events.W001",
                    )
                )
    return messages
