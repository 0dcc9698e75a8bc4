"""The one token verifier, for the local provider's tokens and Cognito's alike.

:class:`TokenVerifier` checks a JWT against the provider's JWKS (fetched from the
configured URL, cached, refetched when a token names an unknown ``kid`` but at most once
per ``min_refresh_interval`` so a flood of forged ``kid`` values cannot hammer the
provider), allows RS256 only, and checks ``iss``, ``exp`` (with a small leeway),
``token_use`` and the client: ``aud`` for id tokens, ``client_id`` for access tokens.
Every refusal raises a :class:`~apps.users.exceptions.TokenError` subclass with its own
code. Tokens are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jwt import PyJWK

from apps.users import exceptions as exc

logger = logging.getLogger("nimbus.users.tokens")

TokenUse = Literal["access", "id"]
JwksFetcher = Callable[[], dict[str, Any]]

ALLOWED_ALGORITHMS = ("RS256",)


def jwks_fetch_url(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET a JWKS document over HTTP(S)."""
    if not url.startswith(("https://", "http://")):
        raise exc.IdentityUnavailable(f"JWKS URL must be http(s): {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return dict(json.loads(response.read()))
    except (OSError, ValueError) as error:
        logger.error("Could not fetch the JWKS from %s: %s", url, error)
        raise exc.IdentityUnavailable("The identity provider's keys are unavailable.") from error


class JwksCache:
    """The provider's signing keys, fetched lazily and refreshed with a bounded rate."""

    def __init__(
        self, fetch: JwksFetcher, *, max_age: float = 3600.0, min_refresh_interval: float = 30.0
    ) -> None:
        self._fetch = fetch
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK | None:
        """The key named ``kid``; refetches once if unknown (rate-bounded) or stale."""
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at > self.max_age:
            self._refresh(now)
        if kid not in self._keys and self._may_refresh(now):
            self._refresh(now)
        return self._keys.get(kid)

    def _may_refresh(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.min_refresh_interval

    def _refresh(self, now: float) -> None:
        with self._lock:
            document = self._fetch()
            keys: dict[str, PyJWK] = {}
            from jwt import PyJWKSet  # PyJWT + cryptography: only when keys are loaded

            for jwk in PyJWKSet.from_dict(document).keys:
                if jwk.key_id:
                    keys[jwk.key_id] = jwk
            self._keys = keys
            self._fetched_at = now


class TokenVerifier:
    """Verifies the provider's id and access tokens; see the module docstring."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks: JwksCache,
        leeway: float = 30.0,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks = jwks
        self.leeway = leeway

    def verify(self, token: str, *, token_use: TokenUse) -> dict[str, Any]:
        """The token's claims, or a :class:`TokenError` naming what is wrong."""
        use: str = token_use
        key = self._signing_key(token)
        claims = self._decode(token, key, is_id=use == "id")
        if claims.get("token_use") != use:
            raise exc.TokenUseInvalid(f"This is not an {use} token.")
        if use == "access" and claims.get("client_id") != self.client_id:
            raise exc.TokenClientInvalid("The token was issued to another client.")
        return claims

    def _signing_key(self, token: str) -> PyJWK:
        import jwt  # PyJWT + cryptography cost a cold start ~0.5 s: only when a token is verified

        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise exc.TokenMalformed("The token is not a JWT.") from error
        alg = header.get("alg")
        if not alg or str(alg).lower() == "none":
            raise exc.TokenUnsigned("Unsigned tokens are refused.")
        if alg not in ALLOWED_ALGORITHMS:
            raise exc.TokenAlgorithmNotAllowed(f"Algorithm {alg!r} is not allowed.")
        kid = header.get("kid")
        key = self.jwks.key(str(kid)) if isinstance(kid, str) and kid else None
        if key is None:
            raise exc.TokenKeyUnknown("The token was signed by an unknown key.")
        return key

    def _decode(self, token: str, key: PyJWK, *, is_id: bool) -> dict[str, Any]:
        import jwt

        try:
            return jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                issuer=self.issuer,
                audience=self.client_id if is_id else None,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_aud": is_id,
                },
            )
        except jwt.ExpiredSignatureError as error:
            raise exc.TokenExpired("The token has expired.") from error
        except jwt.InvalidSignatureError as error:
            raise exc.TokenSignatureInvalid("The token's signature does not verify.") from error
        except jwt.InvalidIssuerError as error:
            raise exc.TokenIssuerInvalid("The token comes from another issuer.") from error
        except jwt.InvalidAudienceError as error:
            raise exc.TokenClientInvalid("The token was issued to another client.") from error
        except jwt.InvalidAlgorithmError as error:
            raise exc.TokenAlgorithmNotAllowed("The token's algorithm is not allowed.") from error
        except jwt.InvalidTokenError as error:
            raise exc.TokenMalformed(f"The token is not acceptable: {error}") from error
