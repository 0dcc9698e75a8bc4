"""The WebSocket consumer at ``/ws/`` (local; API Gateway WebSocket plays this part on AWS).

Authenticated by the Django session (``AuthMiddlewareStack``; only for handshakes whose
``Origin`` is one of our hosts, see :mod:`apps.push.origin`), a connect ticket
(``?ticket=``) or an access token (``?token=``). Anonymous connections are refused during
the handshake. Each connection joins its user's group ``user.<id>`` only, so nobody
receives another user's frames. When the user's sessions end (``push.close`` on the
group) the socket gets ``{"type": "session.ended"}`` and is closed. Client frames:
``{"type": "catch_up", "after": <id>}`` and ``{"type": "ping"}``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.push.auth import Principal
from apps.push.backends import push_backend
from apps.push.backends.base import SESSION_ENDED, user_group
from apps.push.backends.local import ChannelsPushBackend

logger = logging.getLogger("nimbus.push")

#: Close code for a refused handshake-time authentication (4000-4999: application codes).
CLOSE_UNAUTHENTICATED = 4401


class PushConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None
    relay: Any = None
    ended = False

    async def connect(self) -> None:
        principal = await self._authenticate()
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = principal.user_id
        self.group = user_group(self.user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if not await _still_signed_in(principal):
            # Signed out between the check and joining the group: nothing closed this one.
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.user_id = None
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        backend = push_backend()
        if isinstance(backend, ChannelsPushBackend) and backend.options["relay"]:
            from apps.push.relay import relay_for_loop

            self.relay = relay_for_loop(self.channel_layer)
            self.relay.attach()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.relay is not None:
            self.relay.detach()
            self.relay = None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.ended:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "catch_up":
            after = content.get("after", 0)
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                await self._error("invalid_input", "'after' must be a non-negative integer.")
                return
            for frame in await _catch_up(self.user_id, after):
                await self.send_json(frame)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self._error("unknown_type", "Expected a 'catch_up' or 'ping' frame.")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        import json

        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self._error("invalid_json", "Frames must be JSON objects.")
            return
        await self.receive_json(content)

    async def push_frame(self, event: dict[str, Any]) -> None:
        """A frame for this user from the channel layer (``type: push.frame``)."""
        if not self.ended:
            await self.send_json(event["frame"])

    async def push_close(self, event: dict[str, Any]) -> None:
        """The user's sessions ended (``type: push.close``): say so, then close."""
        if self.ended:
            return
        self.ended = True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.send_json({"type": SESSION_ENDED})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def _authenticate(self) -> Principal | None:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_active:
            return Principal(user_id=int(user.pk), valid_after=user.tokens_valid_after)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token, ticket = query.get("token", [""])[0], query.get("ticket", [""])[0]
        if token or ticket:
            return await _principal_for_credentials(token, ticket)
        return None


@database_sync_to_async
def _catch_up(user_id: int | None, after: int) -> list[dict[str, Any]]:
    from apps.push.services import notifications_catch_up

    assert user_id is not None
    return notifications_catch_up(user_id=user_id, after=after)


@database_sync_to_async
def _principal_for_credentials(token: str, ticket: str) -> Principal | None:
    from apps.push.auth import principal_for_credentials

    return principal_for_credentials(token=token, ticket=ticket)


@database_sync_to_async
def _still_signed_in(principal: Principal) -> bool:
    from apps.push.auth import still_signed_in

    return still_signed_in(principal)
