"""Local push: Channels. Each browser's consumer joins the group ``user.<id>``.

The in-memory channel layer (the embedded default) lives inside the server process, but
most pushes come from ``manage.py worker`` — another process. With ``relay=True`` the
backend writes frames to the ``LiveMessage`` table and the server process relays them to
its channel layer within a fraction of a second (:mod:`apps.push.relay`). With a
cross-process layer (Redis, ``REDIS_URL``) ``relay=False`` sends to the layer directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from django.core import checks

from apps.push.backends.base import SESSION_ENDED, PushBackend, user_group

_pending: set[asyncio.Task[None]] = set()

#: The channel-layer message type handled by ``PushConsumer.push_frame``.
FRAME_EVENT = "push.frame"
#: The channel-layer message type handled by ``PushConsumer.push_close``.
CLOSE_EVENT = "push.close"


def layer_event(frame: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message for a frame: a ``session.ended`` frame closes the socket."""
    if frame.get("type") == SESSION_ENDED:
        return {"type": CLOSE_EVENT}
    return {"type": FRAME_EVENT, "frame": frame}


class ChannelsPushBackend(PushBackend):
    is_local = True
    default_options = {"channel_layer": "default", "relay": False}

    def send(self, *, user_ids: Sequence[int], frame: dict[str, Any]) -> None:
        if not user_ids:
            return
        if self.options["relay"]:
            from apps.push.models import LiveMessage

            LiveMessage.objects.bulk_create(
                [LiveMessage(user_id=int(user_id), frame=frame) for user_id in user_ids]
            )
            return
        self._group_send(user_ids, frame)

    def close(self, *, user_ids: Sequence[int]) -> None:
        # Through the same path as frames, so `manage.py worker` or an operator's command
        # reaches the server process's sockets too; the consumer sends the last frame.
        self.send(user_ids=user_ids, frame={"type": SESSION_ENDED})

    def layer(self) -> Any:
        from channels.layers import get_channel_layer

        layer = get_channel_layer(self.options["channel_layer"])
        if layer is None:
            raise RuntimeError(f"No channel layer {self.options['channel_layer']!r}.")
        return layer

    def _group_send(self, user_ids: Sequence[int], frame: dict[str, Any]) -> None:
        layer = self.layer()

        async def fan_out() -> None:
            for user_id in user_ids:
                await layer.group_send(user_group(user_id), layer_event(frame))

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(fan_out)()
        else:
            # Called from async code: schedule on the running loop instead of blocking it
            # (keeping a reference so the task is not garbage-collected mid-flight).
            task = loop.create_task(fan_out())
            _pending.add(task)
            task.add_done_callback(_pending.discard)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        from django.conf import settings

        backend = settings.CHANNEL_LAYERS.get(self.options["channel_layer"], {}).get("BACKEND", "")
        if not self.options["relay"] and backend.endswith("InMemoryChannelLayer"):
            return [
                checks.Warning(
                    f"NIMBUS_PUSH[{self.alias!r}] sends straight to an in-memory channel layer: "
                    "pushes made by `manage.py worker` never reach browsers.",
                    hint="Set OPTIONS relay=True, or use Redis (REDIS_URL).",
                    id="push.W001",
                )
            ]
        return []
