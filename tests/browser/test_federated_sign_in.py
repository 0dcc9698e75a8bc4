""" "Sign in with …" in a real browser against the live server, through the local provider's
stand-in for the federated IdPs (what `make run` shows)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import OPERATOR_EMAIL
from tests.browser.people import new_email, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def _through_the_standin(page: Any, provider: str, email: str, *, verified: bool = True) -> None:
    page.goto("/accounts/signin/")
    page.get_by_role("link", name=f"Sign in with {provider}").click()
    page.wait_for_url(re.compile(r".*/identity/oauth2/authorize\?.*"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in with {provider}")
    assert_accessible(page)
    page.get_by_label("E-mail address the provider asserts").fill(email)
    page.get_by_label("Name").fill("Grace Hopper")
    checkbox = page.get_by_label(re.compile("asserts the address as verified"))
    expect(checkbox).to_be_checked()
    if not verified:
        checkbox.uncheck()
    snapshot(page, f"standin-{provider.lower()}")
    page.get_by_role("button", name="Continue").click()


@pytest.mark.parametrize("provider", ["Google", "ExampleOIDC", "ExampleSAML"])
def test_sign_in_with_each_configured_provider_end_to_end(page: Any, provider: str) -> None:
    email = new_email(provider.lower())
    _through_the_standin(page, provider, email)
    page.wait_for_url("**/files/")
    page.goto("/accounts/settings/")
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {email}")
    expect(page.get_by_label("Name")).to_have_value("Grace Hopper")


def test_a_federated_sign_in_never_opens_the_operators_account(page: Any, console: Any) -> None:
    console.allow(r"status of 403")
    _through_the_standin(page, "Google", OPERATOR_EMAIL)
    page.wait_for_url(re.compile(r".*/accounts/callback/\?.*"))
    expect(page.get_by_role("alert")).to_contain_text("belongs to an operator's account")
    assert_accessible(page)
    page.goto("/accounts/settings/")
    page.wait_for_url(re.compile(r".*/accounts/signin/.*"))  # still signed out
