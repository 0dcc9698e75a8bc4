"""The AWS bus: outbox events go to EventBridge with ``PutEvents``.

Entries are sent in requests of at most 10 entries and 256 KB (EventBridge's entry size
rule: Source, DetailType, Detail, Resources and 14 bytes for Time). ``PutEvents`` is not
atomic: ``FailedEntryCount`` > 0 means some entries were refused (throttling, internal
errors); exactly those are sent again, a few times with backoff. An entry still refused
is *not* reported as accepted, so it stays ``pending`` in the outbox and the sweeper
retries it later; nothing is dropped.

Rules on the bus (one per receiver, see :mod:`apps.events.registry`) route each event to
its receiver group's SQS queue; :func:`apps.events.entry.handle_sqs` runs the receivers.
The outbox id travels inside ``detail`` under ``_nimbus`` so a republished event is
recognised by the receivers' inbox; it is removed before receivers see ``detail``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from apps.events.backends.base import EventBus
from apps.events.envelope import META_KEY

if TYPE_CHECKING:
    from apps.events.models import Event

logger = logging.getLogger("nimbus.events.aws")

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it against the 256 KB request limit."""
    size = 14 if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size


def batches(
    entries: Sequence[tuple[str, dict[str, Any]]],
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Split ``(id, entry)`` pairs into PutEvents requests within both limits."""
    batch: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for item in entries:
        item_size = entry_size(item[1])
        if batch and (len(batch) == MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


class EventBridgeBus(EventBus):
    default_options = {
        "bus_name": "default",
        "region_name": None,
        "endpoint_url": None,
        # how often to resend entries PutEvents refused, within one send()
        "retries": 3,
        "retry_delay": 0.2,
    }

    @property
    def client(self) -> Any:
        return self.aws_client("events")

    def check(self, **kwargs: Any) -> list[Any]:
        from django.core import checks

        if not self.options["bus_name"]:
            return [
                checks.Error(
                    "EventBridgeBus needs OPTIONS['bus_name'] (env EVENT_BUS_NAME).",
                    id="events.E010",
                )
            ]
        return []

    def entry(self, event: Event) -> dict[str, Any]:
        return {
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": json.dumps({**event.detail, META_KEY: {"event_id": str(event.id)}}),
            "EventBusName": self.options["bus_name"],
            "Time": event.time,
        }

    def send(self, events: Sequence[Event]) -> list[str]:
        accepted: list[str] = []
        for batch in batches([(str(event.id), self.entry(event)) for event in events]):
            accepted.extend(self._put(batch))
        return accepted

    def _put(self, batch: list[tuple[str, dict[str, Any]]]) -> list[str]:
        accepted: list[str] = []
        pending = batch
        for attempt in range(int(self.options["retries"]) + 1):
            if attempt:
                time.sleep(float(self.options["retry_delay"]) * 2 ** (attempt - 1))
            response = self.client.put_events(Entries=[entry for _, entry in pending])
            failed = []
            for (event_id, entry), result in zip(pending, response["Entries"], strict=True):
                if result.get("EventId") and not result.get("ErrorCode"):
                    accepted.append(event_id)
                else:
                    failed.append((event_id, entry))
                    logger.warning(
                        "PutEvents refused event %s: %s %s",
                        event_id,
                        result.get("ErrorCode"),
                        result.get("ErrorMessage"),
                    )
            if not failed:
                break
            pending = failed
        else:
            logger.error(
                "%d event(s) still refused by PutEvents; left pending for the outbox sweeper",
                len(pending),
            )
        return accepted
