"""The shared frame of every page: landing copy, navigation, keyboard access, operators' admin."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible, assert_focus_visible
from tests.browser.people import sign_in_to_admin, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def test_landing_page_says_what_nimbus_does_and_where_to_start(page: Any) -> None:
    page.goto("/")
    assert page.title().startswith("Nimbus")
    heading = page.get_by_role("heading", level=1)
    assert heading.count() == 1
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert page.get_by_role("link", name="Create an account").first.is_visible()
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    assert page.get_by_role("contentinfo").is_visible()
    assert_accessible(page)


def test_first_tab_reaches_the_skip_link_which_moves_focus_to_the_content(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    assert page.get_by_role("link", name="Skip to content").is_visible()
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    # The next Tab starts inside the content, not back in the header.
    page.keyboard.press("Tab")
    inside_main = page.evaluate("document.getElementById('main').contains(document.activeElement)")
    assert inside_main
    assert_focus_visible(page)


def test_the_layout_fits_a_phone_without_sideways_scrolling(page: Any) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.get_by_role("navigation", name="Main").is_visible()


def test_admin_index_shows_the_operator_numbers_with_links(page: Any) -> None:
    sign_in_to_admin(page)
    dashboard = page.get_by_role("region", name="At a glance")
    tiles = dashboard.get_by_role("listitem")
    keys = {tiles.nth(i).get_attribute("data-tile") for i in range(tiles.count())}
    assert keys == {"uploads_today", "awaiting_approval", "dead_letters", "failures"}
    snapshot(page, "admin-dashboard")
    uploads = dashboard.locator("[data-tile=uploads_today]")
    count = int(uploads.locator(".nimbus-tile__count").inner_text())
    uploads.get_by_role("link", name=re.compile("Uploads today")).click()
    page.wait_for_url(re.compile(r".*/admin/files/file/\?.*created_at__day=.*"))
    # The list the tile links to holds exactly the rows it counted.
    expect(page.locator(".paginator")).to_contain_text(f"{count} file")
