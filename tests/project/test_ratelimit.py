"""project.ratelimit: fixed windows on Django's cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from project.errors import RateLimited
from project.ratelimit import (
    Limit,
    ratelimit_check,
    ratelimit_count,
    ratelimit_hit,
    ratelimit_reset,
)

LIMIT = Limit(scope="test", limit=3, window=60)


@pytest.fixture(autouse=True)
def _clear():
    cache.clear()
    yield
    cache.clear()


def test_hits_up_to_the_limit_pass_then_refuse_with_retry_after():
    assert [ratelimit_hit(limit=LIMIT, key="a") for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RateLimited) as info:
        ratelimit_hit(limit=LIMIT, key="a")
    assert info.value.status == 429
    assert info.value.retryable
    assert 0 < info.value.detail["retry_after"] <= 61


def test_check_refuses_without_counting():
    for _ in range(3):
        ratelimit_hit(limit=LIMIT, key="a")
    with pytest.raises(RateLimited):
        ratelimit_check(limit=LIMIT, key="a")
    assert ratelimit_count(limit=LIMIT, key="a") == 3


def test_keys_and_scopes_are_separate():
    for _ in range(3):
        ratelimit_hit(limit=LIMIT, key="a")
    ratelimit_check(limit=LIMIT, key="b")
    ratelimit_check(limit=Limit(scope="other", limit=3, window=60), key="a")


def test_reset_forgets_the_window():
    for _ in range(3):
        ratelimit_hit(limit=LIMIT, key="a")
    ratelimit_reset(limit=LIMIT, key="a")
    ratelimit_check(limit=LIMIT, key="a")


def test_keys_are_not_stored_in_clear():
    ratelimit_hit(limit=LIMIT, key="ana@example.com")
    stored = list(cache._cache.keys())  # type: ignore[attr-defined]
    assert stored
    assert not any("ana@example.com" in k for k in stored)


@pytest.mark.django_db
def test_migrate_makes_the_database_cache_table_the_limits_count_in(settings):
    """Production counts limits in a DatabaseCache; `migrate` alone must leave it usable."""
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connection

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "nimbus_cache_migrate_test",
        }
    }
    assert "nimbus_cache_migrate_test" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert "nimbus_cache_migrate_test" in connection.introspection.table_names()
    caches["default"].set("sign-in:someone", 3, 60)
    assert caches["default"].get("sign-in:someone") == 3
