"""Account operations: every write of the users app goes through these functions.

Views, the API, the admin and the Lambda triggers call them; they call the configured
identity backend and keep the local user table in step with the provider. A local
account row is keyed by the provider's ``iss`` + ``sub`` and created only once the
provider has accepted the person (sign-up, a verified token, a Cognito trigger).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apps.users import exceptions as exc
from apps.users.backends import TokenSet, identity
from apps.users.models import IdentityLink, Profile, User
from apps.users.password_policy import password_validate
from apps.users.signin_guard import signin_check, signin_failed, signin_succeeded
from project import telemetry
from project.ratelimit import Limit, ratelimit_count, ratelimit_hit, ratelimit_reset

logger = logging.getLogger("nimbus.users")

OPERATORS_GROUP = "operators"


def _normal_email(email: str) -> str:
    return email.strip().lower()


# -- tokens -> accounts ---------------------------------------------------------------------


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
    user = _identity_account(User.objects.all(), issuer=claims["iss"], subject=claims["sub"])
    if user is None:
        raise exc.TokenUserUnknown("No account here matches this token.")
    _refuse_claims(user, claims)
    return user


def _identity_account(rows: QuerySet[User], *, issuer: str, subject: str) -> User | None:
    """The account this identity signs in to: its own, or the one it is linked to."""
    user = rows.filter(issuer=issuer, subject=subject).first()
    if user is None:
        linked = IdentityLink.objects.filter(issuer=issuer, subject=subject)
        user = rows.filter(pk__in=linked.values("user_id")).first()
    return user


def _refuse_claims(user: User, claims: dict[str, Any]) -> None:
    """Refuse tokens of a disabled account, or of a sign-in older than its sessions' end.

    The sign-in's time is ``auth_time`` (Cognito keeps it across refreshes, and so does the
    local provider), else ``iat``: a token refreshed after the sign-out from a refresh token
    the provider failed to revoke is still refused here.
    """
    if not user.is_active:
        raise exc.UserDisabled("This account is disabled.")
    if user.tokens_valid_after is not None and _signed_in_at(claims) < (
        user.tokens_valid_after.timestamp()
    ):
        raise exc.TokenRevoked("This token was revoked by a sign-out.")


def _signed_in_at(claims: dict[str, Any]) -> float:
    value = claims.get("auth_time", claims["iat"])
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise exc.TokenMalformed("The token's auth_time is not a number.")
    return float(value)


@transaction.atomic
def user_sync_from_claims(
    *, claims: dict[str, Any], with_groups: bool = True, refuse: bool = False
) -> User:
    """Create or update the account described by verified id-token claims.

    Matches on ``iss`` + ``sub`` (the account's own identity or a linked one). An identity
    new here whose e-mail already has an account signs in to that account only as
    :func:`_account_row` allows — never when the provider does not assert the e-mail as
    verified, and a federated identity never onto an operator's, staff or superuser
    account — and is then linked to it (``IdentityLink``); otherwise a new account is
    made. The account's own identity copies email, name, verification and
    (``with_groups``) ``cognito:groups``, where no claim means no groups (members of
    ``operators`` are staff); a linked identity changes nothing but the last sign-in.
    Never re-enables a disabled account. With ``refuse``, a disabled account
    (``UserDisabled``) or tokens older than its last sign-out (``TokenRevoked``) are
    refused before anything is written.
    """
    email = _normal_email(str(claims.get("email", "")))
    user, link = _account_row(claims=claims, email=email)
    if user is not None and refuse:
        _refuse_claims(user, claims)
    if link and user is not None:
        _identity_link_create(user=user, claims=claims)
        return user
    if user is not None and not _owns_identity(user, claims):
        return user  # a linked identity signing in again
    if user is None:
        if not email:
            raise exc.TokenMalformed("The id token carries no email address.")
        user = User(email=email)
        user.set_unusable_password()
    user.issuer, user.subject = claims["iss"], claims["sub"]
    if email:
        user.email = email
    user.name = str(claims.get("name", user.name) or user.name)
    user.email_verified = _email_verified(claims) or user.email_verified
    user.save()
    Profile.objects.get_or_create(user=user)
    if with_groups:
        groups = claims.get("cognito:groups")
        user_groups_apply(user=user, groups=list(groups) if isinstance(groups, list) else [])
    return user


def _owns_identity(user: User, claims: dict[str, Any]) -> bool:
    return (user.issuer, user.subject) == (claims["iss"], claims["sub"]) or not user.subject


def _email_verified(claims: dict[str, Any]) -> bool:
    return claims.get("email_verified") in (True, "true")


def _federated_provider(claims: dict[str, Any]) -> str:
    """The external IdP behind a federated id token (Cognito's ``identities`` claim), or ""."""
    identities = claims.get("identities")
    if not isinstance(identities, list) or not identities:
        return ""
    first = identities[0] if isinstance(identities[0], dict) else {}
    return str(first.get("providerName") or "federated")


def account_is_privileged(user: User) -> bool:
    """Operators, staff and superusers: accounts no e-mail match may link onto."""
    return bool(
        user.is_staff or user.is_superuser or user.groups.filter(name=OPERATORS_GROUP).exists()
    )


def _account_row(*, claims: dict[str, Any], email: str) -> tuple[User | None, bool]:
    """(the account for this identity (locked) or None, whether to link the identity to it).

    An account of another identity with the same e-mail is taken only when the provider
    asserts the e-mail as verified (else ``AccountLinkUnverified``); a federated identity
    is linked to it unless it is privileged (``AccountLinkPrivileged``: its owner links
    from the settings page after the account's own sign-in); a non-federated one adopts it
    only when no provider keyed it yet (made by ``createsuperuser``), else ``EmailTaken``.
    """
    rows = User.objects.select_for_update()
    user = _identity_account(rows, issuer=claims["iss"], subject=claims["sub"])
    others = rows.filter(email=email) if email else rows.none()
    if user is not None:
        if others.exclude(pk=user.pk).exists():
            raise exc.EmailTaken("Another account already uses this email address.")
        return user, False
    other = others.first()
    if other is None:
        return None, False
    if not _email_verified(claims):
        raise exc.AccountLinkUnverified(
            "An account with this e-mail address exists, and the identity provider does not "
            "assert the address as verified: sign in to that account instead.",
            detail={"email": email},
        )
    if _federated_provider(claims):
        if account_is_privileged(other):
            raise exc.AccountLinkPrivileged(
                "This e-mail address belongs to an operator's account: sign in with that "
                "account first, then link this sign-in on its settings page.",
                detail={"email": email},
            )
        return other, True
    if other.subject:
        raise exc.EmailTaken("Another account already uses this email address.")
    return other, False


def _identity_link_create(*, user: User, claims: dict[str, Any]) -> IdentityLink:
    link = IdentityLink.objects.create(
        user=user,
        issuer=claims["iss"],
        subject=claims["sub"],
        provider=_federated_provider(claims)[:64],
    )
    Profile.objects.get_or_create(user=user)
    logger.info("Linked a %s identity to account %s", link.provider or "second", user.pk)
    return link


@transaction.atomic
def account_identity_link(*, user: User, claims: dict[str, Any]) -> IdentityLink:
    """Link the identity of verified id-token ``claims`` to ``user``, who is signed in
    with the account's own sign-in (how operators add a federated sign-in).

    Refuses an identity that is already some account's (``IdentityTaken``); linking the
    same identity again changes nothing.
    """
    owner = _identity_account(
        User.objects.select_for_update(), issuer=claims["iss"], subject=claims["sub"]
    )
    if owner is not None and owner.pk != user.pk:
        raise exc.IdentityTaken("This sign-in already belongs to another account.")
    if owner is not None:
        return IdentityLink.objects.get_or_create(
            user=user, issuer=claims["iss"], subject=claims["sub"]
        )[0]
    return _identity_link_create(user=user, claims=claims)


def user_groups_apply(*, user: User, groups: list[str]) -> None:
    """Make the account's Django groups exactly the provider's; ``operators`` are staff."""
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in sorted(set(groups))])
    is_staff = user.is_superuser or OPERATORS_GROUP in groups
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])


def account_tokens_accept(tokens: TokenSet, *, nonce: str | None = None) -> User:
    """The account a fresh token set (sign-in, refresh, hosted UI) belongs to, brought up
    to date from its id token.

    Verifies both tokens and, for the hosted-UI flow, that the id token carries the
    ``nonce`` the flow sent (``FederationError``); refuses a disabled account or tokens
    older than its last sign-out. Nothing is written unless every check passed.
    """
    return user_sync_from_claims(claims=_verified_claims(tokens, nonce=nonce), refuse=True)


def account_tokens_link(tokens: TokenSet, *, user: User, nonce: str) -> IdentityLink:
    """Link the identity of a hosted-UI token set to ``user`` (``account_identity_link``),
    after the checks of :func:`account_tokens_accept`."""
    claims = _verified_claims(tokens, nonce=nonce)
    _refuse_claims(user, {**claims, "iat": time.time()})
    return account_identity_link(user=user, claims=claims)


def _verified_claims(tokens: TokenSet, *, nonce: str | None) -> dict[str, Any]:
    verifier = identity().verifier()
    claims = verifier.verify(tokens.id_token, token_use="id")  # noqa: S106
    verifier.verify(tokens.access_token, token_use="access")  # noqa: S106
    if nonce is not None and not constant_time_compare(str(claims.get("nonce", "")), nonce):
        raise exc.FederationError(
            "The id token's nonce does not match.", code="federation_nonce_invalid"
        )
    return claims


# -- sign-up and confirmation -------------------------------------------------------------


def email_validate(*, email: str) -> None:
    """Refuse an address mail cannot be sent to (Django's validator, IDNA domains included)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    try:
        validate_email(email)
    except ValidationError:
        raise exc.EmailInvalid("Enter a valid email address.", detail={"field": "email"}) from None


def account_sign_up(*, email: str, password: str, name: str = "") -> User | None:
    """Register with the provider (which sends a confirmation code); the new account.

    The answer does not tell whether the address already has an account (no
    enumeration): for one that has, nothing is written and None is returned, and the
    address is mailed instead — a new confirmation code if it is still unconfirmed,
    else a "you already have an account" notice. The local row is unconfirmed until
    :func:`account_confirm`; nothing is written when the provider refuses (weak password).
    """
    email = _normal_email(email)
    email_validate(email=email)
    password_validate(password=password)
    backend = identity()
    try:
        subject = backend.sign_up(email=email, password=password, name=name)
    except exc.EmailTaken:
        _existing_account_notice(email)
        return None
    with transaction.atomic():
        user = _identity_account(
            User.objects.select_for_update(), issuer=backend.issuer, subject=subject
        )
        existing = user or User.objects.select_for_update().filter(email=email).first()
        if existing is not None and user is None:
            # An account made here before (createsuperuser) waits for the confirmed
            # address: the post-confirmation trigger or the first verified token adopts it.
            return existing
        if user is None:
            user = User(email=email)
            user.set_unusable_password()
        user.issuer, user.subject, user.name = backend.issuer, subject, name or user.name
        user.save()
        Profile.objects.get_or_create(user=user)
    return user


def _existing_account_notice(email: str) -> None:
    """Mail the owner of an address someone signed up with again: a new confirmation
    code while the account is unconfirmed, else a note that it already exists."""
    from django.core.mail import send_mail

    pending = User.objects.filter(email=email, email_verified=False).exists()
    if pending:
        try:
            identity().resend_confirmation(email=email)
            return
        except exc.IdentityError as error:  # confirmed at the provider meanwhile, or down
            logger.warning("No new confirmation code for a repeated sign-up: %s", error.code)
    site = str(settings.NIMBUS_SITE_URL).rstrip("/")
    send_mail(
        "You already have a Nimbus account",
        "Someone, we hope you, tried to sign up for Nimbus with this address, which already "
        f"has an account. Sign in at {site}/accounts/signin/ or, if you forgot the password, "
        f"reset it at {site}/accounts/password/forgot/. If it was not you, ignore this mail.",
        None,
        [email],
    )


#: Wrong codes after which a provider that voids the code says so: Cognito answers the
#: right code with ExpiredCodeException once it was guessed wrong too often, which would
#: read "This code has expired" (the local provider raises CodeAttemptsExceeded itself).
WRONG_CODES_BEFORE_VOID = 5
_WRONG_CODES = Limit(scope="code-wrong", limit=2**31, window=3600)


@contextlib.contextmanager
def _spending_code(*, email: str, purpose: str) -> Iterator[None]:
    """Count wrong codes for ``email``'s ``purpose`` code; an "expired" code after enough
    of them is ``CodeAttemptsExceeded`` (ask for a new one), whatever the provider says."""
    key = f"{purpose}\0{email}"
    try:
        yield
    except exc.CodeInvalid:
        ratelimit_hit(limit=_WRONG_CODES, key=key)
        raise
    except exc.CodeExpired as error:
        if ratelimit_count(limit=_WRONG_CODES, key=key) >= WRONG_CODES_BEFORE_VOID:
            raise exc.CodeAttemptsExceeded(exc.CODE_ATTEMPTS_EXCEEDED_MESSAGE) from error
        raise
    ratelimit_reset(limit=_WRONG_CODES, key=key)


def _new_code_sent(*, email: str, purpose: str) -> None:
    ratelimit_reset(limit=_WRONG_CODES, key=f"{purpose}\0{email}")


def account_confirm(*, email: str, code: str) -> None:
    """Spend the sign-up code with the provider and mark the account confirmed.

    An unknown or already confirmed address gets ``CodeInvalid``, as a wrong code does;
    a code guessed wrong too often gets ``CodeAttemptsExceeded``, never ``CodeExpired``.
    """
    email = _normal_email(email)
    try:
        with _spending_code(email=email, purpose="confirm"):
            identity().confirm_sign_up(email=email, code=code)
    except (exc.UserNotFound, exc.UserAlreadyConfirmed):
        raise exc.CodeInvalid("The code is not correct.") from None
    User.objects.filter(email=email).update(email_verified=True)


def account_resend_confirmation(*, email: str) -> None:
    """Send a new sign-up code; the same answer for unknown and confirmed addresses."""
    email = _normal_email(email)
    with contextlib.suppress(exc.UserNotFound, exc.UserAlreadyConfirmed):
        identity().resend_confirmation(email=email)
    _new_code_sent(email=email, purpose="confirm")


# -- sign-in, refresh, sign-out -----------------------------------------------------------


def account_sign_in(*, email: str, password: str, ip: str = "") -> tuple[User, TokenSet]:
    """Sign in with the provider: the account and its tokens.

    Failures slow the caller down (apps.users.signin_guard): while a wait is due the
    attempt is refused (``RateLimited``, with ``retry_after``) before the provider is
    asked. The owner signing in from an address they used before is never kept out by
    failures from other addresses.
    """
    email = _normal_email(email)
    signin_check(email=email, ip=ip)
    _wait_past_sign_out(email)
    try:
        tokens = identity().sign_in(email=email, password=password)
    except (exc.CredentialsInvalid, exc.UserNotConfirmed, exc.UserDisabled) as error:
        telemetry.metric(telemetry.AUTH_FAILURES, reason=error.code)
        signin_failed(email=email, ip=ip)
        raise
    user = account_tokens_accept(tokens)
    signin_succeeded(email=email, ip=ip)
    return user, tokens


def signin_link_send(*, email: str) -> None:
    """Mail a one-time sign-in link to the account's address (apps.users.signin_link).

    The same answer for every address: only an active, confirmed account gets a mail.
    """
    from django.core.mail import send_mail
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from apps.users.signin_link import LINK_MAX_AGE, signin_link_tokens

    user = User.objects.filter(
        email=_normal_email(email), is_active=True, email_verified=True
    ).first()
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    site = str(settings.NIMBUS_SITE_URL).rstrip("/")
    link = f"{site}/accounts/signin/link/{uid}/{signin_link_tokens.make_token(user)}/"
    send_mail(
        "Your Nimbus sign-in link",
        f"Open this link to sign in to Nimbus: {link}\nIt works once, for "
        f"{LINK_MAX_AGE // 60} minutes. If you did not ask for it, ignore this mail; someone "
        "may be guessing your password, and signing in this way keeps working meanwhile.",
        None,
        [user.email],
    )


def signin_link_check(*, uidb64: str, token: str) -> User:
    """The account a sign-in link opens (``SignInLinkInvalid`` if it does not)."""
    from django.utils.http import urlsafe_base64_decode

    from apps.users.signin_link import signin_link_tokens

    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError, OverflowError):
        pk = 0
    user = User.objects.filter(pk=pk, is_active=True).first() if 0 < pk < 2**63 else None
    if user is None or not signin_link_tokens.check_token(user, token):
        raise exc.SignInLinkInvalid("This sign-in link is not valid any more; ask for a new one.")
    return user


def signin_link_use(*, uidb64: str, token: str, ip: str = "") -> User:
    """:func:`signin_link_check`, and the address counts as one the owner uses from now on.

    The caller starts the session, which spends the link (it changes ``last_login``).
    """
    user = signin_link_check(uidb64=uidb64, token=token)
    signin_succeeded(email=user.email, ip=ip)
    return user


def _wait_past_sign_out(email: str) -> None:
    # Token ``iat`` has one-second resolution and tokens issued before a sign-out's instant
    # are refused; a sign-in in that same second waits for the next one so its tokens
    # post-date the sign-out.
    valid_after = (
        User.objects.filter(email=email).values_list("tokens_valid_after", flat=True).first()
    )
    if valid_after is not None:
        delay = math.ceil(valid_after.timestamp()) - time.time()
        if 0 < delay <= 1:
            time.sleep(delay)


def account_refresh(*, refresh_token: str) -> tuple[User, TokenSet]:
    """New tokens for a refresh token; refused when the account is disabled here."""
    tokens = identity().refresh(refresh_token=refresh_token)
    return account_tokens_accept(tokens), tokens


def account_sign_out(*, user: User) -> None:
    """Sign out everywhere: revoke refresh tokens at the provider and refuse every access
    token, browser session, connect ticket and open WebSocket of an earlier sign-in."""
    identity().global_sign_out(email=user.email)
    _revoke_local(user)


def _revoke_local(user: User, *, fields: tuple[str, ...] = ()) -> None:
    """End every session of the account here: stamp ``tokens_valid_after`` (tokens, browser
    sessions and connect tickets of earlier sign-ins are refused from now on) and, after
    commit, send ``sessions_ended`` (the push app closes the account's WebSockets)."""
    from apps.users.signals import sessions_ended_on_commit

    user.tokens_valid_after = timezone.now()
    user.save(update_fields=["tokens_valid_after", *fields])
    sessions_ended_on_commit(user_id=user.pk)


# -- passwords ------------------------------------------------------------------------------


def password_forgot(*, email: str) -> None:
    """Send a reset code (same answer whether or not the account exists).

    Requests are rate-limited per address and account by ``project.throttling``.
    """
    email = _normal_email(email)
    identity().forgot_password(email=email)
    _new_code_sent(email=email, purpose="reset")


def password_reset(*, email: str, code: str, new_password: str) -> None:
    """Set a new password with an emailed code; signs the account out everywhere.

    An unknown address gets ``CodeInvalid``, as a wrong code does.
    """
    email = _normal_email(email)
    password_validate(password=new_password)
    backend = identity()
    try:
        with _spending_code(email=email, purpose="reset"):
            backend.confirm_forgot_password(email=email, code=code, new_password=new_password)
    except exc.UserNotFound:  # as for a wrong code: no enumeration
        raise exc.CodeInvalid("The code is not correct.") from None
    user = User.objects.filter(email=email).first()
    if user is not None:
        backend.global_sign_out(email=email)
        _revoke_local(user)


def password_change(*, user: User, old_password: str, new_password: str, ip: str = "") -> None:
    """Change the password, proving the current one by signing in with it; then sign out
    everywhere, as a reset does: every earlier token (the caller's too), connect ticket,
    WebSocket and other browser session ends. A page keeps its own session with
    ``update_session_auth_hash``; an API client signs in again with the new password."""
    password_validate(password=new_password)
    _, tokens = account_sign_in(email=user.email, password=old_password, ip=ip)
    backend = identity()
    backend.change_password(
        access_token=tokens.access_token, old_password=old_password, new_password=new_password
    )
    # Cognito's ChangePassword leaves refresh tokens working; the stamp refuses the rest.
    backend.global_sign_out(email=user.email)
    user.refresh_from_db()
    _revoke_local(user)


def account_name_set(*, user: User, name: str) -> None:
    """Set the account's name at the provider, then here.

    The provider holds the name (it is in the id token, and each sign-in copies it back),
    so nothing is saved here when the provider refuses.
    """
    identity().admin_set_name(email=user.email, name=name)
    user.name = name
    user.save(update_fields=["name"])


def account_settings_update(
    *, user: User, name: str, time_zone: str, email_notifications: bool
) -> None:
    """Save the account settings page: the name goes to the provider too (it is in the
    id token), the rest is Nimbus's own profile."""
    if name != user.name:
        account_name_set(user=user, name=name)
    Profile.objects.update_or_create(
        user=user, defaults={"timezone": time_zone, "email_notifications": email_notifications}
    )


# -- operators ------------------------------------------------------------------------------


def account_disable(*, user: User) -> None:
    """Disable at the provider, sign out everywhere, and refuse the account here."""
    identity().admin_disable(email=user.email)
    user.is_active = False
    _revoke_local(user, fields=("is_active",))
    logger.info("Disabled account %s", user.pk)


def account_delete(*, user: User) -> None:
    """Delete the account at the provider, then here (its files, codes and notifications
    go with the row); its open WebSockets close after commit.

    The provider comes first so that nobody can sign in to, or refresh into, an account
    Nimbus no longer has (a Cognito sign-in would otherwise make it again). An account the
    provider does not know (made by ``createsuperuser`` and never signed in) is deleted
    here only; any other refusal deletes nothing.
    """
    from apps.users.signals import sessions_ended_on_commit

    with contextlib.suppress(exc.UserNotFound):
        identity().admin_delete(email=user.email)
    user_id = user.pk
    with transaction.atomic():
        user.delete()
        sessions_ended_on_commit(user_id=user_id)
    logger.info("Deleted account %s", user_id)


def account_enable(*, user: User) -> None:
    identity().admin_enable(email=user.email)
    user.is_active = True
    user.save(update_fields=["is_active"])
    logger.info("Enabled account %s", user.pk)


def account_groups_set(*, user: User, groups: list[str]) -> None:
    """Set the account's groups at the provider and here (``operators`` are staff)."""
    identity().admin_set_groups(email=user.email, groups=groups)
    user_groups_apply(user=user, groups=groups)


def operator_grant(*, email: str, actor_repr: str, actor: User | None = None) -> bool:
    """Make the account an operator at the provider and here; audited. True if it changed.

    The provider's group comes first (Cognito ``AdminAddUserToGroup``), so the account's
    next tokens carry ``cognito:groups`` and every sign-in keeps it an operator; then the
    Django group, whose permissions are what the admin checks, and staff. Idempotent:
    granting again changes nothing here but still puts the provider in step. Refuses an
    e-mail no account here has (``UserNotFound``) and a disabled account (``UserDisabled``).
    """
    user = _operator_account(email)
    if not user.is_active:
        raise exc.UserDisabled("This account is disabled; enable it before making it an operator.")
    identity().admin_add_to_group(email=user.email, group=OPERATORS_GROUP)
    with transaction.atomic():
        changed = not user.groups.filter(name=OPERATORS_GROUP).exists() or not user.is_staff
        user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        _operator_audit(user, granted=True, changed=changed, actor=actor, actor_repr=actor_repr)
    logger.info("Granted operator rights to account %s", user.pk)
    return changed


def operator_revoke(*, email: str, actor_repr: str, actor: User | None = None) -> bool:
    """Take the account out of ``operators`` at the provider and here; audited.

    Staff status goes with it (superusers keep theirs). Idempotent like
    :func:`operator_grant`; refuses an e-mail no account here has (``UserNotFound``).
    """
    user = _operator_account(email)
    identity().admin_remove_from_group(email=user.email, group=OPERATORS_GROUP)
    with transaction.atomic():
        changed = user.groups.filter(name=OPERATORS_GROUP).exists()
        user.groups.remove(*Group.objects.filter(name=OPERATORS_GROUP))
        if user.is_staff and not user.is_superuser:
            user.is_staff, changed = False, True
            user.save(update_fields=["is_staff"])
        _operator_audit(user, granted=False, changed=changed, actor=actor, actor_repr=actor_repr)
    logger.info("Revoked operator rights of account %s", user.pk)
    return changed


def _operator_account(email: str) -> User:
    user = User.objects.filter(email=_normal_email(email)).first()
    if user is None:
        raise exc.UserNotFound(
            "No account here has this email address: sign up and confirm it on the site first.",
            detail={"email": _normal_email(email)},
        )
    return user


def _operator_audit(
    user: User, *, granted: bool, changed: bool, actor: User | None, actor_repr: str
) -> None:
    from project.audit import audit_record
    from project.models import AuditEntry

    action = AuditEntry.Action.OPERATOR_GRANT if granted else AuditEntry.Action.OPERATOR_REVOKE
    audit_record(
        action=action,
        actor=actor,
        actor_repr=actor_repr,
        target_type=User._meta.label_lower,
        target_id=str(user.pk),
        target_repr=user.email,
        detail={"group": OPERATORS_GROUP, "changed": changed},
    )
