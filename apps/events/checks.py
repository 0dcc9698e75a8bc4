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


@checks.register("nimbus")
def check_aws_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Receiver groups must not collide with reserved queues; rule names must fit AWS."""
    from django.conf import settings

    messages: list[checks.CheckMessage] = []
    prefix = f"nimbus-{registry.aws_name(settings.NIMBUS_STAGE)}-"
    for r in registry.receivers.values():
        if registry.aws_name(r.group) in registry.RESERVED_GROUPS:
            messages.append(
                checks.Error(
                    f"Receiver {r.name!r} uses the reserved group {r.group!r}.",
                    hint=f"Reserved queue names: {', '.join(sorted(registry.RESERVED_GROUPS))}.",
                    id="events.E001",
                )
            )
    named: list[registry.Receiver | registry.Schedule] = [
        *registry.receivers.values(),
        *registry.schedules.values(),
    ]
    for item in named:
        rule = prefix + item.rule_name_suffix
        if len(rule) > 64:
            messages.append(
                checks.Error(
                    f"EventBridge rule name {rule!r} for {item.name!r} is longer than 64.",
                    hint="Give the receiver or job a shorter name=.",
                    id="events.E002",
                )
            )
    suffixes: dict[str, str] = {}
    for item in named:
        other = suffixes.setdefault(item.rule_name_suffix, item.name)
        if other != item.name:
            messages.append(
                checks.Error(
                    f"{item.name!r} and {other!r} map to the same AWS rule name "
                    f"{prefix + item.rule_name_suffix!r}.",
                    id="events.E003",
                )
            )
    return messages
