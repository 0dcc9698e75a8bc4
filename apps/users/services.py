"""Account operations: every write of the users app goes through these functions.

Views, the API, the admin and the Lambda triggers call them; they call the configured
identity backend and keep the local user table in step with the provider.
"""

from __future__ import annotations

from typing import Any

from apps.users import exceptions as exc
from apps.users.backends import identity
from apps.users.models import User


def user_from_access_token(*, token: str) -> User:
    """The active account an access token belongs to, or a ``TokenError``.

    Checks the token with the provider's verifier, then that the account exists here
    (keyed by ``iss`` + ``sub``), is active, and was not signed out after the token was
    issued. Never creates an account.
    """
    claims = identity().verifier().verify(token, token_use="access")  # noqa: S106
    return user_for_claims(claims=claims)


def user_for_claims(*, claims: dict[str, Any]) -> User:
    """The account named by verified claims; refuses disabled and signed-out ones."""
    user = User.objects.filter(issuer=claims["iss"], subject=claims["sub"]).first()
    if user is None:
        raise exc.TokenUserUnknown("No account here matches this token.")
    if not user.is_active:
        raise exc.UserDisabled("This account is disabled.")
    if user.tokens_valid_after is not None and claims["iat"] < user.tokens_valid_after.timestamp():
        raise exc.TokenRevoked("This token was revoked by a sign-out.")
    return user
