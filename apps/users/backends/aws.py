"""Amazon Cognito user pools as the identity provider (boto3 ``cognito-idp``).

The app client is public (no secret) and allows ``USER_PASSWORD_AUTH`` and
``REFRESH_TOKEN_AUTH``; the email is the username. The boto3 client is the shared
``Backend.aws_client("cognito-idp")``: made on first use, one per thread, with the
``region_name`` and ``endpoint_url`` options. Cognito's error codes are translated into :mod:`apps.users.exceptions`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from django.core import checks

from apps.users import exceptions as exc
from apps.users.backends.base import IdentityBackend, TokenSet
from project.errors import RateLimited
from project.ratelimit import in_words

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

logger = logging.getLogger("nimbus.users.cognito")

#: The user pool operations this backend calls that AWS authorises with IAM (the rest —
#: sign-up, sign-in, codes, password change — are public, made with the app client id).
#: The function's role grants exactly these on the pool (infra/parts/function.py).
POOL_ACTIONS = frozenset(
    {
        "AdminAddUserToGroup",
        "AdminDeleteUser",
        "AdminDisableUser",
        "AdminEnableUser",
        "AdminListGroupsForUser",
        "AdminRemoveUserFromGroup",
        "AdminUpdateUserAttributes",
        "AdminUserGlobalSignOut",
        "CreateGroup",
        "GetGroup",
    }
)

#: Cognito's refusals for going too fast, and how long to wait after each. Cognito sends no
#: Retry-After: TooManyRequests is its per-second request quota (seconds pass it), the
#: other two are its per-account attempt limits, which it lifts after some minutes.
_THROTTLED = {
    "TooManyRequestsException": 10,
    "LimitExceededException": 900,
    "TooManyFailedAttemptsException": 900,
}
#: Spending an emailed code, these two mean the code was guessed wrong too often.
_CODE_EXHAUSTED = {"LimitExceededException", "TooManyFailedAttemptsException"}


class CognitoIdentityBackend(IdentityBackend):
    supports_federation = True
    default_options: ClassVar[dict[str, Any]] = {
        "user_pool_id": "",
        "client_id": "",
        "region_name": None,
        "issuer": "",
        "jwks_url": "",
        "endpoint_url": None,
        "hosted_ui_domain": "",
        "identity_providers": [],
        "leeway": 30,
        "jwks_max_age": 3600,
        "jwks_min_refresh": 30,
    }

    @property
    def issuer(self) -> str:
        return str(
            self.options["issuer"]
            or f"https://cognito-idp.{self.options['region_name']}.amazonaws.com/"
            f"{self.options['user_pool_id']}"
        )

    @property
    def client_id(self) -> str:
        return str(self.options["client_id"])

    @property
    def jwks_url(self) -> str:
        return str(self.options["jwks_url"] or self.issuer + "/.well-known/jwks.json")

    def hosted_ui_url(self) -> str:
        domain = str(self.options["hosted_ui_domain"] or "").rstrip("/")
        if domain and not domain.startswith(("https://", "http://")):
            domain = f"https://{domain}"
        return domain

    def redeem_code(self, *, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        from apps.users.federation import token_endpoint_redeem

        return token_endpoint_redeem(
            self.hosted_ui_url() + "/oauth2/token",
            client_id=self.client_id,
            code=code,
            verifier=verifier,
        )

    @property
    def pool_id(self) -> str:
        return str(self.options["user_pool_id"])

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        missing = [k for k in ("user_pool_id", "client_id", "region_name") if not self.options[k]]
        if missing:
            return [
                checks.Error(
                    f"The Cognito identity backend needs OPTIONS {', '.join(missing)}.",
                    id="users.E002",
                )
            ]
        return []

    @property
    def client(self) -> CognitoIdentityProviderClient:
        client: CognitoIdentityProviderClient = self.aws_client("cognito-idp")
        return client

    @contextmanager
    def _errors(
        self, *, signing_in: bool = False, refreshing: bool = False, spending_code: bool = False
    ) -> Iterator[None]:
        """Translate Cognito's errors; see :func:`_translate`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            raise _translate(
                error, signing_in=signing_in, refreshing=refreshing, spending_code=spending_code
            ) from error
        except BotoCoreError as error:
            logger.error("Cognito call failed: %s", type(error).__name__)
            raise exc.IdentityUnavailable("The identity provider is unavailable.") from error

    # -- accounts -------------------------------------------------------------------------

    def sign_up(self, *, email: str, password: str, name: str = "") -> str:
        attributes: list[Any] = [{"Name": "email", "Value": email}]
        if name:
            attributes.append({"Name": "name", "Value": name})
        with self._errors():
            response = self.client.sign_up(
                ClientId=self.client_id,
                Username=email,
                Password=password,
                UserAttributes=attributes,
            )
        return str(response["UserSub"])

    def confirm_sign_up(self, *, email: str, code: str) -> None:
        with self._errors(spending_code=True):
            self.client.confirm_sign_up(
                ClientId=self.client_id, Username=email, ConfirmationCode=code
            )

    def resend_confirmation(self, *, email: str) -> None:
        with self._errors():
            self.client.resend_confirmation_code(ClientId=self.client_id, Username=email)

    def sign_in(self, *, email: str, password: str) -> TokenSet:
        with self._errors(signing_in=True):
            response = self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        return _token_set(response)

    def refresh(self, *, refresh_token: str) -> TokenSet:
        with self._errors(refreshing=True):
            response = self.client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        return _token_set(response, refresh_token=refresh_token)

    def forgot_password(self, *, email: str) -> None:
        try:
            with self._errors():
                self.client.forgot_password(ClientId=self.client_id, Username=email)
        except exc.UserNotFound:
            pass  # same answer for unknown addresses: no account enumeration

    def confirm_forgot_password(self, *, email: str, code: str, new_password: str) -> None:
        with self._errors(spending_code=True):
            self.client.confirm_forgot_password(
                ClientId=self.client_id,
                Username=email,
                ConfirmationCode=code,
                Password=new_password,
            )

    def change_password(self, *, access_token: str, old_password: str, new_password: str) -> None:
        with self._errors(signing_in=True):
            self.client.change_password(
                AccessToken=access_token,
                PreviousPassword=old_password,
                ProposedPassword=new_password,
            )

    def global_sign_out(self, *, email: str) -> None:
        with self._errors():
            self.client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=email)

    def admin_disable(self, *, email: str) -> None:
        with self._errors():
            self.client.admin_disable_user(UserPoolId=self.pool_id, Username=email)
            self.client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=email)

    def admin_enable(self, *, email: str) -> None:
        with self._errors():
            self.client.admin_enable_user(UserPoolId=self.pool_id, Username=email)

    def admin_delete(self, *, email: str) -> None:
        with self._errors():
            # Signing out first revokes the refresh tokens explicitly rather than relying
            # on the deletion to (moto keeps a deleted user's and answers them with a 500).
            self.client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=email)
            self.client.admin_delete_user(UserPoolId=self.pool_id, Username=email)

    def admin_set_name(self, *, email: str, name: str) -> None:
        with self._errors():
            self.client.admin_update_user_attributes(
                UserPoolId=self.pool_id,
                Username=email,
                UserAttributes=[{"Name": "name", "Value": name}],
            )

    def admin_list_groups(self, *, email: str) -> list[str]:
        with self._errors():
            response = self.client.admin_list_groups_for_user(
                UserPoolId=self.pool_id, Username=email
            )
        return sorted(g["GroupName"] for g in response.get("Groups", []))

    def admin_set_groups(self, *, email: str, groups: list[str]) -> None:
        current = set(self.admin_list_groups(email=email))
        wanted = set(groups)
        with self._errors():
            for name in sorted(wanted - current):
                self._ensure_group(name)
                self.client.admin_add_user_to_group(
                    UserPoolId=self.pool_id, Username=email, GroupName=name
                )
            for name in sorted(current - wanted):
                self.client.admin_remove_user_from_group(
                    UserPoolId=self.pool_id, Username=email, GroupName=name
                )

    def admin_add_to_group(self, *, email: str, group: str) -> None:
        # The stack declares the pool's groups (infra/parts/identity.py GROUPS); a missing
        # one is a deployment error, not something to create here.
        with self._errors():
            self.client.admin_add_user_to_group(
                UserPoolId=self.pool_id, Username=email, GroupName=group
            )

    def admin_remove_from_group(self, *, email: str, group: str) -> None:
        with self._errors():
            self.client.admin_remove_user_from_group(
                UserPoolId=self.pool_id, Username=email, GroupName=group
            )

    def _ensure_group(self, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.get_group(GroupName=name, UserPoolId=self.pool_id)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self.client.create_group(GroupName=name, UserPoolId=self.pool_id)


def _token_set(response: Any, *, refresh_token: str = "") -> TokenSet:
    result = response.get("AuthenticationResult")
    if not result:
        # A challenge (MFA, NEW_PASSWORD_REQUIRED) Nimbus does not drive.
        raise exc.CredentialsInvalid(
            "This account needs a sign-in step Nimbus does not support.",
            code="challenge_required",
            detail={"challenge": str(response.get("ChallengeName", ""))},
        )
    return TokenSet(
        id_token=result["IdToken"],
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken") or refresh_token,
        expires_in=int(result.get("ExpiresIn", 3600)),
    )


def _translate(
    error: Any, *, signing_in: bool, refreshing: bool, spending_code: bool = False
) -> Exception:
    """Map a botocore ``ClientError`` onto a users-app error.

    Spending a code, Cognito's attempt limits mean too many wrong codes (the person needs a
    new code, not a wait); elsewhere they are a ``RateLimited`` that says when to retry.
    """
    code = error.response.get("Error", {}).get("Code", "")
    message = str(error.response.get("Error", {}).get("Message", ""))
    simple: dict[str, type[exc.IdentityError]] = {
        "UsernameExistsException": exc.EmailTaken,
        "AliasExistsException": exc.EmailTaken,
        "CodeMismatchException": exc.CodeInvalid,
        "ExpiredCodeException": exc.CodeExpired,
        "UserNotConfirmedException": exc.UserNotConfirmed,
    }
    if code in simple:
        return simple[code](message)
    if code == "InvalidPasswordException":
        return exc.PasswordTooWeak(message)
    if spending_code and code in _CODE_EXHAUSTED:
        return exc.CodeAttemptsExceeded(exc.CODE_ATTEMPTS_EXCEEDED_MESSAGE)
    if code in _THROTTLED:
        wait = _THROTTLED[code]
        return RateLimited(
            f"Too many attempts; try again in {in_words(wait)}.",
            detail={"scope": "identity-provider", "retry_after": wait},
        )
    if code == "UserNotFoundException":
        if signing_in:
            return exc.CredentialsInvalid("Incorrect email or password.")
        return exc.UserNotFound("No account has this email address.")
    if code == "NotAuthorizedException":
        return _not_authorized(message, signing_in=signing_in, refreshing=refreshing)
    if code == "InvalidParameterException" and "already confirmed" in message.lower():
        return exc.UserAlreadyConfirmed("This account is already confirmed.")
    logger.error("Cognito refused a call: %s", code)
    return exc.IdentityUnavailable(f"The identity provider refused the request ({code}).")


def _not_authorized(message: str, *, signing_in: bool, refreshing: bool) -> exc.IdentityError:
    lowered = message.lower()
    if "disabled" in lowered:
        return exc.UserDisabled("This account is disabled.")
    if "confirmed" in lowered and "current status" in lowered:
        return exc.UserAlreadyConfirmed("This account is already confirmed.")
    if refreshing:
        return exc.RefreshTokenInvalid("The refresh token is invalid, expired or revoked.")
    return exc.CredentialsInvalid("Incorrect email or password.")
