"""Sliding-window rate limits and progressive delays on Django's cache, for any app.

    from project.ratelimit import Limit, ratelimit_check, ratelimit_hit

    SIGNIN_PER_IP = Limit(scope="signin-ip", limit=30, window=300)
    ratelimit_check(limit=SIGNIN_PER_IP, key=ip)   # raises RateLimited when spent
    ...
    ratelimit_hit(limit=SIGNIN_PER_IP, key=ip)     # count one attempt (e.g. a failure)

A window slides: the count at any instant is this window's hits plus the previous
window's, weighted by how much of it still lies within the last ``window`` seconds (the
sliding-window counter of Cloudflare and nginx). A burst across a window's edge
therefore counts in full; it cannot try twice the limit as with fixed windows.

:class:`Backoff` slows a key down instead of shutting it out: after ``free`` failures
each further failure doubles the wait before the next attempt (``base`` seconds up to
``cap``); a success clears it.

Counters live in ``settings.NIMBUS_RATELIMIT_CACHE`` (default ``"default"``): on AWS that
must be a cache shared by every Lambda container (Redis or the database cache), otherwise
each container counts on its own. Keys are hashed, so emails and IPs never reach the cache
in clear. Exceeding a limit raises :class:`project.errors.RateLimited` (429, retryable)
with ``retry_after`` seconds in its detail.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from project.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits in any ``window`` seconds for one key within ``scope``."""

    scope: str
    limit: int
    window: int


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures within ``window`` seconds, wait ``base * 2**(n - free - 1)``
    seconds (at most ``cap``) after the n-th failure before the next attempt."""

    scope: str
    free: int
    base: int
    cap: int
    window: int


def _digest(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:32]


def _bucket_key(limit: Limit, key: str, index: int) -> str:
    return f"nimbus:rl:{limit.scope}:{_digest(limit.scope, key)}:{index}"


def _cache() -> BaseCache:
    return caches[getattr(settings, "NIMBUS_RATELIMIT_CACHE", "default")]


def _refused(scope: str, retry_after: int) -> RateLimited:
    return RateLimited(
        f"Too many attempts; try again in {in_words(retry_after)}.",
        detail={"scope": scope, "retry_after": retry_after},
    )


def in_words(seconds: int) -> str:
    """``45 seconds``, ``3 minutes``, ``2 hours``: how long to wait, for people (rounded up,
    so the wait said is never shorter than the one enforced)."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def _buckets(limit: Limit, key: str, now: float) -> tuple[int, int, float]:
    """(this window's hits, the previous window's hits, how far into this window we are)."""
    index = int(now // limit.window)
    got = _cache().get_many([_bucket_key(limit, key, index), _bucket_key(limit, key, index - 1)])
    current = int(got.get(_bucket_key(limit, key, index), 0))
    previous = int(got.get(_bucket_key(limit, key, index - 1), 0))
    return current, previous, (now % limit.window) / limit.window


def _weighted(current: int, previous: int, elapsed: float) -> int:
    """The sliding count, rounded up: a hit still partly in the window still counts."""
    return current + math.ceil(round(previous * (1 - elapsed), 6))


def _retry_after(limit: Limit, current: int, previous: int, elapsed: float) -> int:
    """Seconds until the sliding count is below the limit again, if nothing else is hit.

    The count is ``current + ceil(previous * (1 - f))`` at fraction ``f`` of the window; it
    is below the limit once ``previous * (1 - f) <= limit - 1 - current``.
    """
    room = limit.limit - 1 - current
    if room >= 0 and previous:
        wait = (1 - room / previous - elapsed) * limit.window
    else:
        # Only once this window's hits are the previous window's can they slide out.
        target = 1 - (limit.limit - 1) / current if current else 0.0
        wait = (1 - elapsed + target) * limit.window
    return max(1, math.ceil(wait))


def ratelimit_count(*, limit: Limit, key: str) -> int:
    """Hits counted for ``key`` within the last ``window`` seconds (weighted)."""
    return _weighted(*_buckets(limit, key, time.time()))


def ratelimit_check(*, limit: Limit, key: str) -> None:
    """Raise ``RateLimited`` when ``key`` has used up its window (does not count a hit)."""
    current, previous, elapsed = _buckets(limit, key, time.time())
    if _weighted(current, previous, elapsed) >= limit.limit:
        raise _refused(limit.scope, _retry_after(limit, current, previous, elapsed))


def ratelimit_hit(*, limit: Limit, key: str) -> int:
    """Count one hit for ``key``; raise ``RateLimited`` if it goes over the limit."""
    now = time.time()
    index = int(now // limit.window)
    cache, bucket = _cache(), _bucket_key(limit, key, index)
    # A bucket is read during its own window and the next one.
    cache.add(bucket, 0, timeout=2 * limit.window + 1)
    try:
        current = int(cache.incr(bucket))
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=2 * limit.window + 1)
        current = 1
    previous = int(cache.get(_bucket_key(limit, key, index - 1), 0))
    elapsed = (now % limit.window) / limit.window
    count = _weighted(current, previous, elapsed)
    if count > limit.limit:
        raise _refused(limit.scope, _retry_after(limit, current, previous, elapsed))
    return count


def ratelimit_reset(*, limit: Limit, key: str) -> None:
    """Forget ``key``'s hits (this window's and the previous one's)."""
    index = int(time.time() // limit.window)
    _cache().delete_many([_bucket_key(limit, key, index), _bucket_key(limit, key, index - 1)])


# -- progressive delays ---------------------------------------------------------------------


def _until_key(backoff: Backoff, key: str) -> str:
    return f"nimbus:bo:{backoff.scope}:{_digest(backoff.scope, key)}"


def _failures(backoff: Backoff) -> Limit:
    return Limit(scope=f"{backoff.scope}-failures", limit=2**31, window=backoff.window)


def backoff_check(*, backoff: Backoff, key: str) -> None:
    """Raise ``RateLimited`` while ``key`` must still wait after its last failure."""
    until = _cache().get(_until_key(backoff, key))
    if until is not None and (wait := float(until) - time.time()) > 0:
        raise _refused(backoff.scope, math.ceil(wait))


def backoff_fail(*, backoff: Backoff, key: str) -> int:
    """Count a failure for ``key``; the seconds it must now wait (0 while still free)."""
    failures = ratelimit_hit(limit=_failures(backoff), key=key)
    if failures <= backoff.free:
        return 0
    delay = min(backoff.cap, backoff.base * 2 ** min(failures - backoff.free - 1, 30))
    _cache().set(_until_key(backoff, key), time.time() + delay, timeout=delay + 1)
    return delay


def backoff_failures(*, backoff: Backoff, key: str) -> int:
    """Failures counted for ``key`` within the backoff's window."""
    return ratelimit_count(limit=_failures(backoff), key=key)


def backoff_clear(*, backoff: Backoff, key: str) -> None:
    """Forget ``key``'s failures and wait (after a success)."""
    ratelimit_reset(limit=_failures(backoff), key=key)
    _cache().delete(_until_key(backoff, key))
