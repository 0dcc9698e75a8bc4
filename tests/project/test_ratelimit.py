"""project.ratelimit: sliding windows and progressive delays on Django's cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from project import ratelimit
from project.errors import RateLimited
from project.ratelimit import (
    Backoff,
    Limit,
    backoff_check,
    backoff_clear,
    backoff_fail,
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
    # The refused hit counts too: four hits slide under three half-way into the next window.
    assert 30 <= info.value.detail["retry_after"] <= 90


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


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock(6000.0)  # the start of a 60-second window
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def test_a_burst_across_the_window_edge_cannot_try_twice_the_limit(clock):
    clock.now = 6059.0  # the last second of one fixed window
    for _ in range(3):
        ratelimit_hit(limit=LIMIT, key="a")
    clock.now = 6061.0  # the first seconds of the next
    with pytest.raises(RateLimited) as info:
        ratelimit_hit(limit=LIMIT, key="a")
    # The refused hit counts too; 1 + ceil(3 * (1 - f)) is below 3 from 6060 + 40 on.
    assert info.value.detail["retry_after"] == 39
    assert "try again in" in info.value.message


def test_the_window_slides_hits_out_gradually(clock):
    for _ in range(3):
        ratelimit_hit(limit=LIMIT, key="a")
    clock.now = 6060.0 + 40  # two thirds of the previous window's hits still count
    assert ratelimit_count(limit=LIMIT, key="a") == 1
    ratelimit_hit(limit=LIMIT, key="a")
    ratelimit_hit(limit=LIMIT, key="a")
    with pytest.raises(RateLimited):
        ratelimit_check(limit=LIMIT, key="a")
    clock.now = 6060.0 + 60 + 59
    ratelimit_check(limit=LIMIT, key="a")


BACKOFF = Backoff(scope="test-bo", free=2, base=2, cap=10, window=900)


def test_backoff_doubles_the_wait_after_the_free_failures_and_a_success_clears_it(clock):
    assert [backoff_fail(backoff=BACKOFF, key="a") for _ in range(2)] == [0, 0]
    backoff_check(backoff=BACKOFF, key="a")
    assert backoff_fail(backoff=BACKOFF, key="a") == 2
    with pytest.raises(RateLimited) as info:
        backoff_check(backoff=BACKOFF, key="a")
    assert info.value.detail == {"scope": "test-bo", "retry_after": 2}
    backoff_check(backoff=BACKOFF, key="b")  # other keys are not slowed
    clock.now += 2.5
    backoff_check(backoff=BACKOFF, key="a")
    assert [backoff_fail(backoff=BACKOFF, key="a") for _ in range(3)] == [4, 8, 10]  # capped
    backoff_clear(backoff=BACKOFF, key="a")
    backoff_check(backoff=BACKOFF, key="a")
    assert backoff_fail(backoff=BACKOFF, key="a") == 0


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


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (121, "3 minutes"),
        (900, "15 minutes"),
        (5399, "90 minutes"),
        (5400, "2 hours"),
        (7201, "3 hours"),
    ],
)
def test_waits_are_said_in_words_never_shorter_than_enforced(seconds, words):
    from project.ratelimit import in_words

    assert in_words(seconds) == words
