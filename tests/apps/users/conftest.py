"""Identity-provider fixtures: a Cognito user pool on moto's server, keys to forge tokens."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from apps.users.password_policy import PASSWORD_POLICY
from tests import support


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on a free 127.0.0.1 port (it serves each pool's JWKS over HTTP)."""
    with support.moto_server() as url:
        yield url


@dataclass
class CognitoPool:
    endpoint_url: str
    pool_id: str
    client_id: str

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint_url}/{self.pool_id}/.well-known/jwks.json"

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.us-east-1.amazonaws.com/{self.pool_id}"

    def client(self) -> Any:
        import boto3

        return boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=self.endpoint_url)

    def identity_setting(self) -> dict[str, Any]:
        return {
            "default": {
                "BACKEND": "apps.users.backends.aws.CognitoIdentityBackend",
                "OPTIONS": {
                    "user_pool_id": self.pool_id,
                    "client_id": self.client_id,
                    "region_name": "us-east-1",
                    "endpoint_url": self.endpoint_url,
                    "jwks_url": self.jwks_url,
                },
            }
        }


@pytest.fixture
def cognito_pool(moto_server: str) -> CognitoPool:
    """A fresh user pool shaped like the one the infra stack creates (email as username,
    Nimbus's password policy, a public client with password and refresh flows, the
    stack's groups)."""
    import boto3

    from infra.parts.identity import GROUPS

    client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=moto_server)
    policy = {k: v for k, v in PASSWORD_POLICY.items()}
    pool = client.create_user_pool(
        PoolName=f"nimbus-test-{os.urandom(4).hex()}",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": policy},  # type: ignore[typeddict-item]
    )["UserPool"]
    app = client.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="nimbus-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",  # as infra/parts/identity.py sets it
    )["UserPoolClient"]
    for group, description in GROUPS.items():
        client.create_group(GroupName=group, UserPoolId=pool["Id"], Description=description)
    return CognitoPool(moto_server, pool["Id"], app["ClientId"])


def moto_private_jwk() -> dict[str, Any]:
    """moto's static signing key (``kid: "dummy"``), public knowledge: forgeries use it."""
    import moto

    path = os.path.join(os.path.dirname(moto.__file__), "cognitoidp/resources/jwks-private.json.gz")
    with gzip.open(path) as f:
        return dict(json.loads(f.read()))


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Sign-in counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
