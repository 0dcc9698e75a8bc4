"""Nimbus accounts: keyed by the identity provider's subject, signed in by email."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to Nimbus.

    ``(issuer, subject)`` is the identity provider's key for the person (a Cognito user
    pool's ``iss`` + ``sub``, or the local provider's); email is the sign-in name.
    """

    email = models.EmailField(unique=True)
    issuer = models.CharField(max_length=255, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=150, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    #: The provider confirmed the email address (the local provider's "confirmed" state).
    email_verified = models.BooleanField(default=False)
    #: Tokens issued before this instant are refused (sign out everywhere, disable).
    tokens_valid_after = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"],
                condition=~models.Q(subject=""),
                name="users_user_unique_subject",
            )
        ]

    def __str__(self) -> str:
        return self.email

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Sessions carry an HMAC of this; folding in tokens_valid_after makes "sign out
        # everywhere" (and disabling) end every browser session too, not only tokens.
        key_salt = "apps.users.models.User.get_session_auth_hash"
        valid_after = self.tokens_valid_after.isoformat() if self.tokens_valid_after else ""
        return salted_hmac(
            key_salt, f"{self.password}|{valid_after}", secret=secret, algorithm="sha256"
        ).hexdigest()


class IdentityLink(models.Model):
    """Another identity that signs in to an account: a federated sign-in (Google, an OIDC
    or SAML provider behind the user pool) joined to an account that already existed.

    ``(issuer, subject)`` is that identity's key, as in its id tokens. A link only lets the
    identity sign in; the account's own identity keeps its name and groups
    (``services.user_sync_from_claims``).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identity_links")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    #: The federated provider's name (the id token's ``identities[0].providerName``).
    provider = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="users_identitylink_unique_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider or 'identity'} link of {self.user}"


class Profile(models.Model):
    """What Nimbus keeps about a person beyond what the identity provider holds."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(max_length=64, blank=True, default="UTC")
    email_notifications = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class LocalCode(models.Model):
    """A one-time code of the local identity provider (sign-up confirmation, reset).

    Only an HMAC of the code is stored; a code is single-use, expires, and is voided after
    too many wrong guesses.
    """

    class Purpose(models.TextChoices):
        CONFIRM = "confirm", "confirm sign-up"
        RESET = "reset", "reset password"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="local_codes")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} code for {self.user}"


class LocalRefreshToken(models.Model):
    """A refresh token of the local identity provider; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="local_refresh_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token of {self.user}"
