"""The main job, end to end in a real browser against a live server with the worker running.

Sign up → confirm with the emailed code → sign in → upload a small file and watch it become
accepted without reloading → upload one the review workflow holds for approval → an
operator approves it in the admin → the person sees it approved live → downloads it and
gets the same bytes. And a file whose name lies about its type is refused with its reason.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import LiveNimbus
from tests.browser.people import new_email, sign_in_to_admin, sign_up, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

# Statuses can take a few worker rounds (event delivery, inspection, workflow steps).
LIVE_TIMEOUT = 20_000

SMALL_TEXT = b"Quarterly numbers, first draft.\nRevenue up, costs down.\n"
# A small but well-formed PDF: the review workflow holds every PDF for an operator
# (NIMBUS_REVIEW["approval_types"]).
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
# A Windows executable's header: what an .exe renamed to .png really is.
FAKE_PNG = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240


def record_live_frames(page: Any) -> list[str]:
    """Every WebSocket frame the page receives from Nimbus's /ws/ endpoint, as text."""
    frames: list[str] = []

    def on_websocket(ws: Any) -> None:
        if "/ws/" in ws.url:
            ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_websocket)
    return frames


def mark_no_reload(page: Any) -> None:
    """Set a flag that only survives if the page is never reloaded or navigated away."""
    page.evaluate("window.__nimbusStayed = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__nimbusStayed === true"), "the page was reloaded"


def choose_file(page: Any, name: str, mime: str, data: bytes) -> None:
    """Pick a file through the uploader's file chooser, as a person does."""
    with page.expect_file_chooser() as chooser:
        page.get_by_text("choose files").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def file_row(page: Any, name: str) -> Any:
    return page.locator("[data-file-rows] tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def status_of(page: Any, name: str) -> Any:
    return file_row(page, name).locator("[data-file-status]")


def file_id_of(page: Any, name: str) -> str:
    href = file_row(page, name).get_by_role("link", name=name, exact=True).get_attribute("href")
    match = re.search(r"/files/([0-9a-f-]{36})/", href or "")
    assert match, f"no file page link for {name}: {href!r}"
    return match.group(1)


def approve_in_admin(operator: Any, file_id: str) -> None:
    """The operator goes from the admin index's "Waiting for approval" to the file's review
    and approves it."""
    sign_in_to_admin(operator)
    waiting = operator.get_by_role("region", name="At a glance").locator(
        "[data-tile=awaiting_approval]"
    )
    expect(waiting.locator(".nimbus-tile__count")).not_to_have_text("0")
    waiting.get_by_role("link", name=re.compile("^Pending callbacks")).click()
    operator.get_by_role("link", name=re.compile(f"file-{file_id}")).click()
    snapshot(operator, "operator-review")
    operator.get_by_role("button", name="Approve").click()
    expect(operator.locator(".messagelist")).to_contain_text(re.compile("approved", re.I))
    snapshot(operator, "operator-approved")


def download_bytes(page: Any, name: str, tmp_path: Any) -> bytes:
    file_row(page, name).get_by_role("link", name=name, exact=True).click()
    page.wait_for_url(re.compile(r".*/files/[0-9a-f-]{36}/$"))
    assert_accessible(page)
    # The review's steps are listed on the file's page, the approval among them.
    expect(page.locator("[data-review-list]")).to_contain_text("Waiting for an operator")
    expect(page.locator("[data-review-list]")).to_contain_text("Approved")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    target = tmp_path / name
    download.value.save_as(target)
    return target.read_bytes()


def test_sign_up_upload_get_approved_live_and_download_the_same_bytes(
    new_page: Any, live_nimbus: LiveNimbus, tmp_path: Any
) -> None:
    person = new_page("person")
    frames = record_live_frames(person)
    sign_up(person, live_nimbus, new_email("ada"))
    expect(person.get_by_role("heading", level=1)).to_have_text("Your files")
    assert_accessible(person)
    mark_no_reload(person)

    choose_file(person, "notes.txt", "text/plain", SMALL_TEXT)
    # Accepted by inspection, then approved at once by the review (no approval needed).
    expect(status_of(person, "notes.txt")).to_have_text(
        re.compile("^(Accepted|Approved)$"), timeout=LIVE_TIMEOUT
    )

    choose_file(person, "contract.pdf", "application/pdf", MINIMAL_PDF)
    expect(status_of(person, "contract.pdf")).to_have_text(
        re.compile("Awaiting approval", re.I), timeout=LIVE_TIMEOUT
    )
    assert_not_reloaded(person)
    snapshot(person, "files-awaiting-approval")

    approve_in_admin(new_page("operator"), file_id_of(person, "contract.pdf"))

    expect(status_of(person, "contract.pdf")).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    assert_not_reloaded(person)
    # It came over the WebSocket: the uploader stops polling once a file awaits approval.
    pdf_id = file_id_of(person, "contract.pdf")
    assert any(pdf_id in f and "approved" in f for f in frames), frames
    snapshot(person, "files-approved")

    expect(status_of(person, "notes.txt")).to_have_text("Approved")
    assert download_bytes(person, "contract.pdf", tmp_path) == MINIMAL_PDF


def test_an_exe_renamed_png_is_refused_with_its_reason(page: Any, live_nimbus: LiveNimbus) -> None:
    sign_up(page, live_nimbus, new_email("mallory"))
    mark_no_reload(page)

    choose_file(page, "holiday.png", "image/png", FAKE_PNG)

    expect(status_of(page, "holiday.png")).to_have_text("Rejected", timeout=LIVE_TIMEOUT)
    reason = file_row(page, "holiday.png").locator("[data-file-reason]")
    expect(reason).to_contain_text(re.compile("PNG|type", re.I))
    assert_not_reloaded(page)
    expect(file_row(page, "holiday.png").get_by_role("link", name="Download")).to_have_count(0)
