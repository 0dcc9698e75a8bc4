"""JSON API of the users app (mounted at ``/api/`` by project/api.py).

``/api/auth/*`` are the provider's flows for API clients (tokens in, tokens out; no
session is created); ``/api/me`` is the signed-in account (Bearer token or session).
"""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from apps.users import services
from apps.users.auth import AuthenticatedRequest, api_auth
from apps.users.backends import TokenSet
from apps.users.models import User

router = Router(tags=["users"])

# Shape only; the provider decides whether an address is acceptable.
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class SignUpIn(Schema):
    email: Email
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(default="", max_length=150)


class ConfirmIn(Schema):
    email: Email
    code: str = Field(min_length=1, max_length=64)


class EmailIn(Schema):
    email: Email


class TokenIn(Schema):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Schema):
    refresh_token: str = Field(min_length=1, max_length=8192)


class ResetIn(Schema):
    email: Email
    code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(Schema):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class TokensOut(Schema):
    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str


class MeOut(Schema):
    id: int
    email: str
    name: str
    email_verified: bool
    groups: list[str]
    is_staff: bool


class SignUpOut(Schema):
    status: str
    confirmation_required: bool


class Accepted(Schema):
    status: str


def _me(user: User) -> MeOut:
    return MeOut(
        id=user.pk,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified,
        groups=sorted(user.groups.values_list("name", flat=True)),
        is_staff=user.is_staff,
    )


def _tokens(tokens: TokenSet) -> TokensOut:
    return TokensOut(**tokens.as_dict())


def _ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


@router.post("/auth/signup", response={201: SignUpOut}, summary="Register an account")
def signup(request: HttpRequest, payload: SignUpIn) -> Status:
    """Registers with the identity provider, which emails a confirmation code.

    The same answer whether or not the address already has an account (that one is
    mailed instead); 422 ``password_too_weak`` (min 8, upper, lower, digit, symbol).
    """
    services.account_sign_up(email=payload.email, password=payload.password, name=payload.name)
    return Status(201, SignUpOut(status="confirmation_sent", confirmation_required=True))


@router.post("/auth/confirm", response=Accepted, summary="Confirm a sign-up code")
def confirm(request: HttpRequest, payload: ConfirmIn) -> Accepted:
    """400 ``code_invalid`` (also for an unknown or confirmed address) / ``code_expired`` /
    ``code_attempts_exceeded`` / ``code_used``."""
    services.account_confirm(email=payload.email, code=payload.code)
    return Accepted(status="confirmed")


@router.post("/auth/resend", response={202: Accepted}, summary="Send a new sign-up code")
def resend(request: HttpRequest, payload: EmailIn) -> Status:
    """202 whether or not the address has an unconfirmed account."""
    services.account_resend_confirmation(email=payload.email)
    return Status(202, Accepted(status="sent"))


@router.post("/auth/token", response=TokensOut, summary="Sign in: tokens for a password")
def token(request: HttpRequest, payload: TokenIn) -> TokensOut:
    """401 ``credentials_invalid``; 403 ``user_not_confirmed`` / ``user_disabled``;
    429 ``rate_limited`` after too many failures for the account or the IP."""
    _, tokens = services.account_sign_in(
        email=payload.email, password=payload.password, ip=_ip(request)
    )
    return _tokens(tokens)


@router.post("/auth/refresh", response=TokensOut, summary="New tokens for a refresh token")
def refresh(request: HttpRequest, payload: RefreshIn) -> TokensOut:
    """401 ``refresh_token_invalid``; 403 ``user_disabled``."""
    _, tokens = services.account_refresh(refresh_token=payload.refresh_token)
    return _tokens(tokens)


@router.post("/auth/signout", response={204: None}, auth=api_auth, summary="Sign out everywhere")
def signout(request: AuthenticatedRequest) -> Status:
    """Revokes every refresh token, access token, browser session and connect ticket of the
    account, and closes its WebSockets."""
    services.account_sign_out(user=request.auth)
    return Status(204, None)


@router.post("/auth/password/forgot", response={202: Accepted}, summary="Email a reset code")
def password_forgot(request: HttpRequest, payload: EmailIn) -> Status:
    services.password_forgot(email=payload.email)
    return Status(202, Accepted(status="sent"))


@router.post("/auth/password/reset", response=Accepted, summary="Reset the password with a code")
def password_reset(request: HttpRequest, payload: ResetIn) -> Accepted:
    """400 ``code_invalid`` (also for an unknown address) / ``code_expired`` /
    ``code_attempts_exceeded`` / ``code_used``; 422 ``password_too_weak``."""
    services.password_reset(
        email=payload.email, code=payload.code, new_password=payload.new_password
    )
    return Accepted(status="reset")


@router.post(
    "/auth/password/change", response=Accepted, auth=api_auth, summary="Change the password"
)
def password_change(request: AuthenticatedRequest, payload: PasswordChangeIn) -> Accepted:
    """Signs the account out everywhere, this caller's tokens included: sign in again with
    the new password. 401 ``credentials_invalid`` for a wrong current password; 422
    ``password_too_weak``."""
    services.password_change(
        user=request.auth,
        old_password=payload.old_password,
        new_password=payload.new_password,
        ip=_ip(request),
    )
    return Accepted(status="changed")


@router.get("/me", response=MeOut, auth=api_auth, summary="The signed-in account")
def me(request: AuthenticatedRequest) -> MeOut:
    return _me(request.auth)
