"""What a cold start imports: requests load only what they use (bench/README.md).

Each check runs in a fresh interpreter, since the test process has imported everything.
"""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse

from project import urls
from project.api import api
from tests.support import fresh_python

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client()
statuses = [client.get(path).status_code for path in sys.argv[1:]]
heavy = ("ninja", "pydantic", "jwt", "jsonpath_ng", "filetype", "apps.users.views",
         "apps.files.views", "apps.push.views")
print(json.dumps({"statuses": statuses, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _fresh(*paths: str) -> dict[str, list]:
    result: dict[str, list] = fresh_python(_PROBE, *paths)
    return result


def test_the_api_is_mounted_under_the_names_ninja_gives_it():
    _, app_name, namespace = api.urls
    assert (app_name, namespace) == (urls.API_APP_NAME, urls.API_NAMESPACE)
    assert reverse("api:status") == "/api/status"


def test_healthz_loads_neither_the_apps_views_nor_the_api():
    result = _fresh("/healthz")
    assert result["statuses"] == [200]
    assert result["loaded"] == []


def test_pages_and_healthz_do_not_load_the_api_or_token_crypto():
    result = _fresh("/healthz", "/")
    assert result["statuses"][0] == 200
    assert {"ninja", "pydantic", "jwt", "jsonpath_ng", "filetype"} & set(result["loaded"]) == set()


def test_a_page_of_an_app_loads_its_urls_on_first_use():
    result = _fresh("/healthz", "/accounts/signin/")
    assert result["statuses"][1] in (200, 302)
    assert "apps.users.views" in result["loaded"]


def test_the_first_api_request_loads_the_api():
    result = _fresh("/api/status")
    assert result["statuses"] == [200]
    assert "ninja" in result["loaded"]


def test_workflow_definitions_load_on_first_read():
    from apps.workflows import registry

    registry.discover()
    assert registry.definitions._pending is not None  # nothing validated yet
    assert all(d.asl is not None or d.error for d in registry.definitions.values())
    assert registry.definitions._pending is None
    assert registry.definitions  # the apps ship definitions
