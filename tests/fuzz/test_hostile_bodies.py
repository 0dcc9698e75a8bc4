"""Every URL pattern and every API operation, sent hostile bodies (and a hostile query
string), anonymous and signed in: none may answer 5xx.

The URLs are enumerated from the URLconf (django-ninja's operations are URL patterns in
it too, and the test checks each OpenAPI path is among them), never listed by hand, so a
new endpoint is covered the day it is added.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.regex_helper import normalize

from tests.apps.users.factories import access_token_for

pytestmark = pytest.mark.django_db

SAMPLES = {"int": "1", "uuid": str(uuid.UUID(int=1)), "slug": "x", "str": "x", "path": "x/y"}
HUGE_PATH_INT = "9" * 30

BODIES: dict[str, tuple[bytes, str]] = {
    "deep-array": (b"[" * 20_000 + b"]" * 20_000, "application/json"),
    "deep-object": (b'{"a":' * 8_000 + b"1" + b"}" * 8_000, "application/json"),
    "over-3-mib": (b'{"email": "' + b"a" * (3 * 1024 * 1024) + b'"}', "application/json"),
    "huge-ints": (
        json.dumps(
            {
                "ids": [10**30],
                "up_to": 10**30,
                "size": 10**30,
                "part_number": 2**63,
                "email": "a@example.com",
                "outcome": "success",
                "output": 10**30,
            }
        ).encode(),
        "application/json",
    ),
    "non-finite": (
        b'{"outcome": "success", "output": NaN, "size": Infinity, "ids": [-Infinity],'
        b' "email": "a@example.com"}',
        "application/json",
    ),
    "json-as-text": (b'{"email": "a@example.com", "password": "x"}', "text/plain"),
    "not-utf8": (b"\xff\xfe\x00{", "application/json"),
    "too-many-fields": (
        b"&".join(b"f%d=1" % i for i in range(1500)),
        "application/x-www-form-urlencoded",
    ),
    "wrong-types": (
        b'{"email": ["a"], "ids": "x", "outcome": {}, "parts": 7, "name": null}',
        "application/json",
    ),
}


HOSTILE_QUERY = {
    "after": "9" * 30,
    "limit": "NaN",
    "unread": "maybe",
    "page": "-1",
    "q": "\x00" * 10,
    "next": "//evil.example/",
}


def _sample(pattern: RoutePattern | RegexPattern, *, huge: bool) -> str:
    if isinstance(pattern, RoutePattern):

        def fill(match: re.Match[str]) -> str:
            converter = match.group(1) or "str"
            return HUGE_PATH_INT if huge and converter == "int" else SAMPLES.get(converter, "x")

        return re.sub(r"<(?:(\w+):)?(\w+)>", fill, str(pattern._route))
    text, params = normalize(pattern._regex)[0]
    return text % {name: "1" for name in params}


def _urls(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        for huge in (False, True):
            here = prefix + _sample(entry.pattern, huge=huge)
            if isinstance(entry, URLResolver):
                if not huge:
                    yield from _urls(entry.url_patterns, here)
            elif not huge or here != prefix + _sample(entry.pattern, huge=False):
                yield here


def all_urls() -> list[str]:
    return sorted({"/" + url.lstrip("/") for url in _urls(get_resolver().url_patterns)})


def test_the_walk_covers_every_api_operation():
    from project.api import api

    urls = all_urls()
    assert len(urls) > 40
    for path in api.get_openapi_schema()["paths"]:
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"
        assert any(re.match(regex, url) for url in urls), f"{path} not enumerated"


@pytest.fixture
def clients(user) -> dict[str, Client]:
    signed_in = Client(headers={"Authorization": f"Bearer {access_token_for(user)}"})
    signed_in.force_login(user)
    return {"anonymous": Client(), "signed-in": signed_in}


@pytest.mark.slow
def test_no_url_answers_a_hostile_body_with_a_5xx(clients, settings):
    # Counting limits are not under test here; they would turn later requests into 429s.
    settings.NIMBUS_THROTTLES = []
    free = {"free": 10**6, "base": 1, "cap": 1, "window": 60}
    settings.NIMBUS_SIGNIN_LIMITS = {p: free for p in ("per_account_address", "per_address")}
    failures = []
    for url in all_urls():
        methods = ["POST", "PUT", "PATCH", "DELETE"] if url.startswith("/api/") else ["POST"]
        for who, client in clients.items():
            for name, (body, content_type) in BODIES.items():
                for method in methods:
                    response = client.generic(method, url, body, content_type=content_type)
                    if response.status_code >= 500:
                        failures.append(f"{who} {method} {url} {name}: {response.status_code}")
            response = client.get(url, HOSTILE_QUERY)
            if response.status_code >= 500:
                failures.append(f"{who} GET {url} hostile query: {response.status_code}")
    assert not failures, "\n".join(failures)
