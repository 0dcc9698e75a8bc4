"""A small fixed-window rate limiter on Django's cache, for any app.

    from project.ratelimit import Limit, ratelimit_check, ratelimit_hit

    SIGNIN_PER_IP = Limit(scope="signin-ip", limit=30, window=300)
    ratelimit_check(limit=SIGNIN_PER_IP, key=ip)   # raises RateLimited when spent
    ...
    ratelimit_hit(limit=SIGNIN_PER_IP, key=ip)     # count one attempt (e.g. a failure)

Counters live in ``settings.NIMBUS_RATELIMIT_CACHE`` (default ``"default"``): on AWS that
must be a cache shared by every Lambda container (Redis or the database cache), otherwise
each container counts on its own. Keys are hashed, so emails and IPs never reach the cache
in clear. Exceeding a limit raises :class:`project.errors.RateLimited` (429, retryable)
with ``retry_after`` seconds in its detail.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from project.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits per ``window`` seconds for one key within ``scope``."""

    scope: str
    limit: int
    window: int


def _cache_key(limit: Limit, key: str, now: float) -> tuple[str, int]:
    window_index = int(now // limit.window)
    digest = hashlib.sha256(f"{limit.scope}\0{key}".encode()).hexdigest()[:32]
    retry_after = int((window_index + 1) * limit.window - now) + 1
    return f"nimbus:rl:{limit.scope}:{digest}:{window_index}", retry_after


def _cache() -> BaseCache:
    return caches[getattr(settings, "NIMBUS_RATELIMIT_CACHE", "default")]


def ratelimit_count(*, limit: Limit, key: str) -> int:
    """Hits counted for ``key`` in the current window."""
    cache_key, _ = _cache_key(limit, key, time.time())
    return int(_cache().get(cache_key, 0))


def ratelimit_check(*, limit: Limit, key: str) -> None:
    """Raise ``RateLimited`` when ``key`` has used up its window (does not count a hit)."""
    cache_key, retry_after = _cache_key(limit, key, time.time())
    if int(_cache().get(cache_key, 0)) >= limit.limit:
        raise RateLimited(
            "Too many attempts; try again later.",
            detail={"scope": limit.scope, "retry_after": retry_after},
        )


def ratelimit_hit(*, limit: Limit, key: str) -> int:
    """Count one hit for ``key``; raise ``RateLimited`` if it goes over the limit."""
    cache_key, retry_after = _cache_key(limit, key, time.time())
    cache = _cache()
    cache.add(cache_key, 0, timeout=limit.window + 1)
    try:
        count = int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=limit.window + 1)
        count = 1
    if count > limit.limit:
        raise RateLimited(
            "Too many attempts; try again later.",
            detail={"scope": limit.scope, "retry_after": retry_after},
        )
    return count


def ratelimit_reset(*, limit: Limit, key: str) -> None:
    """Forget the current window's hits for ``key``."""
    cache_key, _ = _cache_key(limit, key, time.time())
    _cache().delete(cache_key)
