"""Hosted-UI sign-in (authorization code + PKCE, state, nonce) against a small token and
JWKS endpoint served inside the test, standing in for Cognito's hosted UI."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.sessions.models import Session
from django.test import Client

from apps.users.models import User

CLIENT_ID = "fedclient123"
pytestmark = pytest.mark.django_db


class HostedUI:
    """Issues codes for authorize requests and redeems them (checking PKCE) for tokens."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        #: What tokens are signed with (the published key unless a test forges).
        self.signing_key = self.key
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.base = ""

    @property
    def issuer(self) -> str:
        return self.base + "/us-east-1_FED"

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": "fed1", "alg": "RS256", "use": "sig"}]}

    def authorize(
        self,
        url: str,
        *,
        email: str = "fed@example.com",
        nonce: str | None = None,
        groups=(),
        verified: bool = True,
        provider: str | None = "Google",
        sub: str = "",
    ) -> str:
        """What the hosted UI does after the person signs in: a code bound to the request."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "method": query["code_challenge_method"],
            "nonce": query["nonce"] if nonce is None else nonce,
            "email": email,
            "groups": list(groups),
            "redirect_uri": query["redirect_uri"],
            "verified": verified,
            "provider": provider,
            "sub": sub,
        }
        return code

    def redeem(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        if form.get("redirect_uri") != grant["redirect_uri"] or form.get("client_id") != CLIENT_ID:
            return 400, {"error": "invalid_client"}
        return 200, self.tokens(grant)

    def tokens(self, grant: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        sub = grant.get("sub") or str(uuid.uuid5(uuid.NAMESPACE_URL, grant["email"]))
        common = {"iss": self.issuer, "sub": sub, "iat": now, "auth_time": now, "exp": now + 3600}
        if grant["groups"]:
            common["cognito:groups"] = grant["groups"]
        id_token = {
            **common,
            "token_use": "id",
            "aud": CLIENT_ID,
            "email": grant["email"],
            "email_verified": grant.get("verified", True),
            "nonce": grant["nonce"],
        }
        if grant.get("provider", "Google"):
            # Cognito's marker of a user who signed in through an external IdP.
            id_token["identities"] = [
                {"providerName": grant.get("provider", "Google"), "userId": "1234567890"}
            ]
        access = {
            **common,
            "token_use": "access",
            "client_id": CLIENT_ID,
            "scope": "openid email profile",
        }
        sign = lambda c: jwt.encode(c, self.signing_key, algorithm="RS256", headers={"kid": "fed1"})  # noqa: E731
        return {
            "id_token": sign(id_token),
            "access_token": sign(access),
            "refresh_token": "r" * 40,
            "expires_in": 3600,
            "token_type": "Bearer",
        }


@pytest.fixture
def hosted_ui(settings) -> Iterator[HostedUI]:
    ui = HostedUI()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/us-east-1_FED/.well-known/jwks.json":
                self._send(200, ui.jwks())
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/oauth2/token":
                self._send(*ui.redeem(form))
            else:
                self._send(404, {"error": "not_found"})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ui.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.NIMBUS_IDENTITY = {
        "default": {
            "BACKEND": "apps.users.backends.aws.CognitoIdentityBackend",
            "OPTIONS": {
                "user_pool_id": "us-east-1_FED",
                "client_id": CLIENT_ID,
                "region_name": "us-east-1",
                "issuer": ui.issuer,
                "jwks_url": ui.issuer + "/.well-known/jwks.json",
                "hosted_ui_domain": ui.base,
                "identity_providers": ["Google"],
            },
        }
    }
    try:
        yield ui
    finally:
        server.shutdown()
        server.server_close()


def start(
    browser: Client, path: str = "/accounts/federated/Google/start/?next=/accounts/settings/"
) -> str:
    response = browser.get(path)
    assert response.status_code == 302
    return str(response["Location"])


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def signed_in(browser: Client) -> bool:
    return "_auth_user_id" in browser.session


def test_authorize_url_carries_pkce_state_nonce_and_the_idp(hosted_ui):
    url = start(Client())
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(hosted_ui.base + "/oauth2/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"]
    assert query["nonce"]
    assert query["state"] != query["nonce"]
    assert query["identity_provider"] == "Google"
    assert query["redirect_uri"] == "http://testserver/accounts/callback/"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}


def test_code_flow_signs_in_and_creates_the_account(hosted_ui):
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url, groups=["operators"])
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/settings/"
    assert signed_in(browser)
    user = User.objects.get(email="fed@example.com")
    assert user.issuer == hosted_ui.issuer
    assert user.is_staff
    assert not user.has_usable_password()
    # The PKCE verifier went to the token endpoint, not the browser.
    assert hosted_ui.token_requests[-1]["code_verifier"]
    assert hosted_ui.token_requests[-1]["code_verifier"] not in url


def _refused(browser: Client, response: Any, code: str) -> None:
    assert response.status_code in (400, 401), response.content[:500]
    assert not signed_in(browser)
    assert not User.objects.filter(email="fed@example.com").exists()
    assert not any("_auth_user_id" in s.get_decoded() for s in Session.objects.all())
    assert response.context["error_code"] == code


def test_a_disabled_account_is_refused_and_nothing_is_written(hosted_ui):
    from apps.users.models import Profile

    disabled = User.objects.create(
        email="fed@example.com",
        issuer=hosted_ui.issuer,
        subject=str(uuid.uuid5(uuid.NAMESPACE_URL, "fed@example.com")),
        is_active=False,
    )
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url, groups=["operators"])
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    assert response.status_code in (400, 401, 403), response.content[:500]
    assert response.context["error_code"] == "user_disabled"
    assert not signed_in(browser)
    disabled.refresh_from_db()
    assert not disabled.is_active
    assert not disabled.email_verified
    assert not disabled.is_staff
    assert not disabled.groups.exists()
    assert not Profile.objects.filter(user=disabled).exists()


def test_a_wrong_nonce_writes_nothing_to_an_existing_account(hosted_ui):
    existing = User.objects.create(
        email="fed@example.com",
        issuer=hosted_ui.issuer,
        subject=str(uuid.uuid5(uuid.NAMESPACE_URL, "fed@example.com")),
    )
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url, nonce="replayed-nonce", groups=["operators"])
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    assert response.context["error_code"] == "federation_nonce_invalid"
    existing.refresh_from_db()
    assert not existing.email_verified
    assert not existing.groups.exists()


def test_wrong_state_is_refused(hosted_ui):
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url)
    response = browser.get("/accounts/callback/", {"code": code, "state": "forged"})
    _refused(browser, response, "federation_state_invalid")


def test_callback_without_a_started_flow_is_refused(hosted_ui):
    url = start(Client())
    code = hosted_ui.authorize(url)
    browser = Client()
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    _refused(browser, response, "federation_state_invalid")


def test_wrong_nonce_is_refused(hosted_ui):
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url, nonce="replayed-nonce")
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    _refused(browser, response, "federation_nonce_invalid")


def test_a_code_injected_into_another_session_fails_pkce(hosted_ui):
    victim, attacker = Client(), Client()
    victim_url = start(victim)
    attacker_url = start(attacker)
    code = hosted_ui.authorize(victim_url)
    response = attacker.get("/accounts/callback/", {"code": code, "state": state_of(attacker_url)})
    _refused(attacker, response, "federation_code_rejected")


def test_callback_cannot_be_replayed(hosted_ui):
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url)
    browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    browser.logout()
    User.objects.all().delete()
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    _refused(browser, response, "federation_state_invalid")


def test_idp_error_is_shown_not_followed(hosted_ui):
    browser = Client()
    url = start(browser)
    response = browser.get(
        "/accounts/callback/", {"error": "access_denied", "state": state_of(url)}
    )
    _refused(browser, response, "federation_denied")


def test_id_token_from_another_key_is_refused(hosted_ui):
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url)
    # Same kid as the published key, but signed with a key the JWKS does not hold.
    hosted_ui.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})
    _refused(browser, response, "token_signature_invalid")


def test_not_configured_under_the_local_provider(client):
    response = client.get("/accounts/federated/start/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/signin/"


# -- an e-mail that already has an account ----------------------------------------------------


def _sign_in_via_ui(hosted_ui: HostedUI, **grant: Any) -> tuple[Client, Any]:
    browser = Client()
    url = start(browser)
    code = hosted_ui.authorize(url, **grant)
    return browser, browser.get("/accounts/callback/", {"code": code, "state": state_of(url)})


def test_an_unverified_email_never_takes_over_an_unlinked_superuser(hosted_ui):
    root = User.objects.create_superuser("fed@example.com", "R00t-password!")
    browser, response = _sign_in_via_ui(hosted_ui, verified=False, provider=None)
    assert response.status_code == 403
    assert response.context["error_code"] == "account_link_unverified_email"
    assert not signed_in(browser)
    root.refresh_from_db()
    assert (root.issuer, root.subject) == ("", "")
    assert root.is_superuser
    assert User.objects.count() == 1
    assert not root.identity_links.exists()


def test_an_unverified_federated_email_never_links_to_an_existing_account(hosted_ui, make_user):
    person = make_user(email="fed@example.com")
    browser, response = _sign_in_via_ui(hosted_ui, verified=False)
    assert response.context["error_code"] == "account_link_unverified_email"
    assert not signed_in(browser)
    assert not person.identity_links.exists()
    assert User.objects.count() == 1


@pytest.mark.parametrize("kind", ["superuser", "staff", "operator"])
def test_a_verified_federated_email_never_links_onto_a_privileged_account(
    hosted_ui, make_user, kind
):
    if kind == "superuser":
        account = User.objects.create_superuser("fed@example.com", "R00t-password!")
    elif kind == "staff":
        account = make_user(email="fed@example.com")
        User.objects.filter(pk=account.pk).update(is_staff=True)
    else:
        account = make_user(email="fed@example.com", groups=["operators"])
    before = (account.issuer, account.subject)
    browser, response = _sign_in_via_ui(hosted_ui)
    assert response.status_code == 403
    assert response.context["error_code"] == "account_link_privileged"
    assert not signed_in(browser)
    account.refresh_from_db()
    assert (account.issuer, account.subject) == before
    assert not account.identity_links.exists()
    assert User.objects.count() == 1


def test_a_verified_federated_email_links_to_the_existing_account_and_changes_nothing(
    hosted_ui, make_user
):
    from apps.users.services import user_from_access_token

    person = make_user(email="fed@example.com", name="Ana", groups=["editors"])
    own_identity = (person.issuer, person.subject)
    browser, response = _sign_in_via_ui(hosted_ui)
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(person.pk)
    person.refresh_from_db()
    assert (person.issuer, person.subject) == own_identity  # its own sign-in still works
    (link,) = person.identity_links.all()
    assert (link.issuer, link.provider) == (hosted_ui.issuer, "Google")
    assert person.name == "Ana"
    assert list(person.groups.values_list("name", flat=True)) == ["editors"]
    # The second time the link is found, not made again; its access tokens name the account.
    again, response = _sign_in_via_ui(hosted_ui)
    assert again.session["_auth_user_id"] == str(person.pk)
    assert person.identity_links.count() == 1
    tokens = hosted_ui.tokens(
        {"email": "fed@example.com", "groups": [], "nonce": "n", "verified": True}
    )
    assert user_from_access_token(token=tokens["access_token"]) == person


def test_a_linked_identity_of_a_disabled_account_is_refused(hosted_ui, make_user):
    person = make_user(email="fed@example.com")
    _sign_in_via_ui(hosted_ui)
    User.objects.filter(pk=person.pk).update(is_active=False)
    browser, response = _sign_in_via_ui(hosted_ui)
    assert response.context["error_code"] == "user_disabled"
    assert not signed_in(browser)
