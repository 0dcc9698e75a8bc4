"""Sign-in through Cognito's hosted UI (and the external IdPs behind it): the OAuth 2.0
authorization-code flow with PKCE, ``state`` and ``nonce``, driven by Authlib.

:func:`federation_start` makes the authorize URL and keeps the flow's secrets (state,
nonce, PKCE verifier, where to go next) in the caller's session; :func:`federation_finish`
checks the callback's ``state``, exchanges the code (with the PKCE verifier) at the token
endpoint, and hands the tokens to ``services.account_tokens_accept`` (as a password sign-in
does), which verifies them, checks the id token's ``nonce`` and refuses a disabled account
before it brings the account up to date. Each refusal is a ``FederationError`` with its
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
from apps.users.backends import TokenSet, identity
from apps.users.models import User
from apps.users.services import account_tokens_accept
from project.site import absolute

logger = logging.getLogger("nimbus.users.federation")

SESSION_KEY = "nimbus_federation"
#: How long a started flow may take before its callback is refused.
FLOW_MAX_AGE = 600
SCOPE = "openid email profile"


def _endpoints() -> tuple[str, str, str]:
    backend = identity()
    domain = str(backend.options.get("hosted_ui_domain") or "").rstrip("/")
    if not backend.supports_federation or not domain:
        raise exc.FederationError(
            "Federated sign-in is not configured.", code="federation_unavailable"
        )
    if not domain.startswith(("https://", "http://")):
        domain = f"https://{domain}"
    return domain + "/oauth2/authorize", domain + "/oauth2/token", backend.client_id


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
    *, session: MutableMapping[str, Any], provider: str = "", next_url: str = ""
) -> str:
    """The hosted-UI authorize URL; remembers the flow in ``session``.

    ``provider`` names a federated IdP configured on the user pool (``identity_provider``).
    """
    authorize, _, client_id = _endpoints()
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    extra = {"nonce": nonce}
    if provider:
        extra["identity_provider"] = provider
    url, _ = _oauth_client(client_id).create_authorization_url(
        authorize, state=state, code_verifier=verifier, **extra
    )
    session[SESSION_KEY] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": next_url,
        "started": time.time(),
    }
    return str(url)


def federation_finish(
    *, session: MutableMapping[str, Any], params: dict[str, str]
) -> tuple[User, TokenSet, str]:
    """Complete the flow from the callback's query ``params``: (account, tokens, next URL).

    The flow is single-use: its secrets leave the session before anything is checked.
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
    tokens = _exchange(params.get("code", ""), flow["verifier"])
    user = account_tokens_accept(tokens, nonce=str(flow["nonce"]))
    return user, tokens, str(flow.get("next") or "")


def _exchange(code: str, verifier: str) -> TokenSet:
    """Trade the authorization code (and the PKCE verifier) for tokens."""
    from authlib.integrations.base_client.errors import OAuthError
    from requests import RequestException

    if not code:
        raise exc.FederationError("The callback carries no code.", code="federation_code_rejected")
    _, token_url, client_id = _endpoints()
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
