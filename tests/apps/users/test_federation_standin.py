"""The local provider's stand-in for federated IdPs: "Sign in with …" end to end through
Nimbus's own authorize page and token endpoint, as ``make run`` serves them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from apps.users.backends import identity
from apps.users.keys import signing_key_generate
from apps.users.models import User

pytestmark = pytest.mark.django_db
PROVIDERS = ["Google", "ExampleOIDC"]


@pytest.fixture(autouse=True)
def standin(settings) -> None:
    settings.NIMBUS_IDENTITY = {
        "default": {
            "BACKEND": "apps.users.backends.local.LocalIdentityBackend",
            "OPTIONS": {"signing_key": signing_key_generate(), "identity_providers": PROVIDERS},
        }
    }


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _authorize(browser: Client, start: str = "/accounts/federated/Google/start/") -> str:
    response = browser.get(start)
    assert response.status_code == 302
    url = str(response["Location"])
    assert url.startswith("http://testserver/identity/oauth2/authorize?")
    return url.removeprefix("http://testserver")


def _standin_answers(browser: Client, authorize_url: str, **asserted: Any) -> str:
    """The stand-in IdP's page, filled in and sent: the callback URL it redirects to."""
    page = browser.get(authorize_url)
    assert page.status_code == 200
    form = {"provider": "Google", "email": "pat@example.com", "name": "Pat", **asserted}
    if form.pop("email_verified", True):
        form["email_verified"] = "on"
    response = browser.post(authorize_url, form)
    assert response.status_code == 302, response.content[:400]
    return str(response["Location"])


def _walk(browser: Client, **asserted: Any) -> Any:
    callback = _standin_answers(browser, _authorize(browser), **asserted)
    assert callback.startswith("http://testserver/accounts/callback/?")
    return browser.get(callback.removeprefix("http://testserver"))


def test_the_sign_in_page_offers_each_configured_provider(client):
    page = client.get("/accounts/signin/").content.decode()
    assert 'href="/accounts/federated/Google/start/"' in page
    assert "Sign in with Google" in page
    assert "Sign in with ExampleOIDC" in page


def test_sign_in_with_google_end_to_end_creates_the_federated_account(client):
    response = _walk(client)
    assert response.status_code == 302
    user = User.objects.get(email="pat@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.issuer == identity().issuer
    assert user.email_verified
    assert user.name == "Pat"
    assert not user.has_usable_password()
    # Signing in again with the same external identity is the same account.
    client.logout()
    _walk(client)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert User.objects.count() == 1


def test_the_authorize_request_carries_the_flows_pkce_state_and_nonce(client):
    query = _query(_authorize(client, "/accounts/federated/ExampleOIDC/start/"))
    assert query["identity_provider"] == "ExampleOIDC"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "http://testserver/accounts/callback/"
    assert query["client_id"] == identity().client_id
    assert query["state"]
    assert query["nonce"]


def test_an_unknown_provider_is_refused_before_anything_starts(client):
    response = client.get("/accounts/federated/Facebook/start/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/signin/"
    assert "No identity provider named &#x27;Facebook&#x27;" in response.content.decode()
    assert "nimbus_federation" not in client.session


def test_a_foreign_redirect_uri_is_refused_without_redirecting(client):
    url = _authorize(client)
    forged = url.replace("http%3A%2F%2Ftestserver%2Faccounts%2Fcallback%2F", "https%3A%2F%2Fevil")
    assert forged != url
    response = client.post(forged, {"provider": "Google", "email": "pat@example.com"})
    assert response.status_code == 400
    assert b"invalid_redirect_uri" in response.content


def test_a_code_works_once(client):
    callback = _standin_answers(client, _authorize(client)).removeprefix("http://testserver")
    assert client.get(callback).status_code == 302
    # The same code, in a new flow of the same browser (fresh state): refused.
    fresh = _query(_authorize(client))
    code = _query(callback)["code"]
    response = client.get("/accounts/callback/", {"code": code, "state": fresh["state"]})
    assert response.status_code == 400
    assert response.context["error_code"] == "federation_code_rejected"


def test_a_code_injected_into_another_browser_fails_pkce(client):
    victim, attacker = Client(), Client()
    code = _query(_standin_answers(victim, _authorize(victim)))["code"]
    state = _query(_authorize(attacker))["state"]
    response = attacker.get("/accounts/callback/", {"code": code, "state": state})
    assert response.context["error_code"] == "federation_code_rejected"
    assert "_auth_user_id" not in attacker.session
    assert not User.objects.exists()


def test_cancelling_at_the_provider_signs_nobody_in(client):
    url = _authorize(client)
    response = client.post(url, {"cancel": "1"})
    callback = str(response["Location"]).removeprefix("http://testserver")
    assert _query(callback)["error"] == "access_denied"
    response = client.get(callback)
    assert response.context["error_code"] == "federation_denied"


def test_the_token_endpoint_answers_the_code_grant_with_verifiable_tokens(client):
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = generate_token(48)
    authorize = (
        "/identity/oauth2/authorize?response_type=code&client_id=nimbus-local"
        "&redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Fcallback%2F&state=s&nonce=n"
        f"&code_challenge={create_s256_code_challenge(verifier)}&code_challenge_method=S256"
    )
    code = _query(_standin_answers(client, authorize))["code"]
    form = {
        "grant_type": "authorization_code",
        "client_id": "nimbus-local",
        "code": code,
        "redirect_uri": "http://testserver/accounts/callback/",
    }
    wrong = client.post("/identity/oauth2/token", {**form, "code_verifier": "x" * 48})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    response = client.post("/identity/oauth2/token", {**form, "code_verifier": verifier})
    assert response.status_code == 200
    claims = identity().verifier().verify(response.json()["id_token"], token_use="id")
    assert claims["email"] == "pat@example.com"
    assert claims["nonce"] == "n"
    assert claims["identities"][0]["providerName"] == "Google"
    assert claims["email_verified"] is True


def test_an_operator_links_google_only_after_their_own_sign_in(client, make_user):
    operator = make_user(email="pat@example.com", groups=["operators"])
    # Straight from the sign-in page: refused, nothing linked.
    response = _walk(Client())
    assert response.context["error_code"] == "account_link_privileged"
    assert not operator.identity_links.exists()
    # Signed in with the account's own sign-in, from the settings page: linked.
    client.force_login(operator)
    start = client.post("/accounts/federated/Google/link/")
    url = str(start["Location"]).removeprefix("http://testserver")
    callback = _standin_answers(client, url).removeprefix("http://testserver")
    response = client.get(callback, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/settings/"
    assert "That sign-in is linked to your account." in response.content.decode()
    (link,) = operator.identity_links.all()
    assert link.provider == "Google"
    # Now "Sign in with Google" is the operator's sign-in, and keeps them an operator.
    browser = Client()
    _walk(browser)
    assert browser.session["_auth_user_id"] == str(operator.pk)
    operator.refresh_from_db()
    assert operator.is_staff
    assert operator.groups.filter(name="operators").exists()


def test_an_unverified_address_signs_in_to_a_new_account_but_never_an_existing_one(
    client, make_user
):
    person = make_user(email="pat@example.com")
    response = _walk(client, email_verified=False)
    assert response.context["error_code"] == "account_link_unverified_email"
    assert not person.identity_links.exists()
    response = _walk(Client(), email_verified=False, email="new@example.com")
    assert response.status_code == 302
    assert not User.objects.get(email="new@example.com").email_verified


def test_operators_see_an_accounts_linked_sign_ins_in_the_admin(client, make_user):
    _walk(Client(), email="pat@example.com")
    person = User.objects.get(email="pat@example.com")
    other = make_user(email="kim@example.com")
    browser = Client()
    browser.force_login(person)
    start = browser.post("/accounts/federated/ExampleOIDC/link/")
    url = str(start["Location"]).removeprefix("http://testserver")
    callback = _standin_answers(browser, url, provider="ExampleOIDC", email="pat@work.example")
    browser.get(callback.removeprefix("http://testserver"))
    root = User.objects.create_superuser("root@example.com", "R00t-password!")
    client.force_login(root)
    page = client.get(f"/admin/users/user/{person.pk}/change/").content.decode()
    assert "Linked sign-ins" in page
    assert "ExampleOIDC (" in page
    assert (
        "ExampleOIDC (" not in client.get(f"/admin/users/user/{other.pk}/change/").content.decode()
    )
