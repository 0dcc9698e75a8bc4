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

from tests.rehearsal.conftest import EMAIL, PASSWORD, PDF
from tests.rehearsal.http import Browser

pytestmark = [pytest.mark.slow]


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


def test_the_signed_callback_approves_and_the_file_downloads(browser, lam, world, uploaded):
    from django.core import signing

    from apps.workflows.services import CALLBACK_SALT

    (token,) = [
        i["event"]["task_token"]
        for i in lam.invocations
        if i["event"].get("workflow_step") == "files.review_request_approval"
    ]
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
