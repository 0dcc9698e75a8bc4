"""System checks for every backend family registered through project.backends.handler()."""

from __future__ import annotations

from typing import Any

from django.core import checks

from project import backends


@checks.register("nimbus")
def check_backends(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for handler in backends.registry:
        messages.extend(handler.check(**kwargs))
    return messages
