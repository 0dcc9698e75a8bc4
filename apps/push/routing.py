"""WebSocket routes served by Channels (locally; API Gateway WebSocket on AWS)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from apps.push.consumers import PushConsumer

websocket_urlpatterns: list[Any] = [path("ws/", PushConsumer.as_asgi())]
