"""Short-lived connect tickets: how a signed-in page opens the API Gateway WebSocket.

On AWS the WebSocket API is another origin, so the session cookie does not reach
``$connect``. The page asks ``GET /api/notifications/ticket`` (session-authenticated) for a
ticket — the user id signed with ``SECRET_KEY`` and stamped, valid for a minute — and
connects with ``?ticket=``. Non-browser clients use ``?token=<access token>`` instead.
"""

from __future__ import annotations

from django.core import signing

SALT = "nimbus.push.connect-ticket"
MAX_AGE_SECONDS = 60


def connect_ticket_issue(*, user_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(int(user_id)))


def connect_ticket_user(*, ticket: str) -> int | None:
    """The user id a ticket was issued for, or None if forged, malformed or expired."""
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(ticket, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return int(value) if value.isdigit() else None
