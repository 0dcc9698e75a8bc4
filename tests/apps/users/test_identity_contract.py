"""One contract for every identity backend, run against the local provider and against a
Cognito user pool on moto (server mode, so the verifier fetches the pool's JWKS over HTTP).

Each subclass says how to read a code the provider sent and how to sign a token with the
provider's own key (to forge the bad-token matrix); everything else is shared.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from apps.users import services
from apps.users.backends import identity
from apps.users.models import User
from tests.apps.users.conftest import moto_private_jwk

PASSWORD = "Sup3r-secret!"
NEW_PASSWORD = "An0ther-secret?"


def api(client: Client, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    if body is None:
        return client.get(path, headers=headers)
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IdentityBackendContract:
    """Behaviour every identity backend must share. Subclasses set up the provider."""

    #: What a token signed with moto's public static key is refused as.
    moto_key_code: ClassVar[str]
    #: Provider calls the backend's stand-in does not behave like the provider in.
    stand_in_gaps: ClassVar[dict[str, str]] = {}

    # -- per-backend hooks ---------------------------------------------------------------

    def confirmation_code(self, email: str) -> str:
        raise NotImplementedError

    def reset_code(self, email: str) -> str:
        raise NotImplementedError

    def sign_as_provider(self, claims: dict[str, Any]) -> str:
        """A token signed with the provider's real key (to forge bad claims)."""
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------

    @pytest.fixture
    def client(self) -> Client:
        return Client()

    def signed_up(self, client: Client, email: str = "ana@example.com") -> str:
        response = api(
            client, "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Ana"}
        )
        assert response.status_code == 201, response.content
        return email

    def confirmed(self, client: Client, email: str = "ana@example.com") -> str:
        self.signed_up(client, email)
        code = self.confirmation_code(email)
        response = api(client, "/api/auth/confirm", {"email": email, "code": code})
        assert response.status_code == 200, response.content
        return email

    def tokens(
        self, client: Client, email: str = "ana@example.com", password: str = PASSWORD
    ) -> dict[str, Any]:
        response = api(client, "/api/auth/token", {"email": email, "password": password})
        assert response.status_code == 200, response.content
        return dict(response.json())

    def claims(self, token_use: str, **overrides: Any) -> dict[str, Any]:
        backend = identity()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": backend.issuer,
            "sub": str(uuid.uuid4()),
            "token_use": token_use,
            "iat": now,
            "auth_time": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }
        if token_use == "access":
            claims["client_id"] = backend.client_id
        else:
            claims["aud"] = backend.client_id
            claims["email"] = f"forged-{uuid.uuid4().hex[:6]}@example.com"
        claims.update(overrides)
        return claims

    # -- the flow -------------------------------------------------------------------------

    def test_sign_up_confirm_sign_in_me_refresh_sign_out(self, client):
        email = self.confirmed(client)
        tokens = self.tokens(client, email)
        assert set(tokens) >= {"id_token", "access_token", "refresh_token", "expires_in"}

        me = api(client, "/api/me", **bearer(tokens["access_token"]))
        assert me.status_code == 200, me.content
        assert me.json()["email"] == email
        assert me.json()["email_verified"] is True

        refreshed = api(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.content
        new_access = refreshed.json()["access_token"]
        assert api(client, "/api/me", **bearer(new_access)).status_code == 200

        out = client.post("/api/auth/signout", headers=bearer(new_access))
        assert out.status_code == 204, out.content

        for token in (tokens["access_token"], new_access):
            after = api(client, "/api/me", **bearer(token))
            assert after.status_code == 401
            assert after.json()["error"]["code"] == "token_revoked"
        again = api(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "refresh_token_invalid"
        # Signing in again works, and its tokens post-date the sign-out.
        fresh = self.tokens(client, email)
        assert api(client, "/api/me", **bearer(fresh["access_token"])).status_code == 200

    def test_tokens_are_shaped_like_cognito(self, client):
        email = self.confirmed(client)
        tokens = self.tokens(client, email)
        backend = identity()
        header = jwt.get_unverified_header(tokens["access_token"])
        assert header["alg"] == "RS256"
        assert header["kid"]
        access = backend.verifier().verify(tokens["access_token"], token_use="access")
        id_claims = backend.verifier().verify(tokens["id_token"], token_use="id")
        assert access["client_id"] == backend.client_id
        assert id_claims["aud"] == backend.client_id
        assert access["iss"] == id_claims["iss"] == backend.issuer
        assert access["sub"] == id_claims["sub"] == User.objects.get(email=email).subject
        assert id_claims["email"] == email
        assert access["exp"] > time.time()

    def test_signing_up_again_answers_as_a_new_sign_up_and_writes_nothing(self, client):
        """A 409 ``email_taken`` told anyone which addresses have an account."""
        first = api(client, "/api/auth/signup", {"email": "ana@example.com", "password": PASSWORD})
        self.confirmed(client, "bo@example.com")
        for email in ("ana@example.com", "bo@example.com"):  # unconfirmed, confirmed
            again = api(client, "/api/auth/signup", {"email": email, "password": PASSWORD})
            assert (again.status_code, again.json()) == (first.status_code, first.json())
            assert User.objects.filter(email=email).count() == 1
        assert first.json() == {"status": "confirmation_sent", "confirmation_required": True}

    @pytest.mark.parametrize("path", ["/api/auth/resend", "/api/auth/password/forgot"])
    def test_code_requests_answer_the_same_for_unknown_and_known_addresses(self, client, path):
        if path in self.stand_in_gaps:
            pytest.skip(self.stand_in_gaps[path])
        self.confirmed(client, "known@example.com")
        self.signed_up(client, "pending@example.com")
        answers = {
            email: api(client, path, {"email": email})
            for email in ("known@example.com", "pending@example.com", "nobody@example.com")
        }
        assert {(r.status_code, r.content) for r in answers.values()} == {
            (202, b'{"status": "sent"}')
        }

    def test_confirm_and_reset_answer_a_wrong_code_for_unknown_and_known_addresses(self, client):
        if "/api/auth/confirm" in self.stand_in_gaps:
            pytest.skip(self.stand_in_gaps["/api/auth/confirm"])
        self.confirmed(client, "known@example.com")
        self.signed_up(client, "pending@example.com")
        for email in ("known@example.com", "pending@example.com", "nobody@example.com"):
            confirm = api(client, "/api/auth/confirm", {"email": email, "code": "000000"})
            reset = api(
                client,
                "/api/auth/password/reset",
                {"email": email, "code": "000000", "new_password": "N3w-password!"},
            )
            for response in (confirm, reset):
                assert response.status_code == 400, (email, response.content)
                assert response.json()["error"]["code"] == "code_invalid", (email, response.content)

    @pytest.mark.parametrize(
        "password", ["Sh0rt!", "nouppercase1!", "NOLOWER1!", "NoDigits!!", "NoSymbol12"]
    )
    def test_weak_password_is_refused_by_the_same_policy(self, client, password):
        response = api(
            client, "/api/auth/signup", {"email": "weak@example.com", "password": password}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "password_too_weak"
        assert not User.objects.filter(email="weak@example.com").exists()

    def test_the_provider_itself_enforces_the_policy(self):
        from apps.users.exceptions import PasswordTooWeak

        with pytest.raises(PasswordTooWeak):
            identity().sign_up(email="direct@example.com", password="weakpassword")

    def test_unconfirmed_account_cannot_sign_in(self, client):
        self.signed_up(client)
        response = api(
            client, "/api/auth/token", {"email": "ana@example.com", "password": PASSWORD}
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "user_not_confirmed"

    def test_wrong_password_is_401(self, client):
        self.confirmed(client)
        response = api(
            client, "/api/auth/token", {"email": "ana@example.com", "password": "Wr0ng-pass!"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "credentials_invalid"

    def test_unknown_account_is_the_same_401(self, client):
        response = api(
            client, "/api/auth/token", {"email": "nobody@example.com", "password": PASSWORD}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "credentials_invalid"

    def test_forgot_and_reset_password(self, client):
        email = self.confirmed(client)
        old = self.tokens(client, email)
        assert api(client, "/api/auth/password/forgot", {"email": email}).status_code == 202
        code = self.reset_code(email)
        response = api(
            client,
            "/api/auth/password/reset",
            {"email": email, "code": code, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 200, response.content
        self.tokens(client, email, NEW_PASSWORD)
        assert (
            api(client, "/api/auth/token", {"email": email, "password": PASSWORD}).status_code
            == 401
        )
        # A reset signs the account out everywhere.
        assert api(client, "/api/me", **bearer(old["access_token"])).status_code == 401

    def test_change_password(self, client):
        email = self.confirmed(client)
        user = User.objects.get(email=email)
        services.password_change(user=user, old_password=PASSWORD, new_password=NEW_PASSWORD)
        self.tokens(client, email, NEW_PASSWORD)
        from apps.users.exceptions import CredentialsInvalid

        with pytest.raises(CredentialsInvalid):
            services.password_change(user=user, old_password="Wr0ng-pass!", new_password=PASSWORD)

    def test_changing_the_password_revokes_earlier_tokens_and_other_sessions(self, client):
        email = self.confirmed(client)
        old = self.tokens(client, email)
        browser = Client()
        browser.post("/accounts/signin/", {"email": email, "password": PASSWORD})
        assert browser.get("/api/me").status_code == 200
        changed = api(
            client,
            "/api/auth/password/change",
            {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
            **bearer(old["access_token"]),
        )
        assert changed.status_code == 200, changed.content

        me = api(client, "/api/me", **bearer(old["access_token"]))
        assert me.status_code == 401
        assert me.json()["error"]["code"] == "token_revoked"
        refreshed = api(client, "/api/auth/refresh", {"refresh_token": old["refresh_token"]})
        assert refreshed.status_code == 401
        assert refreshed.json()["error"]["code"] in ("refresh_token_invalid", "token_revoked")
        assert browser.get("/api/me").status_code == 401
        fresh = self.tokens(client, email, NEW_PASSWORD)
        assert api(client, "/api/me", **bearer(fresh["access_token"])).status_code == 200

    def test_a_reset_revokes_refresh_tokens_too(self, client):
        email = self.confirmed(client)
        old = self.tokens(client, email)
        api(client, "/api/auth/password/forgot", {"email": email})
        reset = api(
            client,
            "/api/auth/password/reset",
            {"email": email, "code": self.reset_code(email), "new_password": NEW_PASSWORD},
        )
        assert reset.status_code == 200, reset.content
        refreshed = api(client, "/api/auth/refresh", {"refresh_token": old["refresh_token"]})
        assert refreshed.status_code == 401
        assert refreshed.json()["error"]["code"] in ("refresh_token_invalid", "token_revoked")

    def test_deleting_the_account_in_the_admin_deletes_it_at_the_provider(
        self, client, admin_client
    ):
        email = self.confirmed(client)
        tokens = self.tokens(client, email)
        user = User.objects.get(email=email)
        response = admin_client.post(
            "/admin/users/user/",
            {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"},
        )
        assert response.status_code == 302
        assert not User.objects.filter(pk=user.pk).exists()

        me = api(client, "/api/me", **bearer(tokens["access_token"]))
        assert me.status_code == 401
        assert me.json()["error"]["code"] == "token_user_unknown"
        refreshed = api(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401
        again = api(client, "/api/auth/token", {"email": email, "password": PASSWORD})
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "credentials_invalid"
        assert not User.objects.filter(email=email).exists()  # nothing made it again

    def test_an_account_the_provider_never_knew_is_deleted_here(self, admin_client):
        user = User.objects.create_user("made-here@example.com", password=PASSWORD)
        response = admin_client.post(f"/admin/users/user/{user.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
        assert not User.objects.filter(pk=user.pk).exists()

    def test_groups_map_to_django_groups_and_operators_are_staff(self, client):
        email = self.confirmed(client)
        user = User.objects.get(email=email)
        services.account_groups_set(user=user, groups=["operators", "editors"])
        assert identity().admin_list_groups(email=email) == ["editors", "operators"]
        tokens = self.tokens(client, email)
        claims = identity().verifier().verify(tokens["access_token"], token_use="access")
        assert sorted(claims["cognito:groups"]) == ["editors", "operators"]
        user.refresh_from_db()
        assert user.is_staff
        assert sorted(user.groups.values_list("name", flat=True)) == ["editors", "operators"]
        services.account_groups_set(user=user, groups=[])
        user.refresh_from_db()
        assert not user.is_staff
        assert identity().admin_list_groups(email=email) == []

    # -- operators --------------------------------------------------------------------------

    def test_operator_grant_puts_the_account_in_the_providers_group_and_sign_in_keeps_it(
        self, client
    ):
        email = self.confirmed(client)
        assert services.operator_grant(email=email, actor_repr="test") is True
        assert identity().admin_list_groups(email=email) == ["operators"]
        tokens = self.tokens(client, email)  # the sign-in copies the provider's groups
        claims = identity().verifier().verify(tokens["access_token"], token_use="access")
        assert claims["cognito:groups"] == ["operators"]
        user = User.objects.get(email=email)
        assert user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == ["operators"]
        assert services.operator_grant(email=email, actor_repr="test") is False

    def test_operator_revoke_takes_the_account_out_at_the_provider_too(self, client):
        email = self.confirmed(client)
        services.operator_grant(email=email, actor_repr="test")
        assert services.operator_revoke(email=email, actor_repr="test") is True
        assert identity().admin_list_groups(email=email) == []
        tokens = self.tokens(client, email)
        claims = identity().verifier().verify(tokens["access_token"], token_use="access")
        assert "operators" not in claims.get("cognito:groups", [])
        user = User.objects.get(email=email)
        assert not user.is_staff
        assert not user.groups.exists()
        assert services.operator_revoke(email=email, actor_repr="test") is False

    def test_admin_disable_locks_the_account_out(self, client, admin_client):
        email = self.confirmed(client)
        tokens = self.tokens(client, email)
        browser = Client()
        browser.post("/accounts/signin/", {"email": email, "password": PASSWORD})
        assert browser.get("/api/me").status_code == 200
        user = User.objects.get(email=email)

        response = admin_client.post(
            "/admin/users/user/",
            {"action": "disable_accounts", "_selected_action": [user.pk]},
        )
        assert response.status_code == 302

        me = api(client, "/api/me", **bearer(tokens["access_token"]))
        assert me.status_code == 403
        assert me.json()["error"]["code"] == "user_disabled"
        refreshed = api(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code in (401, 403)
        assert refreshed.json()["error"]["code"] in ("refresh_token_invalid", "user_disabled")
        again = api(client, "/api/auth/token", {"email": email, "password": PASSWORD})
        assert again.status_code == 403
        assert again.json()["error"]["code"] == "user_disabled"
        assert browser.get("/api/me").status_code == 401

        admin_client.post(
            "/admin/users/user/", {"action": "enable_accounts", "_selected_action": [user.pk]}
        )
        fresh = self.tokens(client, email)
        assert api(client, "/api/me", **bearer(fresh["access_token"])).status_code == 200

    def test_tokens_of_an_account_disabled_here_are_refused_before_any_write(self, client):
        email = self.confirmed(client)
        tokens = self.tokens(client, email)
        user = User.objects.get(email=email)
        # The provider still knows the account as active, and now in a group; only Nimbus
        # has disabled it.
        identity().admin_set_groups(email=email, groups=["operators"])
        User.objects.filter(pk=user.pk).update(is_active=False, email_verified=False)
        user.groups.clear()
        refreshed = api(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 403
        assert refreshed.json()["error"]["code"] == "user_disabled"
        user.refresh_from_db()
        assert not user.is_active
        assert not user.email_verified  # the id token's claims were not copied
        assert not user.is_staff
        assert not user.groups.exists()

    # -- the bad-token matrix ------------------------------------------------------------

    def forged(self, case: str, client: Client) -> str:
        email = self.confirmed(client, "victim@example.com")
        user = User.objects.get(email=email)
        access = self.claims("access", sub=user.subject)
        if case == "alg_none":
            return jwt.encode(access, None, algorithm="none")
        if case == "hs256_with_public_key":
            return self.hs256_with_public_key(access)
        if case == "unknown_kid":
            return jwt.encode(access, _rsa_pem(), algorithm="RS256", headers={"kid": "rogue"})
        if case == "wrong_key_known_kid":
            kid = jwt.get_unverified_header(self.tokens(client, email)["access_token"])["kid"]
            return jwt.encode(access, _rsa_pem(), algorithm="RS256", headers={"kid": kid})
        if case == "wrong_issuer":
            return self.sign_as_provider({**access, "iss": "https://issuer.example.com/pool"})
        if case == "wrong_client":
            return self.sign_as_provider({**access, "client_id": "someone-elses-client"})
        if case == "expired":
            return self.sign_as_provider(
                {**access, "iat": access["iat"] - 7200, "exp": access["iat"] - 3600}
            )
        if case == "id_token_as_access":
            return str(self.tokens(client, email)["id_token"])
        if case == "moto_static_key_other_issuer":
            other = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_NOTOURS"
            return _sign_with_moto_key({**access, "iss": other})
        if case == "garbage":
            return "not.a.jwt"
        raise AssertionError(case)

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        jwks = identity().fetch_jwks()["keys"][0]
        public_pem = jwt.algorithms.RSAAlgorithm.from_jwk(jwks).public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": jwks["kid"]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"

    @pytest.mark.parametrize(
        ("case", "code"),
        [
            ("garbage", "token_malformed"),
            ("alg_none", "token_unsigned"),
            ("hs256_with_public_key", "token_algorithm_not_allowed"),
            ("unknown_kid", "token_key_unknown"),
            ("wrong_key_known_kid", "token_signature_invalid"),
            ("wrong_issuer", "token_issuer_invalid"),
            ("wrong_client", "token_client_invalid"),
            ("expired", "token_expired"),
            ("id_token_as_access", "token_use_invalid"),
            ("moto_static_key_other_issuer", None),
        ],
    )
    def test_bad_token_is_401_with_its_code_and_creates_nothing(self, client, case, code):
        token = self.forged(case, client)
        users, sessions = User.objects.count(), Session.objects.count()
        browser = Client()
        response = api(browser, "/api/me", **bearer(token))
        assert response.status_code == 401, response.content
        assert response.json()["error"]["code"] == (code or self.moto_key_code)
        assert User.objects.count() == users
        assert Session.objects.count() == sessions
        assert not browser.cookies.get("sessionid")

    def test_the_matrix_codes_are_distinct(self):
        codes = {
            "token_malformed",
            "token_unsigned",
            "token_algorithm_not_allowed",
            "token_key_unknown",
            "token_signature_invalid",
            "token_issuer_invalid",
            "token_client_invalid",
            "token_expired",
            "token_use_invalid",
        }
        assert len(codes) == 9


class TestLocalIdentity(IdentityBackendContract):
    moto_key_code = "token_key_unknown"  # moto's key is not in the local JWKS

    @pytest.fixture(autouse=True)
    def _db(self, db):
        mail.outbox.clear()

    def _code(self, email: str, subject_word: str) -> str:
        for message in reversed(mail.outbox):
            if email in message.to and subject_word in message.subject:
                match = re.search(r"\b(\d{6})\b", message.body)
                assert match
                return match.group(1)
        raise AssertionError(f"no {subject_word} mail to {email}")

    def confirmation_code(self, email: str) -> str:
        return self._code(email, "Confirm")

    def reset_code(self, email: str) -> str:
        return self._code(email, "Reset")

    def sign_as_provider(self, claims: dict[str, Any]) -> str:
        backend = identity()
        return jwt.encode(
            claims, backend._private_key, algorithm="RS256", headers={"kid": backend.kid}
        )  # type: ignore[attr-defined]


class TestCognitoIdentity(IdentityBackendContract):
    moto_key_code = "token_issuer_invalid"  # the pool's JWKS holds moto's key; iss is checked
    # On AWS the app client's PreventUserExistenceErrors answers these alike
    # (tests/infra/test_template.py checks the stack sets it).
    stand_in_gaps: ClassVar[dict[str, str]] = {
        "/api/auth/resend": "moto 5.2.5 does not implement ResendConfirmationCode",
        "/api/auth/confirm": "moto 5.2.5 confirms a confirmed account with any code",
    }

    @pytest.fixture(autouse=True)
    def _pool(self, db, settings, cognito_pool):
        settings.NIMBUS_IDENTITY = cognito_pool.identity_setting()

    def confirmation_code(self, email: str) -> str:
        return "123456"  # moto accepts any sign-up code (Cognito would email one)

    def reset_code(self, email: str) -> str:
        return "654321"  # moto checks only codes it handed out itself via a header

    def sign_as_provider(self, claims: dict[str, Any]) -> str:
        return _sign_with_moto_key(claims)


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _sign_with_moto_key(claims: dict[str, Any]) -> str:
    key = jwt.PyJWK(moto_private_jwk())
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": "dummy"})
