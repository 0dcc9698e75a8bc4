"""Who a WebSocket connection belongs to, from its query string.

Browsers on the local server authenticate with their session cookie. API Gateway
WebSocket connections present ``?ticket=`` (a one-minute signed ticket a signed-in page
gets from ``/api/notifications/ticket``, single use, see :mod:`apps.push.tickets`) or, for
non-browser clients, ``?token=<access token>`` verified by the users app's verifier.

A connection is registered (API Gateway) or joins its user's group (Channels) only after
its credentials were checked, and a sign-out may commit in between: the caller then asks
:func:`still_signed_in` and drops the connection if the account's sessions ended
meanwhile (``sessions_ended`` had nothing to close yet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger("nimbus.push")


@dataclass(frozen=True)
class Principal:
    """An account a connection was authenticated for, and its sessions' stamp then."""

    user_id: int
    valid_after: datetime | None


def principal_for_credentials(*, token: str = "", ticket: str = "") -> Principal | None:
    """The active account named by an access token or a connect ticket, or None.

    A ticket is consumed here: it names its account once, and is refused ever after.
    """
    if ticket:
        from apps.push.tickets import connect_ticket_redeem

        user_id = connect_ticket_redeem(ticket=ticket)
        return principal_for_user_id(user_id) if user_id is not None else None
    return principal_for_access_token(token)


def principal_for_user_id(user_id: int) -> Principal | None:
    """The active account ``user_id`` as it stands now, or None."""
    from django.contrib.auth import get_user_model

    rows = get_user_model().objects.filter(pk=user_id, is_active=True)
    found = list(rows.values_list("tokens_valid_after", flat=True)[:1])
    return Principal(user_id=int(user_id), valid_after=found[0]) if found else None


def principal_for_access_token(token: str) -> Principal | None:
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
    return Principal(user_id=int(user.pk), valid_after=user.tokens_valid_after)


def still_signed_in(principal: Principal) -> bool:
    """True while the account is active and has not ended its sessions since ``principal``
    was authenticated."""
    current = principal_for_user_id(principal.user_id)
    return current is not None and current.valid_after == principal.valid_after
