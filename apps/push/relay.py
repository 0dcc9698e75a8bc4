"""Relays ``LiveMessage`` rows written by other processes to this process's channel layer.

Runs inside the server process (daphne) while at least one consumer is connected: polls
the table a few times a second, ``group_send``s each new row to ``user.<id>`` (a
``session.ended`` row closes that user's sockets) and prunes rows older than a minute.
One relay per event loop.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from apps.push.backends.base import user_group
from apps.push.backends.local import layer_event

logger = logging.getLogger("nimbus.push")

POLL_SECONDS = 0.1
#: Rows are looked at for this long (so one committed late, with a lower id, is not missed).
WINDOW = timedelta(seconds=10)


class LiveRelay:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.clients = 0
        self.task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        self.clients += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def detach(self) -> None:
        self.clients = max(0, self.clients - 1)

    async def _run(self) -> None:
        started = timezone.now()
        seen: dict[int, Any] = {}
        polls = 0
        while self.clients > 0:
            try:
                rows = await _fetch(since=max(started, timezone.now() - WINDOW), seen=seen)
                for row_id, user_id, frame, created_at in rows:
                    seen[row_id] = created_at
                    await self.layer.group_send(user_group(user_id), layer_event(frame))
                polls += 1
                if polls % 300 == 0:  # about every 30 s
                    cutoff = timezone.now() - WINDOW
                    seen = {k: v for k, v in seen.items() if v >= cutoff}
                    await _prune()
            except Exception:
                logger.exception("Live message relay failed; retrying")
            await asyncio.sleep(POLL_SECONDS)


@database_sync_to_async
def _fetch(*, since: Any, seen: dict[int, Any]) -> list[tuple[int, int, Any, Any]]:
    from apps.push.models import LiveMessage

    rows = LiveMessage.objects.filter(created_at__gte=since).order_by("id")
    return [r for r in rows.values_list("id", "user_id", "frame", "created_at") if r[0] not in seen]


@database_sync_to_async
def _prune() -> None:
    from apps.push.services import live_messages_prune

    live_messages_prune()


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveRelay] = (
    weakref.WeakKeyDictionary()
)


def relay_for_loop(layer: Any) -> LiveRelay:
    """The relay of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None:
        relay = _relays[loop] = LiveRelay(layer)
    return relay
