"""Sign-in through Cognito's hosted UI (and the external IdPs behind it) — or, locally,
the local provider's stand-in for them (``backends/standin.py``): the OAuth 2.0
authorization-code flow with PKCE, ``state`` and ``nonce``, driven by Authlib.

:func:`federation_start` makes the authorize URL and keeps the flow's secrets (state,
nonce, PKCE verifier, where to go next) in the caller's session; :func:`federation_finish`
checks the callback's ``state``, has the backend redeem the code (with the PKCE verifier;
Cognito's at its token endpoint, :func:`token_endpoint_redeem`), and hands the tokens to ``services.account_tokens_accept`` (as a password sign-in
does), which verifies them, checks the id token's ``nonce`` and refuses a disabled account
before it brings the account up to date (an e-mail that already has an account links only
as ``services.user_sync_from_claims`` allows). Each refusal is a ``FederationError`` with its
own code; nothing is written before every check passed.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from django.utils.crypto import constant_time_compare

from apps.users import exceptions as exc
from apps.users.backends import IdentityBackend, TokenSet, identity
from apps.users.models import User
from apps.users.services import account_tokens_accept, account_tokens_link
from project.site import absolute

logger = logging.getLogger("nimbus.users.federation")

SESSION_KEY = "nimbus_federation"
#: How long a started flow may take before its callback is refused.
FLOW_MAX_AGE = 600
SCOPE = "openid email profile"


def _backend() -> IdentityBackend:
    backend = identity()
    if not backend.supports_federation or not backend.hosted_ui_url():
        raise exc.FederationError(
            "Federated sign-in is not configured.", code="federation_unavailable"
        )
    return backend


def federation_providers() -> list[str]:
    """The federated IdPs the sign-in page offers ("Sign in with <name>"); none when the
    provider offers no hosted UI."""
    backend = identity()
    if not backend.supports_federation or not backend.hosted_ui_url():
        return []
    return backend.identity_providers


def redirect_uri() -> str:
    return absolute("/accounts/callback/")


def _oauth_client(client_id: str) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id,
        scope=SCOPE,
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
        # A public app client: PKCE stands in for a client secret.
        token_endpoint_auth_method="none",  # noqa: S106
        default_timeout=10,
    )


def federation_start(
    *,
    session: MutableMapping[str, Any],
    provider: str = "",
    next_url: str = "",
    link_user: User | None = None,
) -> str:
    """The hosted-UI authorize URL; remembers the flow in ``session``.

    ``provider`` names a federated IdP configured on the user pool (``identity_provider``;
    one the backend does not list is refused). With ``link_user`` (signed in with the
    account's own sign-in) the flow links the identity to that account instead of
    signing in (``services.account_tokens_link``).
    """
    backend = _backend()
    if provider and provider not in backend.identity_providers:
        raise exc.FederationError(
            f"No identity provider named {provider!r} is configured.",
            code="federation_provider_unknown",
            detail={"provider": provider, "configured": backend.identity_providers},
        )
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    extra = {"nonce": nonce}
    if provider:
        extra["identity_provider"] = provider
    url, _ = _oauth_client(backend.client_id).create_authorization_url(
        backend.hosted_ui_url() + "/oauth2/authorize",
        state=state,
        code_verifier=verifier,
        **extra,
    )
    session[SESSION_KEY] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": next_url,
        "started": time.time(),
        "link": link_user.pk if link_user is not None else None,
    }
    return str(url)


def federation_finish(
    *, session: MutableMapping[str, Any], params: dict[str, str], user: Any = None
) -> tuple[User, TokenSet, str]:
    """Complete the flow from the callback's query ``params``: (account, tokens, next URL).

    The flow is single-use: its secrets leave the session before anything is checked. A
    linking flow completes only for the account that started it (``user``, the request's).
    """
    flow = session.pop(SESSION_KEY, None)
    if params.get("error"):
        raise exc.FederationError(
            f"The identity provider refused the sign-in ({params['error']}).",
            code="federation_denied",
        )
    if not flow or time.time() - float(flow.get("started", 0)) > FLOW_MAX_AGE:
        raise exc.FederationError(
            "This sign-in was not started here or took too long.", code="federation_state_invalid"
        )
    if not constant_time_compare(str(params.get("state", "")), str(flow["state"])):
        raise exc.FederationError(
            "The sign-in state does not match.", code="federation_state_invalid"
        )
    linking = flow.get("link")
    if linking is not None and (user is None or getattr(user, "pk", None) != linking):
        raise exc.FederationError(
            "This link was started by another account.", code="federation_state_invalid"
        )
    code = params.get("code", "")
    if not code:
        raise exc.FederationError("The callback carries no code.", code="federation_code_rejected")
    tokens = _backend().redeem_code(
        code=code, verifier=flow["verifier"], redirect_uri=redirect_uri()
    )
    nonce = str(flow["nonce"])
    if linking is not None:
        account_tokens_link(tokens, user=user, nonce=nonce)
        return user, tokens, str(flow.get("next") or "")
    account = account_tokens_accept(tokens, nonce=nonce)
    return account, tokens, str(flow.get("next") or "")


def token_endpoint_redeem(token_url: str, *, client_id: str, code: str, verifier: str) -> TokenSet:
    """Trade the authorization code (and the PKCE verifier) for tokens at an OAuth 2.0
    token endpoint over HTTPS (Cognito's hosted UI)."""
    from authlib.integrations.base_client.errors import OAuthError
    from requests import RequestException

    try:
        token = _oauth_client(client_id).fetch_token(
            token_url, grant_type="authorization_code", code=code, code_verifier=verifier
        )
    except OAuthError as error:
        logger.warning("Token endpoint refused the code: %s", error.error)
        raise exc.FederationError(
            "The sign-in code was refused.", code="federation_code_rejected"
        ) from error
    except RequestException as error:
        raise exc.IdentityUnavailable("The identity provider is unavailable.") from error
    if not token.get("id_token") or not token.get("access_token"):
        raise exc.FederationError(
            "The token endpoint returned no id token.", code="federation_code_rejected"
        )
    return TokenSet(
        id_token=token["id_token"],
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token", ""),
        expires_in=int(token.get("expires_in", 3600)),
    )
