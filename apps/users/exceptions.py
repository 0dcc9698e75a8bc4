"""Errors of the users app, each with a stable machine-readable ``code``.

Token errors are all 401 (the caller should sign in again); account errors are 4xx the
client can show to the person. None of them is retryable except rate limiting, which
``project.errors.RateLimited`` covers.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from project.errors import NimbusError


class IdentityError(NimbusError):
    """Base of every users-app error."""

    code = "identity_error"
    status = 400


class IdentityUnavailable(IdentityError):
    """The identity provider could not be reached or failed on its side."""

    code = "identity_unavailable"
    status = 503
    retryable = True


# -- tokens -------------------------------------------------------------------------------


class TokenError(IdentityError):
    """A bearer token was refused; ``code`` says why."""

    code = "token_invalid"
    status = 401


class TokenMalformed(TokenError):
    code = "token_malformed"


class TokenUnsigned(TokenError):
    code = "token_unsigned"


class TokenAlgorithmNotAllowed(TokenError):
    code = "token_algorithm_not_allowed"


class TokenKeyUnknown(TokenError):
    code = "token_key_unknown"


class TokenSignatureInvalid(TokenError):
    code = "token_signature_invalid"


class TokenIssuerInvalid(TokenError):
    code = "token_issuer_invalid"


class TokenClientInvalid(TokenError):
    code = "token_client_invalid"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenUseInvalid(TokenError):
    code = "token_use_invalid"


class TokenRevoked(TokenError):
    code = "token_revoked"


class TokenUserUnknown(TokenError):
    code = "token_user_unknown"


class RefreshTokenInvalid(TokenError):
    code = "refresh_token_invalid"


# -- accounts -----------------------------------------------------------------------------


class EmailInvalid(IdentityError):
    code = "email_invalid"
    status = 422


class EmailTaken(IdentityError):
    code = "email_taken"
    status = 409


class PasswordTooWeak(IdentityError):
    code = "password_too_weak"
    status = 422

    def __init__(self, message: str = "", *, problems: list[str] | None = None) -> None:
        super().__init__(
            message or "The password does not meet the policy.",
            detail={"problems": problems or []},
        )


class CodeInvalid(IdentityError):
    code = "code_invalid"
    status = 400


class CodeExpired(IdentityError):
    code = "code_expired"
    status = 400


#: What a person reads once a code was guessed wrong too often (local provider and Cognito).
CODE_ATTEMPTS_EXCEEDED_MESSAGE = "Too many wrong codes — ask for a new one."


class CodeAttemptsExceeded(IdentityError):
    """The code was guessed wrong too often and is void: the person needs a new one."""

    code = "code_attempts_exceeded"
    status = 400


class CodeUsed(IdentityError):
    code = "code_used"
    status = 400


class UserNotConfirmed(IdentityError):
    code = "user_not_confirmed"
    status = 403


class UserAlreadyConfirmed(IdentityError):
    code = "user_already_confirmed"
    status = 409


class UserDisabled(IdentityError, DjangoPermissionDenied):
    code = "user_disabled"
    status = 403


class UserNotFound(IdentityError):
    code = "user_not_found"
    status = 404


class CredentialsInvalid(IdentityError):
    """Wrong email or password (deliberately not saying which)."""

    code = "credentials_invalid"
    status = 401


class SignInLinkInvalid(IdentityError):
    """A sign-in link that is wrong, used, expired or revoked."""

    code = "signin_link_invalid"
    status = 400


class FederationError(IdentityError):
    """The hosted-UI / OAuth code flow was refused (bad state, nonce, code or token)."""

    code = "federation_failed"
    status = 400


class AccountLinkRefused(FederationError):
    """An identity whose e-mail matches an existing account may not sign in to it."""

    code = "account_link_refused"
    status = 403


class AccountLinkUnverified(AccountLinkRefused):
    """The provider does not assert the e-mail as verified (``email_verified``)."""

    code = "account_link_unverified_email"


class AccountLinkPrivileged(AccountLinkRefused):
    """The account is an operator's, staff or superuser: only its owner, signed in with the
    account's own sign-in, links another identity to it (settings page)."""

    code = "account_link_privileged"


class IdentityTaken(FederationError):
    """The identity already signs in to another account."""

    code = "identity_taken"
    status = 409
