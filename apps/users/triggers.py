"""What Nimbus does when Cognito calls its user-pool triggers: keep the local user table
in step with the pool, and refuse what the local table says must not happen."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.users import exceptions as exc
from apps.users.models import User
from apps.users.services import user_sync_from_claims


def trigger_pre_sign_up(*, email: str) -> None:
    """Refuse a sign-up for an address whose account an operator disabled here."""
    if User.objects.filter(email=email.strip().lower(), is_active=False).exists():
        raise exc.UserDisabled("This email address belongs to a disabled account.")


def trigger_post_confirmation(*, issuer: str, attributes: dict[str, Any]) -> User:
    """Create or update the local account once Cognito confirmed it."""
    return user_sync_from_claims(claims=_claims(issuer, attributes), with_groups=False)


def trigger_pre_token_generation(*, issuer: str, attributes: dict[str, Any]) -> None:
    """Refuse tokens for an account an operator disabled here.

    Only a read: the account is brought up to date from the verified id token when the
    sign-in or refresh reaches Nimbus (``services``), so this trigger, which Cognito calls
    on every sign-in and refresh, writes nothing and adds no claims.
    """
    subject, email = str(attributes.get("sub", "")), str(attributes.get("email", ""))
    if not subject:
        raise exc.IdentityError("The trigger event carries no sub.")
    disabled = User.objects.filter(is_active=False)
    named = Q(issuer=issuer, subject=subject) | Q(
        identity_links__issuer=issuer, identity_links__subject=subject
    )
    if email:
        named |= Q(email=email.strip().lower())
    if disabled.filter(named).exists():
        raise exc.UserDisabled("This account is disabled.")


def _claims(issuer: str, attributes: dict[str, Any]) -> dict[str, Any]:
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
    return claims
