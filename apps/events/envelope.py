"""What a receiver is given: one event in EventBridge's shape, wherever it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from apps.events.exceptions import MalformedEventError


class StoredEvent(Protocol):
    """What :meth:`EventEnvelope.from_event` reads of an outbox row (``models.Event``)."""

    id: Any
    detail_type: str
    source: str
    detail: Any
    time: datetime


#: Key under which the AWS bus carries the outbox id inside ``detail`` (stripped on receipt).
META_KEY = "_nimbus"


@dataclass(frozen=True)
class EventEnvelope:
    """An event as EventBridge delivers it. ``id`` is the outbox id for Nimbus events.

    Receivers read attributes (``event.detail``, ``event.detail_type``) or, for code
    written against raw EventBridge dicts, keys (``event["detail"]``, ``event["id"]``).
    """

    id: str
    detail_type: str
    source: str
    detail: dict[str, Any]
    time: str
    account: str = ""
    region: str = ""
    resources: list[str] = field(default_factory=list)

    @classmethod
    def from_event(cls, event: StoredEvent) -> EventEnvelope:
        from django.conf import settings

        return cls(
            id=str(event.id),
            detail_type=event.detail_type,
            source=event.source,
            detail=event.detail,
            time=event.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            account=getattr(settings, "NIMBUS_EVENTS_ACCOUNT", "000000000000"),
            region=getattr(settings, "AWS_REGION", "local"),
        )

    @classmethod
    def from_eventbridge(cls, payload: Any) -> EventEnvelope:
        """Parse an EventBridge event dict, or raise :class:`MalformedEventError`."""
        if not isinstance(payload, Mapping):
            raise MalformedEventError("An EventBridge event must be a JSON object.")
        missing = [k for k in ("id", "detail-type", "source", "detail") if k not in payload]
        if missing:
            raise MalformedEventError(f"EventBridge event lacks {', '.join(missing)}.")
        detail = payload["detail"]
        if not isinstance(detail, Mapping):
            raise MalformedEventError("EventBridge event detail must be a JSON object.")
        detail = dict(detail)
        meta = detail.pop(META_KEY, None)
        event_id = str(meta.get("event_id")) if isinstance(meta, Mapping) else None
        resources = payload.get("resources") or []
        return cls(
            id=event_id or str(payload["id"]),
            detail_type=str(payload["detail-type"]),
            source=str(payload["source"]),
            detail=detail,
            time=str(payload.get("time", "")),
            account=str(payload.get("account", "")),
            region=str(payload.get("region", "")),
            resources=[str(r) for r in resources] if isinstance(resources, list) else [],
        )

    def __getitem__(self, key: str) -> Any:
        """``event["detail"]``, ``event["detail-type"]``: the EventBridge dict's keys."""
        return self.as_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """EventBridge's JSON shape (what patterns are matched against)."""
        return {
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": list(self.resources),
            "detail": self.detail,
        }
