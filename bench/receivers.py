"""The bench's event type and receiver: the pipeline's own cost, with a trivial effect.

Registered only inside bench processes. The receiver's effect is the inbox row that
every receiver commits with its work (exactly-once bookkeeping), nothing more.
"""

from __future__ import annotations

from typing import Any

from apps.events.registry import declare_event, receiver

PING = "bench.Ping"

declare_event(
    PING,
    source="nimbus.bench",
    schema={
        "type": "object",
        "required": ["n"],
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": False,
    },
    description="A numbered ping used by make bench.",
)

received: list[int] = []


@receiver(PING, name="bench.count", group="bench")
def count(event: Any) -> None:
    received.append(event.detail["n"])
