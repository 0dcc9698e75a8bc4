"""The main job through the package as deployed, against the stack on emulated AWS.

Each test builds on the ones before it (one person, one file): sign-up through Cognito with
its triggers, an upload to S3 and the events it starts, the review workflow on moto's Step
Functions invoking the function, the approval callback, the download, the WebSocket.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from tests.rehearsal.conftest import EMAIL, PASSWORD, PDF, query
from tests.rehearsal.http import Browser, websocket_event
from tests.rehearsal.lambda_service import posted_to

pytestmark = [pytest.mark.slow]
#: The owner's WebSocket connection, open from sign-in to the end.
LIVE = "LiveAna0000="


def test_healthz_reports_the_database(browser):
    response = browser.get("/healthz")
    assert response.status == 200, response.body
    assert response.json()["checks"] == {"database": "ok"}


def test_sign_up_confirm_and_sign_in_through_cognito(browser, world, lam):
    response = browser.post(
        "/api/auth/signup", {"email": EMAIL, "password": PASSWORD, "name": "Ana"}
    )
    assert response.status == 201, response.body
    assert response.json()["confirmation_required"] is True
    triggers = [i["event"].get("triggerSource") for i in lam.invocations]
    assert "PreSignUp_SignUp" in triggers
    response = browser.post("/api/auth/confirm", {"email": EMAIL, "code": "123456"})
    assert response.status in (200, 204), response.body
    assert "PostConfirmation_ConfirmSignUp" in [
        i["event"].get("triggerSource") for i in lam.invocations
    ]
    response = browser.post("/api/auth/token", {"email": EMAIL, "password": PASSWORD})
    assert response.status == 200, response.body
    browser.token = response.json()["access_token"]
    me = browser.get("/api/me")
    assert me.status == 200, me.body
    assert me.json()["email"] == EMAIL


def test_the_page_opens_its_websocket_with_a_single_use_ticket(browser, lam, world):
    ticket = browser.get("/api/notifications/ticket").json()["ticket"]
    answer = lam.invoke(websocket_event(world, "$connect", LIVE, query={"ticket": ticket}))
    assert answer["statusCode"] == 200, answer
    again = lam.invoke(websocket_event(world, "$connect", "Second000=", query={"ticket": ticket}))
    assert again["statusCode"] in (401, 403), again  # a ticket opens one socket


def _file(browser: Browser, file_id: str) -> dict:
    response = browser.get(f"/api/files/{file_id}")
    assert response.status == 200, response.body
    return dict(response.json())


def test_the_upload_is_inspected_from_the_s3_event(browser, lam, uploaded):
    file = lam.pump_until(
        lambda: (
            (f := _file(browser, uploaded["file_id"]))["status"] not in ("pending", "uploaded")
            and f
        ),
        what="the S3 Object Created event to reach the files receiver and the inspection",
    )
    assert file["status"] in ("accepted", "awaiting_approval"), file
    assert file["detected_type"] == "application/pdf"
    assert file["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert file["size"] == len(PDF)
    kinds = [
        json.loads(r["body"])["detail-type"]
        for i in lam.invocations
        for r in (i["event"].get("Records") or [])
        if r.get("eventSource") == "aws:sqs"
    ]
    assert "Object Created" in kinds, kinds
    assert "files.FileUploaded" in kinds, kinds


def test_the_review_workflow_waits_on_its_task_token_on_step_functions(browser, lam, uploaded):
    lam.pump_until(
        lambda: (f := _file(browser, uploaded["file_id"]))["status"] == "awaiting_approval" and f,
        what="the review workflow to reach AwaitApproval on moto's Step Functions",
    )
    steps = [i["event"].get("workflow_step") for i in lam.invocations]
    assert "files.review_prepare" in steps, steps
    assert "files.review_request_approval" in steps, steps
    # Step Functions invoked the SnapStart alias each time, never $LATEST.
    assert lam.invoked_aliases
    assert set(lam.invoked_aliases) == {"snapstart"}, lam.invoked_aliases


def test_the_signed_callback_approves_and_the_file_downloads(browser, lam, world, uploaded):
    from django.core import signing

    from apps.workflows.services import CALLBACK_SALT

    # The token of the attempt that succeeded: a retried Task state (the review retries
    # OperationalError, e.g. SQLite busy under concurrent boxes) gets a new one.
    def answered() -> list[str]:
        return [
            i["event"]["task_token"]
            for i in lam.invocations
            if i["event"].get("workflow_step") == "files.review_request_approval"
            and "result" in i.get("answer", {})
        ]

    token = lam.pump_until(answered, what="the approval request step to answer")[-1]
    secret_key = json.loads(
        world.session.client("secretsmanager").get_secret_value(SecretId="nimbus-dev/app")[
            "SecretString"
        ]
    )["SECRET_KEY"]
    signed = signing.dumps(token, key=secret_key, salt=CALLBACK_SALT, compress=True)
    external = Browser(lam, browser.origin_secret)  # an external system: no session, no token
    response = external.post(
        f"/api/workflows/callbacks/{signed}", {"outcome": "success", "output": {"verdict": "ok"}}
    )
    assert response.status == 202, response.body
    again = external.post(f"/api/workflows/callbacks/{signed}", {"outcome": "success"})
    assert again.status >= 400, again.body  # single use
    file = lam.pump_until(
        lambda: (f := _file(browser, uploaded["file_id"]))["status"] == "approved" and f,
        what="Step Functions to resume after SendTaskSuccess and approve the file",
    )
    download = browser.get(f"/api/files/{uploaded['file_id']}/download")
    assert download.status == 302, download.body
    fetched = requests.get(download.headers["location"], timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert file["status"] == "approved"


def test_the_execution_row_follows_step_functions_status_change_events(lam, database, uploaded):
    rows = lam.pump_until(
        lambda: (
            (r := query(database, "SELECT status FROM workflows_execution"))
            and all(status == "SUCCEEDED" for (status,) in r)
            and r
        ),
        what="the SUCCEEDED status change event to reach the execution row",
    )
    assert rows
    delivered = [
        json.loads(r["body"]).get("detail-type")
        for i in lam.invocations
        for r in (i["event"].get("Records") or [])
        if r.get("eventSource") == "aws:sqs"
    ]
    assert "Step Functions Execution Status Change" in delivered


def test_the_owner_saw_each_step_live_over_the_websocket(uploaded):
    messages = posted_to(LIVE)
    statuses = [m.get("status") or (m.get("data") or {}).get("status") for m in messages]
    assert "approved" in json.dumps(messages), messages
    assert statuses, messages


def test_pages_render_and_a_name_changes_through_the_settings_page(browser, lam, world):
    page = Browser(lam, browser.origin_secret)
    home = page.get("/", headers={"Accept": "text/html"})
    assert home.status == 200, home.body[:500]
    assert b"/static/" in home.body
    signed_in = page.submit("/accounts/signin/", {"email": EMAIL, "password": PASSWORD})
    assert signed_in.status == 302, signed_in.body[:500]
    changed = page.submit("/accounts/settings/", {"name": "Ana Rehearsal", "timezone": "UTC"})
    assert changed.status == 302, changed.body[:800]
    assert browser.get("/api/me").json()["name"] == "Ana Rehearsal"
    cognito = world.session.client("cognito-idp")
    user = cognito.admin_get_user(UserPoolId=world.user_pool_id, Username=EMAIL)
    assert {"Name": "name", "Value": "Ana Rehearsal"} in user["UserAttributes"]


def test_the_first_operator_is_made_through_zappa_manage_and_reaches_the_admin(browser, lam, world):
    lam.invoke({"manage": f"operators grant {EMAIL}"})
    cognito = world.session.client("cognito-idp")
    groups = cognito.admin_list_groups_for_user(UserPoolId=world.user_pool_id, Username=EMAIL)
    assert [g["GroupName"] for g in groups["Groups"]] == ["operators"]
    operator = Browser(lam, browser.origin_secret)
    signed_in = operator.submit("/accounts/signin/", {"email": EMAIL, "password": PASSWORD})
    assert signed_in.status == 302, signed_in.body[:500]
    for path in (
        "/admin/",
        "/admin/files/file/",
        "/admin/workflows/execution/",
        "/admin/events/event/",
        "/admin/events/deadletter/",
        "/admin/workflows/tasktoken/",
    ):
        response = operator.get(path, headers={"Accept": "text/html"})
        assert response.status == 200, (path, response.status, response.body[:300])
