"""Who a WebSocket connection belongs to, from its query string.

Browsers on the local server authenticate with their session cookie. API Gateway
WebSocket connections present ``?ticket=`` (a one-minute signed ticket a signed-in page
gets from ``/api/notifications/ticket``, single use, see :mod:`apps.push.tickets`) or, for
non-browser clients, ``?token=<access token>`` verified by the users app's verifier.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("nimbus.push")


def user_id_for_credentials(*, token: str = "", ticket: str = "") -> int | None:
    """The active user named by an access token or a connect ticket, or None.

    A ticket is consumed here: it names its user once, and is refused ever after.
    """
    if ticket:
        from django.contrib.auth import get_user_model

        from apps.push.tickets import connect_ticket_redeem

        user_id = connect_ticket_redeem(ticket=ticket)
        if user_id is None:
            return None
        exists = get_user_model().objects.filter(pk=user_id, is_active=True).exists()
        return user_id if exists else None
    return user_id_for_access_token(token)


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
