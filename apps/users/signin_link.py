"""Sign-in links by e-mail: the way in for an owner whose account is under attack.

While an account is under attack (apps.users.signin_guard), addresses its owner never
used wait before each password attempt. The sign-in page then offers a link by e-mail:
whoever can read the account's mail could reset its password anyway, so the link proves
no less. A link works once (its hash covers ``last_login``, which signing in changes),
for 15 minutes, and not after "sign out everywhere" (``tokens_valid_after``); opening it
shows a button, so a mail scanner that fetches links does not spend it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.http import base36_to_int

LINK_MAX_AGE = 15 * 60


class SignInLinkTokens(PasswordResetTokenGenerator):
    key_salt = "apps.users.signin_link.SignInLinkTokens"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        valid_after = user.tokens_valid_after.timestamp() if user.tokens_valid_after else ""
        return f"{super()._make_hash_value(user, timestamp)}{valid_after}{user.is_active}"

    def check_token(self, user: Any, token: str | None) -> bool:
        if not token or not super().check_token(user, token):
            return False
        try:
            issued = base36_to_int(token.split("-", 1)[0])
        except ValueError:
            return False
        return self._num_seconds(self._now()) - issued <= LINK_MAX_AGE


signin_link_tokens = SignInLinkTokens()
