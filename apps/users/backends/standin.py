"""The local identity provider's stand-in for federated IdPs (Google, an OIDC or a SAML
provider behind a Cognito user pool), so ``make run`` walks "Sign in with …" end to end.

Nimbus serves the OAuth endpoints itself, under the local issuer, shaped like Cognito's
hosted UI: ``/identity/oauth2/authorize`` shows a page that plays the external provider
(whoever runs ``make run`` says which e-mail and name it asserts, and whether it asserts
the address as verified) and answers the registered callback with a code;
:func:`code_redeem` trades that code and its PKCE verifier for RS256 tokens signed with
the provider's key, carrying what Cognito puts in a federated user's tokens (a ``sub`` of
the pool user it makes per external identity, ``identities``, ``email_verified`` as the
IdP asserted, ``nonce``).

A code is a signed, timestamped record of the authorization (so nothing is stored until
it is redeemed), valid for ``authorization_code_ttl`` seconds and redeemable once (the
cache remembers spent codes until they expire anyway). No refresh token is issued: the
web flow that uses this keeps a Django session.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any, Protocol

from django.core import signing
from django.core.cache import cache
from django.utils.crypto import constant_time_compare

from apps.users import exceptions as exc
from apps.users.backends.base import TokenSet


class Issuer(Protocol):
    """What the stand-in reads of the identity backend it speaks for (the local one)."""

    options: dict[str, Any]

    @property
    def client_id(self) -> str: ...

    @property
    def issuer(self) -> str: ...

    def sign(self, claims: dict[str, Any]) -> str: ...


SALT = "apps.users.backends.standin.code"
SPENT_PREFIX = "nimbus:identity:code-spent:"
SCOPE = "openid email profile"


def _refused(message: str) -> exc.FederationError:
    return exc.FederationError(message, code="federation_code_rejected")


def code_issue(
    backend: Issuer,
    *,
    provider: str,
    email: str,
    name: str,
    email_verified: bool,
    nonce: str,
    code_challenge: str,
    redirect_uri: str,
) -> str:
    """The authorization code for what the stand-in IdP asserted about the person."""
    return signing.dumps(
        {
            "p": provider,
            "e": email.strip().lower(),
            "n": name,
            "v": bool(email_verified),
            "nonce": nonce,
            "c": code_challenge,
            "r": redirect_uri,
            "aud": backend.client_id,
        },
        salt=SALT,
        compress=True,
    )


def code_redeem(backend: Issuer, *, code: str, verifier: str, redirect_uri: str) -> TokenSet:
    """Tokens for a code: refused when forged, expired, spent, for another redirect URI or
    client, or when ``verifier`` does not match the PKCE challenge."""
    ttl = int(backend.options["authorization_code_ttl"])
    try:
        grant = signing.loads(code, salt=SALT, max_age=ttl)
    except signing.BadSignature:
        raise _refused("The sign-in code is invalid or expired.") from None
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if not constant_time_compare(challenge, str(grant.get("c", ""))):
        raise _refused("The sign-in code does not match this flow (PKCE).")
    if grant.get("r") != redirect_uri or grant.get("aud") != backend.client_id:
        raise _refused("The sign-in code was issued for another client.")
    spent = SPENT_PREFIX + hashlib.sha256(code.encode()).hexdigest()
    if not cache.add(spent, 1, timeout=ttl + 60):
        raise _refused("The sign-in code has already been used.")
    return _tokens(backend, grant)


def external_subject(provider: str, email: str) -> str:
    """The stand-in IdP's own id for the person (Google's ``sub``, say): one per address."""
    return hashlib.sha256(f"{provider}:{email}".encode()).hexdigest()[:21]


def _tokens(backend: Issuer, grant: dict[str, Any]) -> TokenSet:
    now = int(time.time())
    provider, email = str(grant["p"]), str(grant["e"])
    user_id = external_subject(provider, email)
    # Cognito makes one pool user per external identity, named <provider>_<id>.
    username = f"{provider}_{user_id}"
    sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{backend.issuer}#{username}"))
    common: dict[str, Any] = {"iss": backend.issuer, "sub": sub, "iat": now, "auth_time": now}
    ttl = int(backend.options["id_token_ttl"])
    id_claims = {
        **common,
        "token_use": "id",
        "aud": backend.client_id,
        "email": email,
        "email_verified": bool(grant["v"]),
        "name": str(grant.get("n") or ""),
        "nonce": str(grant["nonce"]),
        "cognito:username": username,
        "identities": [
            {
                "providerName": provider,
                "userId": user_id,
                "primary": "true",
                "dateCreated": str(now * 1000),
            }
        ],
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    access = {
        **common,
        "token_use": "access",
        "client_id": backend.client_id,
        "scope": SCOPE,
        "username": username,
        "exp": now + int(backend.options["access_token_ttl"]),
        "jti": str(uuid.uuid4()),
    }
    return TokenSet(
        id_token=backend.sign(id_claims),
        access_token=backend.sign(access),
        refresh_token="",
        expires_in=int(backend.options["access_token_ttl"]),
    )
