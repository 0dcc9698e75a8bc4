"""Wrong passwords slow the attacker down; they never lock the owner out.

Every wait is a 429 with ``Retry-After`` (project.ratelimit ``Backoff``): nothing sleeps on
the server, and nothing counts a correct password. The policy, each part overridable in
``settings.NIMBUS_SIGNIN_LIMITS``:

* **per account and address** — 5 failures in 15 minutes are free; after each further one
  the next attempt from that address for that account waits 1 s, doubling (2, 4, 8 ...)
  up to 15 minutes. A success clears it.
* **per address**, whatever the account — 20 failures in 15 minutes are free, then the same
  doubling wait up to 15 minutes (one address guessing many accounts).
* **per account**, from every address — after 50 failures in 15 minutes the account is
  under attack: attempts from addresses that never signed in to it (in the last 90 days)
  wait 1 s, doubling up to 5 minutes. The addresses the owner signs in from are spared,
  so many addresses guessing one password cannot lock its owner out.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import caches

from project.ratelimit import Backoff, backoff_check, backoff_clear, backoff_fail

DEFAULTS: dict[str, Any] = {
    "per_account_address": {"free": 5, "base": 1, "cap": 900, "window": 900},
    "per_address": {"free": 20, "base": 1, "cap": 900, "window": 900},
    "per_account": {"free": 50, "base": 1, "cap": 300, "window": 900},
    "known_address_days": 90,
}


def _conf() -> dict[str, Any]:
    conf = dict(DEFAULTS)
    conf.update(getattr(settings, "NIMBUS_SIGNIN_LIMITS", {}))
    return conf


def _backoffs() -> tuple[Backoff, Backoff, Backoff]:
    conf = _conf()
    return (
        Backoff(scope="signin-account-address", **conf["per_account_address"]),
        Backoff(scope="signin-address", **conf["per_address"]),
        Backoff(scope="signin-account", **conf["per_account"]),
    )


def _known_key(email: str, ip: str) -> str:
    digest = hashlib.sha256(f"{email}\0{ip}".encode()).hexdigest()[:32]
    return f"nimbus:signin-known:{digest}"


def _cache() -> Any:
    return caches[getattr(settings, "NIMBUS_RATELIMIT_CACHE", "default")]


def address_known(*, email: str, ip: str) -> bool:
    """Whether ``ip`` signed in to ``email``'s account within ``known_address_days``."""
    return bool(ip) and bool(_cache().get(_known_key(email, ip)))


def signin_check(*, email: str, ip: str) -> None:
    """Raise ``RateLimited`` (with ``retry_after``) while this attempt must still wait."""
    pair, address, account = _backoffs()
    backoff_check(backoff=pair, key=f"{email}\0{ip}")
    if ip:
        backoff_check(backoff=address, key=ip)
    if not address_known(email=email, ip=ip):
        backoff_check(backoff=account, key=email)


def signin_failed(*, email: str, ip: str) -> int:
    """Count a failed attempt; the seconds the caller must now wait (0: none)."""
    pair, address, account = _backoffs()
    waits = [backoff_fail(backoff=pair, key=f"{email}\0{ip}")]
    if ip:
        waits.append(backoff_fail(backoff=address, key=ip))
    waits.append(backoff_fail(backoff=account, key=email))
    return max(waits)


def signin_succeeded(*, email: str, ip: str) -> None:
    """Clear this address's failures for the account and remember the address."""
    pair, _, _ = _backoffs()
    backoff_clear(backoff=pair, key=f"{email}\0{ip}")
    if ip:
        days = int(_conf()["known_address_days"])
        _cache().set(_known_key(email, ip), 1, timeout=days * 24 * 3600)
