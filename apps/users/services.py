"""Account operations: every write of the users app goes through these functions.

Views, the API, the admin and the Lambda triggers call them; they call the configured
identity backend and keep the local user table in step with the provider. A local
account row is keyed by the provider's ``iss`` + ``sub`` and created only once the
provider has accepted the person (sign-up, a verified token, a Cognito trigger).
"""

from __future__ import annotations

import logging
import math
import time
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
from project import telemetry
from project.ratelimit import Limit, ratelimit_check, ratelimit_hit

logger = logging.getLogger("nimbus.users")

OPERATORS_GROUP = "operators"


def _limits() -> tuple[Limit, Limit]:
    conf = {"per_account": (10, 300), "per_ip": (50, 300)}
    conf.update(getattr(settings, "NIMBUS_SIGNIN_RATE_LIMITS", {}))
    account, ip = conf["per_account"], conf["per_ip"]
    return (
        Limit(scope="signin-account", limit=account[0], window=account[1]),
        Limit(scope="signin-ip", limit=ip[0], window=ip[1]),
    )


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
    """Refuse tokens of a disabled account, or issued before its last sign-out."""
    if not user.is_active:
        raise exc.UserDisabled("This account is disabled.")
    if user.tokens_valid_after is not None and claims["iat"] < user.tokens_valid_after.timestamp():
        raise exc.TokenRevoked("This token was revoked by a sign-out.")


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


def account_sign_up(*, email: str, password: str, name: str = "") -> User:
    """Register with the provider (which sends a confirmation code); returns the account.

    The local row is unconfirmed until :func:`account_confirm`; nothing is written here
    when the provider refuses (duplicate email, weak password).
    """
    email = _normal_email(email)
    email_validate(email=email)
    password_validate(password=password)
    backend = identity()
    subject = backend.sign_up(email=email, password=password, name=name)
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


def account_confirm(*, email: str, code: str) -> None:
    """Spend the sign-up code with the provider and mark the account confirmed."""
    email = _normal_email(email)
    identity().confirm_sign_up(email=email, code=code)
    User.objects.filter(email=email).update(email_verified=True)


def account_resend_confirmation(*, email: str) -> None:
    identity().resend_confirmation(email=_normal_email(email))


# -- sign-in, refresh, sign-out -----------------------------------------------------------


def account_sign_in(*, email: str, password: str, ip: str = "") -> tuple[User, TokenSet]:
    """Sign in with the provider: the account and its tokens.

    Failed attempts count against the account and the client IP; over either limit the
    attempt is refused (``RateLimited``) before the provider is asked.
    """
    email = _normal_email(email)
    per_account, per_ip = _limits()
    ratelimit_check(limit=per_account, key=email)
    if ip:
        ratelimit_check(limit=per_ip, key=ip)
    _wait_past_sign_out(email)
    try:
        tokens = identity().sign_in(email=email, password=password)
    except (exc.CredentialsInvalid, exc.UserNotConfirmed, exc.UserDisabled) as error:
        telemetry.metric(telemetry.AUTH_FAILURES, reason=error.code)
        ratelimit_hit(limit=per_account, key=email)
        if ip:
            ratelimit_hit(limit=per_ip, key=ip)
        raise
    return account_tokens_accept(tokens), tokens


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
    token and browser session issued before now."""
    identity().global_sign_out(email=user.email)
    _revoke_local(user)


def _revoke_local(user: User) -> None:
    user.tokens_valid_after = timezone.now()
    user.save(update_fields=["tokens_valid_after"])


# -- passwords ------------------------------------------------------------------------------


def password_forgot(*, email: str) -> None:
    """Send a reset code (same answer whether or not the account exists).

    Requests are rate-limited per address and account by ``project.throttling``.
    """
    identity().forgot_password(email=_normal_email(email))


def password_reset(*, email: str, code: str, new_password: str) -> None:
    """Set a new password with an emailed code; signs the account out everywhere."""
    email = _normal_email(email)
    password_validate(password=new_password)
    identity().confirm_forgot_password(email=email, code=code, new_password=new_password)
    user = User.objects.filter(email=email).first()
    if user is not None:
        _revoke_local(user)


def password_change(*, user: User, old_password: str, new_password: str, ip: str = "") -> None:
    """Change the password, proving the current one by signing in with it."""
    password_validate(password=new_password)
    _, tokens = account_sign_in(email=user.email, password=old_password, ip=ip)
    identity().change_password(
        access_token=tokens.access_token, old_password=old_password, new_password=new_password
    )
    user.refresh_from_db()


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
    user.tokens_valid_after = timezone.now()
    user.save(update_fields=["is_active", "tokens_valid_after"])
    logger.info("Disabled account %s", user.pk)


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
    from project.admin_site import audit_record
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
