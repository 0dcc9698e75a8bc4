"""The push backend family: deliver a JSON frame to every open connection of some users.

Settings (``NIMBUS_PUSH``) choose the implementation:

* ``apps.push.backends.local.ChannelsPushBackend`` — Channels; each connected browser's
  consumer sits in the channel-layer group ``user.<id>``;
* ``apps.push.backends.aws.ApiGatewayPushBackend`` — API Gateway WebSocket; connections
  registered in DynamoDB, frames sent with ``post_to_connection``;
* ``apps.push.backends.dummy.DummyPushBackend`` — records frames, for tests.

Contract: :meth:`PushBackend.send` is called after commit with frames that already fit
``max_message_bytes`` (services check the size and substitute a reference); it delivers
at most once per open connection and never raises for a connection that went away
(live delivery is best effort — stored notifications are the durable path).
:meth:`PushBackend.close` ends every open connection of some users (their sessions
ended): each gets a last ``{"type": "session.ended"}`` frame, then is closed and
receives nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder

from project.backends import Backend

#: API Gateway WebSocket's limit for one message; applied by every backend for parity.
MAX_MESSAGE_BYTES = 128 * 1024

#: The type of the last frame a connection gets before :meth:`PushBackend.close` ends it
#: (reserved: no app may push it). Clients stop reconnecting when they see it.
SESSION_ENDED = "session.ended"


def encode_frame(frame: dict[str, Any]) -> bytes:
    """The bytes sent for one frame (compact JSON, UTF-8); sizes are measured on these."""
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def user_group(user_id: int) -> str:
    """The channel-layer group (local) that every connection of one user joins."""
    return f"user.{int(user_id)}"


class PushBackend(Backend):
    """Delivers frames (JSON objects) to users' open WebSocket connections."""

    max_message_bytes: ClassVar[int] = MAX_MESSAGE_BYTES

    def send(self, *, user_ids: Sequence[int], frame: dict[str, Any]) -> None:
        """Deliver ``frame`` to every open connection of each user in ``user_ids``."""
        raise NotImplementedError

    def close(self, *, user_ids: Sequence[int]) -> None:
        """Send ``{"type": "session.ended"}`` to, then close, every open connection of
        each user in ``user_ids``; never raises for a connection that is already gone."""
        raise NotImplementedError
