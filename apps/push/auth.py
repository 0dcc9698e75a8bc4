"""Who a WebSocket connection belongs to, from an access token (``?token=``).

Browsers on the local server authenticate with their session cookie; API Gateway
WebSocket connections (and non-browser clients) present an access token in the query
string, verified by the users app's one token verifier.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("nimbus.push")


def user_id_for_access_token(token: str) -> int | None:
    """The active user the access token belongs to, or None if it is not acceptable.

    Never logs the token.
    """
    if not token:
        return None
    from apps.users.services import user_from_access_token
    from project.errors import NimbusError

    try:
        user = user_from_access_token(token=token)
    except NimbusError as exc:  # expired, bad signature, wrong client, revoked, disabled...
        logger.info("WebSocket token refused", extra={"code": exc.code})
        return None
    if not user.is_active:
        return None
    return int(user.pk)
