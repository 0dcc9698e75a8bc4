"""Which WebSocket handshakes may use the session cookie (the local ``/ws/``).

Browsers always send ``Origin`` with a WebSocket handshake, and a page on another site
could open one to us carrying our cookie (cross-site WebSocket hijacking), so a handshake
with an ``Origin`` must name one of ``ALLOWED_HOSTS`` (Channels' own validator) or it is
refused. A handshake without ``Origin`` comes from a non-browser client — the ones told to
use ``?token=<access token>`` — and is let through with its cookies removed: it
authenticates by ``?token=`` or ``?ticket=`` or not at all.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator


class BrowserOriginValidator:
    """ASGI middleware for the WebSocket router; see the module docstring."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.browser = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers", [])
        if any(name.lower() == b"origin" for name, _ in headers):
            return await self.browser(scope, receive, send)
        cookieless = [(name, value) for name, value in headers if name.lower() != b"cookie"]
        return await self.application({**scope, "headers": cookieless}, receive, send)
