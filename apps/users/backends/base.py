"""The identity backend family: who the people are and how they prove it.

A backend wraps one identity provider — the local one (users in this database, RS256 JWTs
signed here) or a Cognito user pool. Both issue Cognito-shaped tokens, so one
:class:`~apps.users.tokens.TokenVerifier` (built by :meth:`IdentityBackend.verifier`)
checks either. Services call backends; views never do.

Every method raises an :mod:`apps.users.exceptions` error on refusal (``EmailTaken``,
``PasswordTooWeak``, ``CodeInvalid``/``CodeExpired``/``CodeUsed``, ``UserNotConfirmed``,
``UserDisabled``, ``CredentialsInvalid``, ``RefreshTokenInvalid``, ...), never returns a
sentinel. Emails are the sign-in names and are passed lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from apps.users.tokens import JwksCache, TokenVerifier, jwks_fetch_url
from project.backends import Backend


@dataclass(frozen=True)
class TokenSet:
    """What a successful sign-in or refresh returns (Cognito's ``AuthenticationResult``)."""

    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105

    def as_dict(self) -> dict[str, Any]:
        return {
            "id_token": self.id_token,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "token_type": self.token_type,
        }

    def __repr__(self) -> str:  # tokens never end up in logs or tracebacks
        return f"TokenSet(expires_in={self.expires_in})"


class IdentityBackend(Backend):
    """Contract of an identity provider. Subclasses implement every method."""

    #: True when the provider offers a hosted-UI / OAuth authorization-code flow.
    supports_federation: ClassVar[bool] = False

    # -- federated sign-in (``apps.users.federation``) -----------------------------------

    @property
    def identity_providers(self) -> list[str]:
        """The federated IdPs configured behind the provider (the sign-in page offers
        "Sign in with <name>" for each): option ``identity_providers``."""
        names = self.options.get("identity_providers") or []
        if isinstance(names, str):
            names = names.split(",")
        return [str(name).strip() for name in names if str(name).strip()]

    def hosted_ui_url(self) -> str:
        """Base URL of the OAuth endpoints (``/oauth2/authorize``, ``/oauth2/token``), or
        "" when the provider offers none."""
        return ""

    def redeem_code(self, *, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        """Trade an authorization code and its PKCE verifier for tokens (``FederationError``
        when refused)."""
        raise NotImplementedError

    # -- how its tokens are verified ---------------------------------------------------

    @property
    def issuer(self) -> str:
        raise NotImplementedError

    @property
    def client_id(self) -> str:
        raise NotImplementedError

    @property
    def jwks_url(self) -> str:
        raise NotImplementedError

    def fetch_jwks(self) -> dict[str, Any]:
        """The provider's public keys (a JWKS document) from :attr:`jwks_url`."""
        return jwks_fetch_url(self.jwks_url)

    def verifier(self) -> TokenVerifier:
        """The (cached) token verifier for this provider's tokens."""
        cached: TokenVerifier | None = getattr(self, "_verifier", None)
        if cached is None:
            cached = TokenVerifier(
                issuer=self.issuer,
                client_id=self.client_id,
                jwks=JwksCache(
                    self.fetch_jwks,
                    max_age=float(self.options.get("jwks_max_age", 3600)),
                    min_refresh_interval=float(self.options.get("jwks_min_refresh", 30)),
                ),
                leeway=float(self.options.get("leeway", 30)),
            )
            self._verifier = cached
        return cached

    # -- accounts -----------------------------------------------------------------------

    def sign_up(self, *, email: str, password: str, name: str = "") -> str:
        """Register an unconfirmed account; send a confirmation code. Returns the ``sub``."""
        raise NotImplementedError

    def confirm_sign_up(self, *, email: str, code: str) -> None:
        raise NotImplementedError

    def resend_confirmation(self, *, email: str) -> None:
        raise NotImplementedError

    def sign_in(self, *, email: str, password: str) -> TokenSet:
        raise NotImplementedError

    def refresh(self, *, refresh_token: str) -> TokenSet:
        """New id and access tokens; the refresh token in the result is the one passed."""
        raise NotImplementedError

    def forgot_password(self, *, email: str) -> None:
        """Send a reset code (silently does nothing for an unknown email)."""
        raise NotImplementedError

    def confirm_forgot_password(self, *, email: str, code: str, new_password: str) -> None:
        raise NotImplementedError

    def change_password(self, *, access_token: str, old_password: str, new_password: str) -> None:
        raise NotImplementedError

    def global_sign_out(self, *, email: str) -> None:
        """Revoke every refresh token of the account (admin-side sign out everywhere)."""
        raise NotImplementedError

    def admin_disable(self, *, email: str) -> None:
        raise NotImplementedError

    def admin_enable(self, *, email: str) -> None:
        raise NotImplementedError

    def admin_delete(self, *, email: str) -> None:
        """Delete the account at the provider, its refresh tokens with it (``UserNotFound``
        when the provider has no such account). The local row is the caller's to delete."""
        raise NotImplementedError

    def admin_set_name(self, *, email: str, name: str) -> None:
        """Set the account's ``name`` attribute (carried in its id tokens)."""
        raise NotImplementedError

    def admin_set_groups(self, *, email: str, groups: list[str]) -> None:
        """Make the account's provider groups exactly ``groups`` (creating missing ones)."""
        raise NotImplementedError

    def admin_list_groups(self, *, email: str) -> list[str]:
        raise NotImplementedError

    def admin_add_to_group(self, *, email: str, group: str) -> None:
        """Put the account in ``group`` (which must exist); nothing happens if it is in."""
        raise NotImplementedError

    def admin_remove_from_group(self, *, email: str, group: str) -> None:
        """Take the account out of ``group``; nothing happens if it is not in."""
        raise NotImplementedError
