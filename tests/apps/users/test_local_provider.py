"""What only the local provider can show: its codes, its keys, its JWKS URL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.users import exceptions as exc
from apps.users import services
from apps.users.backends import identity
from apps.users.models import LocalCode, LocalRefreshToken, User
from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db


def code_in_last_mail() -> str:
    match = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert match
    return match.group(1)


@pytest.fixture
def pending() -> str:
    services.account_sign_up(email="ana@example.com", password=PASSWORD)
    return code_in_last_mail()


def test_codes_are_stored_hashed(pending):
    row = LocalCode.objects.get()
    assert pending not in row.code_hash
    assert len(row.code_hash) == 64


def test_wrong_code(pending):
    with pytest.raises(exc.CodeInvalid):
        services.account_confirm(
            email="ana@example.com", code="999999" if pending != "999999" else "111111"
        )
    assert not User.objects.get(email="ana@example.com").email_verified


def test_expired_code(pending):
    LocalCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(exc.CodeExpired):
        services.account_confirm(email="ana@example.com", code=pending)


def test_reused_code(make_user):
    user = make_user()
    services.password_forgot(email=user.email)
    code = code_in_last_mail()
    services.password_reset(email=user.email, code=code, new_password="N3w-password!")
    with pytest.raises(exc.CodeUsed):
        services.password_reset(email=user.email, code=code, new_password="An0ther-pass!")


def test_too_many_wrong_guesses_void_the_code(pending):
    wrong = "999999" if pending != "999999" else "111111"
    for _ in range(5):
        with pytest.raises(exc.CodeInvalid):
            services.account_confirm(email="ana@example.com", code=wrong)
    assert LocalCode.objects.get().failed_attempts == 5
    # Not "expired": the person is told what happened and what to do.
    with pytest.raises(exc.CodeAttemptsExceeded, match="Too many wrong codes — ask for a new one"):
        services.account_confirm(email="ana@example.com", code=pending)


def test_a_new_code_supersedes_the_old_one(pending):
    services.account_resend_confirmation(email="ana@example.com")
    with pytest.raises(exc.CodeExpired):
        services.account_confirm(email="ana@example.com", code=pending)
    services.account_confirm(email="ana@example.com", code=code_in_last_mail())


def test_confirming_twice_is_refused_as_a_wrong_code(pending):
    services.account_confirm(email="ana@example.com", code=pending)
    with pytest.raises(exc.CodeInvalid):  # as for an address without an account
        services.account_confirm(email="ana@example.com", code=pending)


def test_signing_up_again_mails_the_address_instead_of_saying_so(pending):
    from django.core import mail

    assert services.account_sign_up(email="Ana@example.com", password=PASSWORD) is None
    assert "Your code to confirm your account" in mail.outbox[-1].body  # still unconfirmed
    services.account_confirm(email="ana@example.com", code=code_in_last_mail())
    assert services.account_sign_up(email="ana@example.com", password=PASSWORD) is None
    notice = mail.outbox[-1]
    assert notice.to == ["ana@example.com"]
    assert notice.subject == "You already have a Nimbus account"
    assert "/accounts/password/forgot/" in notice.body
    assert User.objects.filter(email="ana@example.com").count() == 1


def test_confirm_api_reports_code_errors_as_4xx(pending, client):
    response = client.post(
        "/api/auth/confirm",
        {"email": "ana@example.com", "code": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "code_invalid"


def test_refresh_tokens_are_stored_hashed(user):
    tokens = identity().sign_in(email=user.email, password=PASSWORD)
    row = LocalRefreshToken.objects.get()
    assert tokens.refresh_token not in row.token_hash
    assert repr(tokens) == "TokenSet(expires_in=3600)"  # tokens never reach a log line


def test_jwks_is_served_where_the_issuer_says(client):
    backend = identity()
    assert backend.jwks_url == "http://testserver/identity/.well-known/jwks.json"
    response = client.get("/identity/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == backend.fetch_jwks()
    assert response.json()["keys"][0]["kid"] == backend.kid  # type: ignore[attr-defined]
    assert "d" not in response.json()["keys"][0]  # public half only


def test_jwks_url_is_404_under_cognito(client, settings):
    settings.NIMBUS_IDENTITY = {
        "default": {
            "BACKEND": "apps.users.backends.aws.CognitoIdentityBackend",
            "OPTIONS": {
                "user_pool_id": "us-east-1_X",
                "client_id": "c",
                "region_name": "us-east-1",
            },
        }
    }
    assert client.get("/identity/.well-known/jwks.json").status_code == 404


def test_missing_signing_key_is_a_system_check_error(settings):
    from project.backends import DEFAULT_ALIAS

    settings.NIMBUS_IDENTITY = {
        "default": {"BACKEND": "apps.users.backends.local.LocalIdentityBackend", "OPTIONS": {}}
    }
    errors = identity(DEFAULT_ALIAS).check()
    assert [e.id for e in errors] == ["users.E001"]


def test_unknown_option_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.NIMBUS_IDENTITY = {
        "default": {
            "BACKEND": "apps.users.backends.local.LocalIdentityBackend",
            "OPTIONS": {"signing_kye": "x"},
        }
    }
    with pytest.raises(ImproperlyConfigured, match="signing_kye"):
        identity()


def test_demo_operator_signs_in_to_the_admin_with_the_printed_password():
    from io import StringIO

    from project.management.commands.devserver import DEMO_OPERATOR, Command

    out = StringIO()
    Command(stdout=out).ensure_demo_operator()
    password = re.search(r"with password (\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
    browser = Client()
    response = browser.post(
        "/admin/login/?next=/admin/", {"username": DEMO_OPERATOR, "password": password}
    )
    assert response.status_code == 302, response.content[:500]
    assert browser.get("/admin/users/user/").status_code == 200
    # ... and through the identity provider's own sign-in page and API.
    tokens = browser.post(
        "/api/auth/token",
        {"email": DEMO_OPERATOR, "password": password},
        content_type="application/json",
    )
    assert tokens.status_code == 200
    me = Client().get(
        "/api/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert me.json()["is_staff"] is True
    assert "operators" in me.json()["groups"]


@pytest.mark.django_db(transaction=True)
def test_local_tokens_verify_against_the_jwks_served_over_http(live_server, user):
    from apps.users.tokens import JwksCache, TokenVerifier, jwks_fetch_url

    backend = identity()
    url = live_server.url + "/identity/.well-known/jwks.json"
    verifier = TokenVerifier(
        issuer=backend.issuer,
        client_id=backend.client_id,
        jwks=JwksCache(lambda: jwks_fetch_url(url)),
    )
    tokens = backend.sign_in(email=user.email, password=PASSWORD)
    assert verifier.verify(tokens.access_token, token_use="access")["sub"] == user.subject
    assert verifier.verify(tokens.id_token, token_use="id")["email"] == user.email


def test_refreshed_tokens_keep_the_sign_in_time(user):
    """Like Cognito: ``auth_time`` is the sign-in's, however often the tokens are refreshed."""
    tokens = identity().sign_in(email=user.email, password=PASSWORD)
    LocalRefreshToken.objects.update(created_at=timezone.now() - timedelta(hours=2))
    refreshed = identity().refresh(refresh_token=tokens.refresh_token)
    claims = identity().verifier().verify(refreshed.access_token, token_use="access")
    assert claims["iat"] - claims["auth_time"] >= 2 * 3600 - 5


def test_a_refresh_token_that_outlived_a_sign_out_gets_no_working_tokens(user):
    """Should the provider fail to revoke a refresh token (a Cognito sign-out that did not
    reach it), what it refreshes into is still of the old sign-in, and refused."""
    tokens = identity().sign_in(email=user.email, password=PASSWORD)
    LocalRefreshToken.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    services._revoke_local(user)  # Nimbus's half of a sign-out; the refresh token survives
    # ...a minute ago, so tokens refreshed now are issued well after it.
    User.objects.filter(pk=user.pk).update(tokens_valid_after=timezone.now() - timedelta(minutes=1))
    with pytest.raises(exc.TokenRevoked):
        services.account_refresh(refresh_token=tokens.refresh_token)
    refreshed = identity().refresh(refresh_token=tokens.refresh_token)
    with pytest.raises(exc.TokenRevoked):
        services.user_from_access_token(token=refreshed.access_token)
