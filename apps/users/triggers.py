"""What Nimbus does when Cognito calls its user-pool triggers: keep the local user table
in step with the pool, and refuse what the local table says must not happen."""

from __future__ import annotations

from typing import Any

from apps.users import exceptions as exc
from apps.users.models import User
from apps.users.services import user_sync_from_claims


def trigger_pre_sign_up(*, email: str) -> None:
    """Refuse a sign-up for an address whose account an operator disabled here."""
    if User.objects.filter(email=email.strip().lower(), is_active=False).exists():
        raise exc.UserDisabled("This email address belongs to a disabled account.")


def trigger_post_confirmation(*, issuer: str, attributes: dict[str, Any]) -> User:
    """Create or update the local account once Cognito confirmed it."""
    return user_sync_from_claims(claims=_claims(issuer, attributes, groups=None), with_groups=False)


def trigger_pre_token_generation(
    *, issuer: str, attributes: dict[str, Any], groups: list[str]
) -> dict[str, str]:
    """Bring the account up to date before Cognito issues tokens; refuse disabled ones.

    Returns claims to add to the id token (strings only, as Cognito requires).
    """
    user = user_sync_from_claims(claims=_claims(issuer, attributes, groups=groups))
    if not user.is_active:
        raise exc.UserDisabled("This account is disabled.")
    return {"nimbus:user_id": str(user.pk)}


def _claims(issuer: str, attributes: dict[str, Any], *, groups: list[str] | None) -> dict[str, Any]:
    if not attributes.get("sub") or not attributes.get("email"):
        raise exc.IdentityError("The trigger event carries no sub or email.")
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": attributes["sub"],
        "email": attributes["email"],
        "email_verified": attributes.get("email_verified") == "true",
    }
    if attributes.get("name"):
        claims["name"] = attributes["name"]
    if groups is not None:
        claims["cognito:groups"] = groups
    return claims
