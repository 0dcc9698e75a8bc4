"""Federated sign-in on the user pool: Google, one generic OIDC provider and one SAML
provider, each switched on by its stack parameters (and only then created).

A provider's client secret never passes through a parameter: the parameter names a
Secrets Manager secret the operator made (JSON ``{"client_secret": "..."}``) and the
provider reads it through a dynamic reference when CloudFormation creates it. Each maps
the IdP's e-mail and name onto the pool's attributes, and ``email_verified`` where the IdP
asserts it (Google, OIDC), which is what lets a federated sign-in join an existing account
(``apps.users.services.user_sync_from_claims``). The app client's
``SupportedIdentityProviders`` lists exactly what is configured, so Cognito's hosted UI shows
a button for each; ``COGNITO_IDENTITY_PROVIDERS`` tells Nimbus's own sign-in page the same.
"""

from __future__ import annotations

from typing import Any

from troposphere import And, Equals, If, Join, Not, NoValue, Parameter, Ref, Sub, cognito

from infra.context import Stack

SCOPES = "openid email profile"
#: Cognito provider names become URL path segments (/accounts/federated/<name>/start/).
PROVIDER_NAME_PATTERN = "^$|^[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]$"
SAML_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
SAML_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"

#: parameter -> (description, AllowedPattern or "")
PARAMETERS: dict[str, tuple[str, str]] = {
    "GoogleClientId": ("Google OAuth client id; empty: no Google sign-in", ""),
    "GoogleClientSecretArn": (
        'Secrets Manager secret holding {"client_secret": ...} of the Google client',
        "",
    ),
    "OidcProviderName": (
        "Name of the OIDC provider (the sign-in button says it); empty: none",
        PROVIDER_NAME_PATTERN,
    ),
    "OidcIssuer": ("The OIDC provider's issuer URL (https://...)", "^$|^https://.+"),
    "OidcClientId": ("Client id Nimbus's pool has at the OIDC provider", ""),
    "OidcClientSecretArn": (
        'Secrets Manager secret holding {"client_secret": ...} of the OIDC client',
        "",
    ),
    "SamlProviderName": (
        "Name of the SAML provider (the sign-in button says it); empty: none",
        PROVIDER_NAME_PATTERN,
    ),
    "SamlMetadataUrl": ("The SAML IdP's metadata URL (https://...)", "^$|^https://.+"),
}


def _set(name: str) -> Not:
    return Not(Equals(Ref(name), ""))


def add_parameters(stack: Stack) -> None:
    """The providers' parameters and the conditions ``HasGoogle``, ``HasOidc``, ``HasSaml``."""
    t = stack.template
    for name, (description, pattern) in PARAMETERS.items():
        extra: dict[str, Any] = {"AllowedPattern": pattern} if pattern else {}
        stack.named[name] = t.add_parameter(
            Parameter(name, Type="String", Default="", Description=description, **extra)
        )
    t.add_condition("HasGoogle", And(_set("GoogleClientId"), _set("GoogleClientSecretArn")))
    t.add_condition(
        "HasOidc",
        And(
            _set("OidcProviderName"),
            _set("OidcIssuer"),
            _set("OidcClientId"),
            _set("OidcClientSecretArn"),
        ),
    )
    t.add_condition("HasSaml", And(_set("SamlProviderName"), _set("SamlMetadataUrl")))


def _client_secret(parameter: str) -> Sub:
    return Sub(f"{{{{resolve:secretsmanager:${{{parameter}}}:SecretString:client_secret}}}}")


def add_identity_providers(stack: Stack) -> None:
    """The three providers on the pool (each behind its condition) and the outputs."""
    oidc_mapping = {
        "email": "email",
        "email_verified": "email_verified",
        "name": "name",
        "username": "sub",
    }
    stack.add(
        cognito.UserPoolIdentityProvider(
            "GoogleIdentityProvider",
            Condition="HasGoogle",
            UserPoolId=Ref("UserPool"),
            ProviderName="Google",
            ProviderType="Google",
            ProviderDetails={
                "client_id": Ref("GoogleClientId"),
                "client_secret": _client_secret("GoogleClientSecretArn"),
                "authorize_scopes": SCOPES,
            },
            AttributeMapping=oidc_mapping,
        )
    )
    stack.add(
        cognito.UserPoolIdentityProvider(
            "OidcIdentityProvider",
            Condition="HasOidc",
            UserPoolId=Ref("UserPool"),
            ProviderName=Ref("OidcProviderName"),
            ProviderType="OIDC",
            ProviderDetails={
                "client_id": Ref("OidcClientId"),
                "client_secret": _client_secret("OidcClientSecretArn"),
                "attributes_request_method": "GET",
                "oidc_issuer": Ref("OidcIssuer"),
                "authorize_scopes": SCOPES,
            },
            AttributeMapping=oidc_mapping,
        )
    )
    stack.add(
        cognito.UserPoolIdentityProvider(
            "SamlIdentityProvider",
            Condition="HasSaml",
            UserPoolId=Ref("UserPool"),
            ProviderName=Ref("SamlProviderName"),
            ProviderType="SAML",
            ProviderDetails={"MetadataURL": Ref("SamlMetadataUrl")},
            # SAML asserts no verification: such sign-ins never join an existing account
            # by e-mail (its owner links them from the settings page).
            AttributeMapping={"email": SAML_EMAIL, "name": SAML_NAME},
        )
    )
    stack.export_env(
        "COGNITO_IDENTITY_PROVIDERS",
        Join(
            ",",
            [
                If("HasGoogle", Ref("GoogleIdentityProvider"), ""),
                If("HasOidc", Ref("OidcIdentityProvider"), ""),
                If("HasSaml", Ref("SamlIdentityProvider"), ""),
            ],
        ),
        "Federated IdPs on the pool (the sign-in page's 'Sign in with ...' buttons)",
    )


def supported_identity_providers() -> list[Any]:
    """The app client's ``SupportedIdentityProviders``: the pool's own users and each
    configured provider (a ``Ref`` also orders the client after the provider)."""
    return [
        "COGNITO",
        If("HasGoogle", Ref("GoogleIdentityProvider"), NoValue),
        If("HasOidc", Ref("OidcIdentityProvider"), NoValue),
        If("HasSaml", Ref("SamlIdentityProvider"), NoValue),
    ]


#: Parameter values that switch every provider on (``infra lint`` and the tests).
EXAMPLE_PARAMETERS = {
    "GoogleClientId": "1234567890-abc.apps.googleusercontent.com",
    "GoogleClientSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:google-AbCdEf",
    "OidcProviderName": "Okta",
    "OidcIssuer": "https://example.okta.com",
    "OidcClientId": "0oa1example",
    "OidcClientSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
    "SamlProviderName": "Corporate",
    "SamlMetadataUrl": "https://idp.example.com/saml/metadata",
}
#: Each provider's own parameters (to switch one on alone).
PROVIDER_PARAMETERS = {
    "Google": ("GoogleClientId", "GoogleClientSecretArn"),
    "OIDC": ("OidcProviderName", "OidcIssuer", "OidcClientId", "OidcClientSecretArn"),
    "SAML": ("SamlProviderName", "SamlMetadataUrl"),
}


def lint_scenarios() -> dict[str, dict[str, str]]:
    """Parameter sets ``infra lint`` checks: each provider on alone, and all of them."""
    scenarios = {
        f"{provider} sign-in": {name: EXAMPLE_PARAMETERS[name] for name in names}
        for provider, names in PROVIDER_PARAMETERS.items()
    }
    scenarios["every provider"] = dict(EXAMPLE_PARAMETERS)
    return scenarios
