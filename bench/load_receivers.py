"""The event type and receiver of `make load`'s Lambda scenario (registered only there).

The effect is a row named after the event, with a unique suffix, so an event whose effect
ran twice shows up as two rows: what the reconciliation counts.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import Group

from apps.events.registry import declare_event, receiver

LOAD_PING = "load.Ping"
GROUP = "load"
EFFECT_PREFIX = "load-effect:"

declare_event(
    LOAD_PING,
    source="nimbus.load",
    schema={
        "type": "object",
        "required": ["n"],
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": False,
    },
    description="A numbered ping fed through the Lambda entry by make load.",
)


@receiver(LOAD_PING, name="load.effect", group=GROUP)
def effect(event: Any) -> None:
    Group.objects.create(name=f"{EFFECT_PREFIX}{event.id}:{uuid.uuid4().hex[:12]}")
