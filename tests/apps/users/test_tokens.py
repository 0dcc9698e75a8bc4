"""The token verifier's key handling: cached JWKS, refetched on an unknown kid, bounded."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.users import exceptions as exc
from apps.users.tokens import JwksCache, TokenVerifier

ISSUER = "https://issuer.example.com/pool"


def _key() -> tuple[rsa.RSAPrivateKey, dict]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)


class Provider:
    """A JWKS source that counts fetches and can rotate keys."""

    def __init__(self) -> None:
        self.fetches = 0
        self.keys: dict[str, tuple[rsa.RSAPrivateKey, dict]] = {}
        self.add("k1")

    def add(self, kid: str) -> None:
        self.keys[kid] = _key()

    def jwks(self) -> dict:
        self.fetches += 1
        return {
            "keys": [
                {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}
                for kid, (_, jwk) in self.keys.items()
            ]
        }

    def token(self, kid: str, **claims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "sub": "s",
            "iat": now,
            "exp": now + 60,
            "token_use": "access",
            "client_id": "c",
        }
        return jwt.encode(
            {**body, **claims}, self.keys[kid][0], algorithm="RS256", headers={"kid": kid}
        )


@pytest.fixture
def provider() -> Provider:
    return Provider()


def verifier(provider: Provider, **kwargs) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, client_id="c", jwks=JwksCache(provider.jwks, **kwargs))


def test_keys_are_fetched_once_and_cached(provider):
    v = verifier(provider)
    for _ in range(5):
        assert v.verify(provider.token("k1"), token_use="access")["sub"] == "s"
    assert provider.fetches == 1


def test_a_rotated_key_is_picked_up_on_its_first_token(provider):
    v = verifier(provider, min_refresh_interval=0)
    v.verify(provider.token("k1"), token_use="access")
    provider.add("k2")
    v.verify(provider.token("k2"), token_use="access")
    assert provider.fetches == 2


def test_unknown_kids_cannot_make_it_refetch_more_than_once_per_interval(provider):
    v = verifier(provider, min_refresh_interval=60)
    v.verify(provider.token("k1"), token_use="access")
    rogue = Provider()
    rogue.keys = {"nope": _key()}
    for _ in range(20):
        with pytest.raises(exc.TokenKeyUnknown):
            v.verify(rogue.token("nope"), token_use="access")
    assert provider.fetches == 1


def test_expiry_has_a_small_leeway(provider):
    v = verifier(provider)
    now = int(time.time())
    assert v.verify(provider.token("k1", exp=now - 10), token_use="access")
    with pytest.raises(exc.TokenExpired):
        v.verify(provider.token("k1", exp=now - 120), token_use="access")


def test_missing_token_use_is_malformed(provider):
    v = verifier(provider)
    token = provider.token("k1")
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims["token_use"]
    bare = jwt.encode(claims, provider.keys["k1"][0], algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(exc.TokenMalformed):
        v.verify(bare, token_use="access")


def test_jwks_unreachable_is_a_retryable_503():
    from apps.users.tokens import jwks_fetch_url

    with pytest.raises(exc.IdentityUnavailable) as info:
        jwks_fetch_url("http://127.0.0.1:9/jwks.json", timeout=0.5)
    assert info.value.status == 503
    assert info.value.retryable
