"""The API documentation a developer opens from the footer works offline, under the CSP."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import LiveNimbus
from tests.browser.people import snapshot

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def test_the_footer_api_link_opens_docs_listing_the_operations(
    page: Any, live_nimbus: LiveNimbus
) -> None:
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="API").click()
    page.wait_for_url("**/api/docs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nimbus API")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    # The files operations are listed with their method and path.
    expect(page.locator(".opblock-summary-path", has_text="/api/files/").first).to_be_visible()
    assert operations.count() > 10
    # Everything came from the site itself (a CDN would be refused by the CSP, or offline).
    outside = [u for u in requested if not u.startswith((live_nimbus.url, "data:", "blob:"))]
    assert outside == []
    assert failed == []
    assert_accessible(page)
    snapshot(page, "api-docs")
