"""The health check and the API's single error shape."""

from __future__ import annotations

from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok"}
    assert response["X-Request-Id"]


def test_healthz_reports_503_when_the_database_is_down(client):
    with mock.patch("project.views.connection.cursor", side_effect=RuntimeError("db down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error"


def test_unknown_api_path_returns_the_error_shape(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such endpoint.", "detail": {}}
    }


def test_wrong_method_returns_405_in_the_error_shape(client):
    response = client.delete("/api/status")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_document_and_docs_are_served(client):
    doc = client.get("/api/openapi.json")
    assert doc.status_code == 200
    assert doc.json()["info"]["title"] == "Nimbus API"
    assert client.get("/api/docs").status_code == 200


def test_api_docs_load_swagger_ui_from_the_sites_own_static_files(client):
    import re

    from django.contrib.staticfiles import finders

    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/ninja/swagger-ui-bundle.js" in sources
    assert "/static/ninja/swagger-ui-init.js" in sources
    # Nothing from another origin: SECURE_CSP allows scripts and styles from 'self' only.
    assert [s for s in sources if "//" in s] == []
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source
    assert 'id="swagger-settings"' in html
    assert "/api/openapi.json" in html


def test_request_id_from_the_caller_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-Id"] == "abc-123"
