"""Short-lived, single-use connect tickets: how a signed-in page opens the WebSocket.

On AWS the WebSocket API is another origin, so the session cookie does not reach
``$connect``. The page asks ``GET /api/notifications/ticket`` (session-authenticated) for a
ticket — the user id signed with ``SECRET_KEY`` and stamped, valid for a minute — and
connects with ``?ticket=`` (``live.js`` asks for a fresh one before every connect).
Non-browser clients use ``?token=<access token>`` instead.

A ticket also carries the account's ``tokens_valid_after`` as it was when the ticket was
issued: once the account signs out everywhere, is disabled, or its password changes or is
reset, that stamp moves and every outstanding ticket is refused, as its tokens are.

A ticket opens exactly one socket: :func:`connect_ticket_redeem` claims it by inserting
its digest as the primary key of a :class:`~apps.push.models.ConnectTicketClaim` row, so
of any number of concurrent redeems (in any Lambda container or server process) exactly
one commits and the others are refused as a forged ticket would be. The same code runs
behind the local Channels consumer and API Gateway's ``$connect``.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger("nimbus.push")

SALT = "nimbus.push.connect-ticket"
MAX_AGE_SECONDS = 60
#: A claim is kept this much longer than its ticket can live, so a container whose clock
#: runs behind another's still finds it.
CLAIM_MARGIN_SECONDS = 300


def connect_ticket_issue(*, user_id: int) -> str:
    """A ticket for the active account ``user_id`` (``ValueError`` for any other)."""
    stamp = _stamp(int(user_id))
    if stamp is None:
        raise ValueError(f"No active account {user_id}.")
    return signing.TimestampSigner(salt=SALT).sign(f"{int(user_id)}.{stamp}")


def connect_ticket_user(*, ticket: str) -> int | None:
    """The user id a ticket was issued for, or None if forged, malformed or expired, or if
    the account is disabled, gone, or signed out everywhere since it was issued.

    Does not consume the ticket: connecting goes through :func:`connect_ticket_redeem`.
    """
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(ticket, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    user_id, _, stamp = value.partition(".")
    if not user_id.isdigit() or not stamp.isdigit():
        return None
    if _stamp(int(user_id)) != stamp:
        logger.info("WebSocket connect ticket revoked", extra={"code": "ticket_revoked"})
        return None
    return int(user_id)


def connect_ticket_redeem(*, ticket: str) -> int | None:
    """The user id of a valid ticket the first time it is redeemed; None ever after.

    Forged, malformed, expired and revoked tickets are refused before anything is written.
    """
    user_id = connect_ticket_user(ticket=ticket)
    if user_id is None:
        return None
    if not _claim(ticket):
        logger.info("WebSocket connect ticket reused", extra={"code": "ticket_used"})
        return None
    return user_id


def _stamp(user_id: int) -> str | None:
    """The active account's ``tokens_valid_after`` in whole microseconds ("0" when never
    set), or None when there is no such active account."""
    from django.contrib.auth import get_user_model

    rows = get_user_model().objects.filter(pk=user_id, is_active=True)
    found = list(rows.values_list("tokens_valid_after", flat=True)[:1])
    if not found:
        return None
    moment: datetime | None = found[0]
    if moment is None:
        return "0"
    return str(int(moment.timestamp()) * 1_000_000 + moment.microsecond)


def connect_ticket_claims_prune() -> int:
    """Delete claims of tickets that can no longer be presented; returns how many."""
    from apps.push.models import ConnectTicketClaim

    deleted, _ = ConnectTicketClaim.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def _claim(ticket: str) -> bool:
    from apps.push.models import ConnectTicketClaim

    digest = hashlib.sha256(f"{SALT}\0{ticket}".encode()).hexdigest()
    expires_at = timezone.now() + timedelta(seconds=MAX_AGE_SECONDS + CLAIM_MARGIN_SECONDS)
    try:
        # Its own savepoint: a lost race must not break a transaction the caller holds.
        with transaction.atomic():
            ConnectTicketClaim.objects.create(digest=digest, expires_at=expires_at)
    except IntegrityError:
        return False
    return True
