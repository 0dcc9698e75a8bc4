"""The stack's federated sign-in (Google, OIDC, SAML on the user pool) and the WebSocket on
the site's domain: the rendered template under each parameter set, cfn-lint with those
values, and what moto's Cognito, API Gateway v2, ACM and Route 53 make of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.checks import lint, lint_scenarios
from infra.inputs import StackInputs
from infra.parts.federation import EXAMPLE_PARAMETERS, PROVIDER_PARAMETERS
from infra.template import render
from tests import support
from tests.rehearsal.world import (
    NO_VALUE,
    SITE_DOMAIN,
    Resolver,
    World,
    _user_pool,
    _websocket_api,
)

PROVIDERS = ("GoogleIdentityProvider", "OidcIdentityProvider", "SamlIdentityProvider")
DOMAIN = {"DomainName": "app.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return render(StackInputs(stage="dev"))


def _resolved(template: dict[str, Any], parameters: dict[str, str]) -> Resolver:
    resolver = Resolver(template, parameters)
    resolver.attributes[("Distribution", "DomainName")] = SITE_DOMAIN
    for logical in PROVIDERS:
        provider = template["Resources"][logical]
        if resolver.condition(provider["Condition"]):
            resolver.physical[logical] = resolver(provider["Properties"]["ProviderName"])
    resolver.physical.update(UserPool="us-east-1_Pool", WebSocketApi="abc123")
    resolver.physical.update(WebSocketCertificate="arn:aws:acm:us-east-1:1:certificate/issued")
    return resolver


def _client(template: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
    return dict(resolver(template["Resources"]["UserPoolClient"]["Properties"]))


def _output(template: dict[str, Any], resolver: Resolver, key: str) -> Any:
    return resolver(template["Outputs"][key]["Value"])


def test_by_default_the_pool_offers_only_its_own_users(template):
    resolver = _resolved(template, {})
    assert _client(template, resolver)["SupportedIdentityProviders"] == ["COGNITO"]
    assert not any(resolver.condition(template["Resources"][p]["Condition"]) for p in PROVIDERS)
    assert _output(template, resolver, "CognitoIdentityProviders") == ",,"


@pytest.mark.parametrize("provider", sorted(PROVIDER_PARAMETERS))
def test_each_provider_is_switched_on_by_its_own_parameters_alone(template, provider):
    parameters = {name: EXAMPLE_PARAMETERS[name] for name in PROVIDER_PARAMETERS[provider]}
    resolver = _resolved(template, parameters)
    name = {"Google": "Google", "OIDC": "Okta", "SAML": "Corporate"}[provider]
    assert _client(template, resolver)["SupportedIdentityProviders"] == ["COGNITO", name]
    assert _output(template, resolver, "CognitoIdentityProviders").strip(",") == name
    # Half the parameters switch nothing on.
    first, *rest = PROVIDER_PARAMETERS[provider]
    if rest:
        half = _resolved(template, {first: EXAMPLE_PARAMETERS[first]})
        assert _client(template, half)["SupportedIdentityProviders"] == ["COGNITO"]


def test_every_provider_reads_its_secret_by_dynamic_reference_and_maps_email_and_name(template):
    resolver = _resolved(template, EXAMPLE_PARAMETERS)
    google = resolver(template["Resources"]["GoogleIdentityProvider"]["Properties"])
    oidc = resolver(template["Resources"]["OidcIdentityProvider"]["Properties"])
    saml = resolver(template["Resources"]["SamlIdentityProvider"]["Properties"])
    assert google["ProviderDetails"]["client_secret"] == (
        "{{resolve:secretsmanager:"
        + EXAMPLE_PARAMETERS["GoogleClientSecretArn"]
        + ":SecretString:client_secret}}"
    )
    assert oidc["ProviderDetails"]["client_secret"].startswith("{{resolve:secretsmanager:")
    assert oidc["ProviderDetails"]["oidc_issuer"] == "https://example.okta.com"
    for provider in (google, oidc):
        assert provider["AttributeMapping"]["email"] == "email"
        assert provider["AttributeMapping"]["name"] == "name"
        assert provider["AttributeMapping"]["email_verified"] == "email_verified"
    assert set(saml["AttributeMapping"]) == {"email", "name"}
    assert saml["ProviderDetails"] == {"MetadataURL": EXAMPLE_PARAMETERS["SamlMetadataUrl"]}
    # No secret value is a parameter of the stack.
    assert not [p for p in template["Parameters"] if p.endswith("ClientSecret")]
    assert _client(template, resolver)["SupportedIdentityProviders"] == [
        "COGNITO",
        "Google",
        "Okta",
        "Corporate",
    ]


def test_the_websocket_keeps_its_execute_api_address_without_a_domain(template):
    resolver = _resolved(template, {})
    assert not resolver.condition("HasWebSocketDomain")
    assert _output(template, resolver, "NimbusWebsocketUrl") == (
        "wss://abc123.execute-api.us-east-1.amazonaws.com/dev"
    )
    # A domain with neither a hosted zone nor a certificate cannot have one either.
    assert not _resolved(template, {"DomainName": "app.example.com"}).condition(
        "HasWebSocketDomain"
    )


def test_with_a_domain_in_a_hosted_zone_the_websocket_gets_its_own_regional_domain(template):
    resolver = _resolved(template, DOMAIN)
    resources = template["Resources"]
    for logical in ("WebSocketCertificate", "WebSocketDomain", "WebSocketApiMapping"):
        assert resolver.condition(resources[logical]["Condition"]), logical
    assert resolver.condition(resources["WebSocketRecords"]["Condition"])
    certificate = resolver(resources["WebSocketCertificate"]["Properties"])
    assert certificate["DomainName"] == "ws.app.example.com"
    assert certificate["DomainValidationOptions"][0]["HostedZoneId"] == DOMAIN["HostedZoneId"]
    domain = resolver(resources["WebSocketDomain"]["Properties"])
    (config,) = domain["DomainNameConfigurations"]
    assert config == {
        "CertificateArn": "arn:aws:acm:us-east-1:1:certificate/issued",
        "EndpointType": "REGIONAL",
        "SecurityPolicy": "TLS_1_2",
    }
    mapping = resources["WebSocketApiMapping"]["Properties"]
    assert mapping["ApiId"] == {"Ref": "WebSocketApi"}
    assert mapping["Stage"] == {"Ref": "WebSocketStage"}
    assert "ApiMappingKey" not in mapping  # the domain's root is the stage
    assert _output(template, resolver, "NimbusWebsocketUrl") == "wss://ws.app.example.com"
    # The site's CloudFront certificate is a different one (us-east-1, the site's host).
    assert resources["Certificate"]["Properties"]["DomainName"] == {"Ref": "DomainName"}


def test_a_given_regional_certificate_is_used_and_none_is_issued(template):
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/ws"
    resolver = _resolved(
        template, {"DomainName": "app.example.com", "WebSocketCertificateArn": arn}
    )
    resources = template["Resources"]
    assert resolver.condition("HasWebSocketDomain")
    assert not resolver.condition(resources["WebSocketCertificate"]["Condition"])
    assert not resolver.condition(resources["WebSocketRecords"]["Condition"])
    domain = resolver(resources["WebSocketDomain"]["Properties"])
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == arn


def test_cfn_lint_checks_the_template_under_each_scenario_and_catches_bad_values(template):
    scenarios = lint_scenarios()
    assert {"Google sign-in", "OIDC sign-in", "SAML sign-in", "every provider"} <= set(scenarios)
    assert {"domain in a hosted zone", "domain with a regional certificate"} <= set(scenarios)
    for parameters in scenarios.values():
        assert lint(template, parameters=parameters) == [], parameters
    # A value Cognito would refuse is found before a deploy.
    bad = lint(template, parameters={**EXAMPLE_PARAMETERS, "OidcProviderName": "my idp_"})
    assert any("OidcIdentityProvider/Properties/ProviderName" in line for line in bad)


# -- what moto makes of it ----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint, monkeypatch) -> Any:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return boto3.Session(region_name="us-east-1")


def _world(aws: Any, endpoint: str, template: dict[str, Any], parameters: dict[str, str]) -> World:
    """The user pool and WebSocket API as the rehearsal stands them up (moto's
    CloudFormation skips both), with the certificate ACM would issue."""
    resolver = Resolver(template, parameters)
    resolver.attributes[("Distribution", "DomainName")] = SITE_DOMAIN
    # Made by moto's CloudFormation in the rehearsal; only named by the stage here.
    resolver.attributes[("WebSocketAccessLogs", "Arn")] = "arn:aws:logs:us-east-1:1:log-group:ws"
    world = World(endpoint, aws, template, parameters, resolver)
    certificate = template["Resources"]["WebSocketCertificate"]
    if resolver.condition(certificate["Condition"]):
        props = resolver(certificate["Properties"])
        resolver.physical["WebSocketCertificate"] = aws.client("acm").request_certificate(
            DomainName=props["DomainName"], ValidationMethod="DNS"
        )["CertificateArn"]
    _user_pool(world)
    _websocket_api(world)
    return world


@pytest.mark.sqlite_only
def test_moto_creates_the_providers_with_their_secrets_and_the_client_lists_them(
    aws, moto_endpoint, template
):
    manager = aws.client("secretsmanager")
    google = manager.create_secret(
        Name="google-client", SecretString=json.dumps({"client_secret": "g-secret"})
    )["ARN"]
    okta = manager.create_secret(
        Name="okta-client", SecretString=json.dumps({"client_secret": "o-secret"})
    )["ARN"]
    parameters = {
        **EXAMPLE_PARAMETERS,
        "GoogleClientSecretArn": google,
        "OidcClientSecretArn": okta,
    }
    world = _world(aws, moto_endpoint, template, parameters)
    cognito = aws.client("cognito-idp")
    client = cognito.describe_user_pool_client(
        UserPoolId=world.user_pool_id, ClientId=world.client_id
    )["UserPoolClient"]
    assert client["SupportedIdentityProviders"] == ["COGNITO", "Google", "Okta", "Corporate"]
    described = {
        name: cognito.describe_identity_provider(UserPoolId=world.user_pool_id, ProviderName=name)[
            "IdentityProvider"
        ]
        for name in ("Google", "Okta", "Corporate")
    }
    assert described["Google"]["ProviderType"] == "Google"
    assert described["Google"]["ProviderDetails"]["client_secret"] == "g-secret"
    assert described["Okta"]["ProviderDetails"]["client_secret"] == "o-secret"
    assert described["Okta"]["AttributeMapping"]["email_verified"] == "email_verified"
    assert described["Corporate"]["ProviderType"] == "SAML"


@pytest.mark.sqlite_only
def test_moto_maps_the_websocket_domain_to_the_stage(aws, moto_endpoint, template):
    route53 = aws.client("route53")
    zone = route53.create_hosted_zone(Name="app.example.com", CallerReference="nimbus-ws")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    parameters = {"DomainName": "app.example.com", "HostedZoneId": zone_id}
    world = _world(aws, moto_endpoint, template, parameters)
    gateway = aws.client("apigatewayv2")
    domain = gateway.get_domain_name(DomainName="ws.app.example.com")
    (config,) = domain["DomainNameConfigurations"]
    assert config["EndpointType"] == "REGIONAL"
    assert config["CertificateArn"] == world.resolver.physical["WebSocketCertificate"]
    (mapping,) = gateway.get_api_mappings(DomainName="ws.app.example.com")["Items"]
    assert mapping["ApiId"] == world.websocket_api_id
    assert mapping["Stage"] == "dev"
    # The DNS records the template asks for, created in the zone, alias the regional domain.
    records = world.resolver(template["Resources"]["WebSocketRecords"]["Properties"])
    for record in records["RecordSets"]:  # CloudFormation's default; the API requires it
        record["AliasTarget"].setdefault("EvaluateTargetHealth", False)
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "CREATE", "ResourceRecordSet": record}
                for record in records["RecordSets"]
            ]
        },
    )
    found = {
        r["Type"]: r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r["Name"].rstrip(".") == "ws.app.example.com"
    }
    assert set(found) == {"A", "AAAA"}
    # moto echoes the configuration without the RegionalDomainName AWS adds; the alias
    # targets whatever the domain's GetAtt gives.
    target = world.resolver.attributes[("WebSocketDomain", "RegionalDomainName")]
    assert found["A"]["AliasTarget"]["DNSName"].rstrip(".") == target.rstrip(".")
    raw = template["Resources"]["WebSocketRecords"]["Properties"]["RecordSets"][0]
    assert raw["AliasTarget"] == {
        "DNSName": {"Fn::GetAtt": ["WebSocketDomain", "RegionalDomainName"]},
        "HostedZoneId": {"Fn::GetAtt": ["WebSocketDomain", "RegionalHostedZoneId"]},
    }
    assert NO_VALUE not in records["RecordSets"]
