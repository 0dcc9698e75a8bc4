"""The local identity provider: accounts in this database, Cognito-shaped RS256 JWTs.

It behaves like a Cognito user pool with an app client (no secret) and the email as the
username: unconfirmed accounts cannot sign in, confirmation and reset codes are sent by
email (Django's mail, so tests read ``django.core.mail.outbox``), codes are single-use,
expire, are voided after too many wrong guesses and only their HMAC is stored; refresh
tokens are opaque and only their SHA-256 is stored. Its public keys are served at
``<site>/identity/.well-known/jwks.json``.

Its issuer (the tokens' ``iss``, and half of each account's ``(issuer, subject)`` key) is
the constant :data:`LOCAL_ISSUER`, not the site's address: the same accounts answer on any
port or host name, and moving the site does not orphan them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import Group
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.users import exceptions as exc
from apps.users.backends import standin
from apps.users.backends.base import IdentityBackend, TokenSet
from apps.users.keys import signing_key_generate
from apps.users.models import LocalCode, LocalRefreshToken, User
from apps.users.password_policy import password_validate
from project.site import site_url

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["LocalIdentityBackend", "signing_key_generate"]

LOCAL_ISSUER = "urn:nimbus:identity:local"
LOCAL_ISSUER_PATH = "/identity"
JWKS_PATH = "/.well-known/jwks.json"


class LocalIdentityBackend(IdentityBackend):
    is_local = True
    #: Through the stand-in for federated IdPs (``standin``) when ``identity_providers``
    #: names some.
    supports_federation = True
    default_options: ClassVar[dict[str, Any]] = {
        "signing_key": "",
        "issuer": "",
        "client_id": "nimbus-local",
        "access_token_ttl": 3600,
        "id_token_ttl": 3600,
        "refresh_token_ttl": 30 * 24 * 3600,
        "confirm_code_ttl": 24 * 3600,
        "reset_code_ttl": 3600,
        "code_max_attempts": 5,
        "identity_providers": [],
        "authorization_code_ttl": 120,
        "leeway": 30,
        "jwks_max_age": 3600,
        "jwks_min_refresh": 30,
    }

    # -- keys and verification ----------------------------------------------------------

    @cached_property
    def _private_key(self) -> RSAPrivateKey:
        pem = self.options["signing_key"]
        if not pem:
            raise ImproperlyConfigured(
                "The local identity provider needs OPTIONS['signing_key'] "
                "(env NIMBUS_IDENTITY_SIGNING_KEY; local settings generate one into var/)."
            )
        # cryptography is imported when a key is first needed, not at cold start.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ImproperlyConfigured("The local identity signing key must be an RSA key.")
        return key

    @cached_property
    def kid(self) -> str:
        from cryptography.hazmat.primitives import serialization

        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()[:16]

    @property
    def issuer(self) -> str:
        return str(self.options["issuer"] or LOCAL_ISSUER)

    @property
    def client_id(self) -> str:
        return str(self.options["client_id"])

    @property
    def jwks_url(self) -> str:
        return site_url() + LOCAL_ISSUER_PATH + JWKS_PATH

    def jwks_document(self) -> dict[str, Any]:
        """The public JWKS served at :attr:`jwks_url`."""
        import jwt.algorithms

        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def fetch_jwks(self) -> dict[str, Any]:
        # The provider is this process: read the document it serves instead of calling
        # itself over HTTP (which would deadlock a single-threaded server).
        return self.jwks_document()

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        try:
            self._private_key  # noqa: B018 - loads and validates the key
        except (ImproperlyConfigured, ValueError) as error:
            return [checks.Error(str(error), id="users.E001")]
        return []

    # -- tokens ---------------------------------------------------------------------------

    def _issue(
        self, user: User, *, refresh_token: str, origin_jti: str, auth_time: int | None = None
    ) -> TokenSet:
        """Sign a token set; ``auth_time`` is the sign-in's (kept across refreshes, as
        Cognito does), now for a fresh sign-in."""
        now = int(timezone.now().timestamp())
        groups = sorted(user.groups.values_list("name", flat=True))
        common: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.subject,
            "iat": now,
            "auth_time": now if auth_time is None else auth_time,
            "origin_jti": origin_jti,
        }
        if groups:  # like Cognito: no claim at all when the account is in no group
            common["cognito:groups"] = groups
        access = {
            **common,
            "token_use": "access",
            "client_id": self.client_id,
            "scope": "aws.cognito.signin.user.admin",
            "username": user.subject,
            "exp": now + int(self.options["access_token_ttl"]),
            "jti": str(uuid.uuid4()),
        }
        id_claims = {
            **common,
            "token_use": "id",
            "aud": self.client_id,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "cognito:username": user.subject,
            "exp": now + int(self.options["id_token_ttl"]),
            "jti": str(uuid.uuid4()),
        }
        return TokenSet(
            id_token=self.sign(id_claims),
            access_token=self.sign(access),
            refresh_token=refresh_token,
            expires_in=int(self.options["access_token_ttl"]),
        )

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of ``claims`` signed with the provider's key (RS256, its ``kid``)."""
        import jwt

        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})

    def _new_refresh_token(self, user: User) -> tuple[str, str]:
        token = secrets.token_urlsafe(48)
        LocalRefreshToken.objects.create(
            user=user,
            token_hash=_sha256(token),
            expires_at=timezone.now() + timedelta(seconds=int(self.options["refresh_token_ttl"])),
        )
        return token, _sha256(token)[:32]

    # -- federated sign-in through the stand-in IdPs ------------------------------------

    def hosted_ui_url(self) -> str:
        # The stand-in IdPs are served by this site under the provider's path (the issuer
        # itself is a constant URN, not an address).
        return site_url() + LOCAL_ISSUER_PATH if self.identity_providers else ""

    def authorization_code_issue(self, **grant: Any) -> str:
        """The code the stand-in IdP answers the callback with (``standin.code_issue``)."""
        return standin.code_issue(self, **grant)

    def redeem_code(self, *, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        return standin.code_redeem(self, code=code, verifier=verifier, redirect_uri=redirect_uri)

    # -- accounts -------------------------------------------------------------------------

    def _user(self, email: str) -> User:
        try:
            return User.objects.get(email=email.lower())
        except User.DoesNotExist:
            raise exc.UserNotFound("No account has this email address.") from None

    @transaction.atomic
    def sign_up(self, *, email: str, password: str, name: str = "") -> str:
        password_validate(password=password)
        email = email.lower()
        if User.objects.filter(email=email).exists():
            _hash_dummy(password)  # as long as creating one: the answer's time says nothing
            raise exc.EmailTaken("An account with this email address already exists.")
        user = User(
            email=email, name=name, issuer=self.issuer, subject=str(uuid.uuid4()), is_active=True
        )
        user.set_password(password)
        user.save()
        self._send_code(user, LocalCode.Purpose.CONFIRM)
        return user.subject

    def confirm_sign_up(self, *, email: str, code: str) -> None:
        user = self._user(email)
        if user.email_verified:
            raise exc.UserAlreadyConfirmed("This account is already confirmed.")

        def confirmed() -> None:
            user.email_verified = True
            user.save(update_fields=["email_verified"])

        self._use_code(user, LocalCode.Purpose.CONFIRM, code, then=confirmed)

    def resend_confirmation(self, *, email: str) -> None:
        user = self._user(email)
        if user.email_verified:
            raise exc.UserAlreadyConfirmed("This account is already confirmed.")
        self._send_code(user, LocalCode.Purpose.CONFIRM)

    def sign_in(self, *, email: str, password: str) -> TokenSet:
        user = User.objects.filter(email=email.lower()).first()
        if user is None or not user.has_usable_password():
            # Cost what checking a real password costs, so timing does not tell who has an
            # account (Django's ModelBackend does the same).
            _hash_dummy(password)
            raise exc.CredentialsInvalid("Incorrect email or password.")
        if not user.check_password(password):
            raise exc.CredentialsInvalid("Incorrect email or password.")
        if not user.is_active:
            raise exc.UserDisabled("This account is disabled.")
        if not user.email_verified:
            raise exc.UserNotConfirmed("Confirm the email address first.")
        if not user.subject:
            # Accounts made outside the provider (createsuperuser) get a subject on first use.
            user.issuer, user.subject = self.issuer, str(uuid.uuid4())
            user.save(update_fields=["issuer", "subject"])
        token, origin = self._new_refresh_token(user)
        return self._issue(user, refresh_token=token, origin_jti=origin)

    def refresh(self, *, refresh_token: str) -> TokenSet:
        row = (
            LocalRefreshToken.objects.select_related("user")
            .filter(token_hash=_sha256(refresh_token))
            .first()
        )
        if row is None or row.revoked_at is not None or row.expires_at <= timezone.now():
            raise exc.RefreshTokenInvalid("The refresh token is invalid, expired or revoked.")
        if not row.user.is_active:
            raise exc.UserDisabled("This account is disabled.")
        return self._issue(
            row.user,
            refresh_token=refresh_token,
            origin_jti=row.token_hash[:32],
            auth_time=int(row.created_at.timestamp()),
        )

    def forgot_password(self, *, email: str) -> None:
        user = User.objects.filter(email=email.lower(), is_active=True).first()
        if user is not None:
            self._send_code(user, LocalCode.Purpose.RESET)

    def confirm_forgot_password(self, *, email: str, code: str, new_password: str) -> None:
        password_validate(password=new_password)
        user = self._user(email)

        def reset() -> None:
            user.set_password(new_password)
            # Resetting by email proves the address.
            user.email_verified = True
            user.save(update_fields=["password", "email_verified"])
            self._revoke_refresh_tokens(user)

        self._use_code(user, LocalCode.Purpose.RESET, code, then=reset)

    def change_password(self, *, access_token: str, old_password: str, new_password: str) -> None:
        claims = self.verifier().verify(access_token, token_use="access")  # noqa: S106
        user = User.objects.filter(issuer=self.issuer, subject=claims["sub"]).first()
        if user is None:
            raise exc.TokenUserUnknown("The token's account does not exist.")
        if not user.check_password(old_password):
            raise exc.CredentialsInvalid("The current password is incorrect.")
        password_validate(password=new_password)
        user.set_password(new_password)
        user.save(update_fields=["password"])

    def global_sign_out(self, *, email: str) -> None:
        self._revoke_refresh_tokens(self._user(email))

    def admin_disable(self, *, email: str) -> None:
        user = self._user(email)
        user.is_active = False
        user.save(update_fields=["is_active"])
        self._revoke_refresh_tokens(user)

    def admin_enable(self, *, email: str) -> None:
        user = self._user(email)
        user.is_active = True
        user.save(update_fields=["is_active"])

    def admin_delete(self, *, email: str) -> None:
        # The account row is this provider's record: it goes when the caller deletes it.
        self._revoke_refresh_tokens(self._user(email))

    def admin_set_name(self, *, email: str, name: str) -> None:
        User.objects.filter(pk=self._user(email).pk).update(name=name)

    def admin_set_groups(self, *, email: str, groups: list[str]) -> None:
        user = self._user(email)
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])

    def admin_list_groups(self, *, email: str) -> list[str]:
        return sorted(self._user(email).groups.values_list("name", flat=True))

    def admin_add_to_group(self, *, email: str, group: str) -> None:
        self._user(email).groups.add(Group.objects.get_or_create(name=group)[0])

    def admin_remove_from_group(self, *, email: str, group: str) -> None:
        self._user(email).groups.remove(*Group.objects.filter(name=group))

    # -- codes ----------------------------------------------------------------------------

    def _send_code(self, user: User, purpose: str) -> None:
        ttl = self.options[
            "confirm_code_ttl" if purpose == LocalCode.Purpose.CONFIRM else "reset_code_ttl"
        ]
        code = f"{secrets.randbelow(1_000_000):06d}"
        now = timezone.now()
        # A new code supersedes the ones sent before it.
        LocalCode.objects.filter(
            user=user, purpose=purpose, used_at=None, expires_at__gt=now
        ).update(expires_at=now)
        LocalCode.objects.create(
            user=user,
            purpose=purpose,
            code_hash=_code_hash(user, purpose, code),
            expires_at=now + timedelta(seconds=int(ttl)),
        )
        subject, verb = (
            ("Confirm your Nimbus account", "confirm your account")
            if purpose == LocalCode.Purpose.CONFIRM
            else ("Reset your Nimbus password", "reset your password")
        )
        send_mail(
            subject,
            f"Your code to {verb} is {code}. It expires in {int(ttl) // 60} minutes.",
            None,
            [user.email],
        )

    def _use_code(self, user: User, purpose: str, code: str, *, then: Callable[[], None]) -> None:
        """Spend ``code`` and run ``then`` in one transaction.

        Raises ``CodeInvalid``/``CodeExpired``/``CodeAttemptsExceeded``/``CodeUsed``; a
        wrong guess is counted even though it raises (the count is committed before the
        error leaves).
        """
        with transaction.atomic():
            refusal = self._spend_code(user, purpose, code.strip())
            if refusal is None:
                then()
        if refusal is not None:
            raise refusal

    def _spend_code(self, user: User, purpose: str, code: str) -> exc.IdentityError | None:
        wanted = _code_hash(user, purpose, code)
        now = timezone.now()
        rows = LocalCode.objects.select_for_update().filter(user=user, purpose=purpose)
        for row in rows.order_by("-created_at")[:20]:
            if not constant_time_compare(row.code_hash, wanted):
                continue
            if row.used_at is not None:
                return exc.CodeUsed("This code has already been used.")
            if row.failed_attempts >= int(self.options["code_max_attempts"]):
                return exc.CodeAttemptsExceeded(exc.CODE_ATTEMPTS_EXCEEDED_MESSAGE)
            if row.expires_at <= now:
                return exc.CodeExpired("This code has expired; ask for a new one.")
            # The filter on used_at makes a concurrent second use lose the race.
            if not LocalCode.objects.filter(pk=row.pk, used_at=None).update(used_at=now):
                return exc.CodeUsed("This code has already been used.")
            return None
        live = rows.filter(used_at=None, expires_at__gt=now).order_by("-created_at").first()
        if live is not None:
            live.failed_attempts += 1
            live.save(update_fields=["failed_attempts"])
        return exc.CodeInvalid("The code is not correct.")

    def _revoke_refresh_tokens(self, user: User) -> None:
        LocalRefreshToken.objects.filter(user=user, revoked_at=None).update(
            revoked_at=timezone.now()
        )


def _hash_dummy(password: str) -> None:
    User().set_password(password)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(user: User, purpose: str, code: str) -> str:
    return salted_hmac(
        "apps.users.LocalCode", f"{user.pk}:{purpose}:{code}", algorithm="sha256"
    ).hexdigest()
