"""Signals of the users app.

``sessions_ended`` is sent, once the transaction commits, whenever every session of an
account ended at once — sign-out everywhere, disabling, deletion, a password change or
reset — with ``user_id``. Token, browser-session and connect-ticket refusal need no
receiver (they check ``User.tokens_valid_after``); the push app receives it to close the
account's open WebSockets.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.dispatch import Signal

sessions_ended = Signal()


def sessions_ended_on_commit(*, user_id: int) -> None:
    transaction.on_commit(
        partial(sessions_ended.send, sender=None, user_id=int(user_id)), robust=True
    )
