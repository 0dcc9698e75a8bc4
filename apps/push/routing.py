"""WebSocket routes served by Channels (locally; API Gateway WebSocket on AWS)."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
