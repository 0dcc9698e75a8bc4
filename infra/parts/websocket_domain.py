"""The WebSocket API on the site's domain: ``wss://ws.<DomainName>`` instead of its
``execute-api`` address, when ``DomainName`` is set.

An API Gateway v2 custom domain (regional, TLS 1.2) with its own ACM certificate in the
stack's region — CloudFront's certificate lives in us-east-1 and names the site's host
only — issued and validated in the hosted zone (``HostedZoneId``), or given as
``WebSocketCertificateArn``; an API mapping of the domain's root to the WebSocket stage;
and, with a hosted zone, the DNS alias. Without a hosted zone or a certificate the pages
keep the ``execute-api`` address. ``NIMBUS_WEBSOCKET_URL`` is what the pages connect to;
the function keeps posting to connections through the ``execute-api`` management
endpoint (``WEBSOCKET_API_ENDPOINT``), which any custom domain leaves in place.
"""

from __future__ import annotations

from troposphere import (
    And,
    Condition,
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Or,
    Parameter,
    Ref,
    Sub,
    apigatewayv2,
    certificatemanager,
    route53,
)

from infra.context import Stack

PREFIX = "ws."


def websocket_host() -> Join:
    return Join("", [PREFIX, Ref("DomainName")])


def add_websocket_domain(stack: Stack) -> None:
    """Call after ``push.add_websocket_api`` (it maps that API's stage)."""
    t = stack.template
    stack.named["WebSocketCertificateArn"] = t.add_parameter(
        Parameter(
            "WebSocketCertificateArn",
            Type="String",
            Default="",
            Description=(
                f"ACM certificate in the stack's region for {PREFIX}<DomainName>; "
                "empty: one is issued in HostedZoneId"
            ),
        )
    )
    t.add_condition("HasWebSocketCertificateArn", Not(Equals(Ref("WebSocketCertificateArn"), "")))
    t.add_condition(
        "HasWebSocketDomain",
        And(
            Condition("HasDomain"),
            Or(Condition("HasHostedZone"), Condition("HasWebSocketCertificateArn")),
        ),
    )
    t.add_condition(
        "IssueWebSocketCertificate",
        And(Condition("HasHostedZone"), Not(Condition("HasWebSocketCertificateArn"))),
    )
    t.add_condition(
        "HasWebSocketRecords", And(Condition("HasWebSocketDomain"), Condition("HasHostedZone"))
    )
    stack.add(
        certificatemanager.Certificate(
            "WebSocketCertificate",
            Condition="IssueWebSocketCertificate",
            DomainName=websocket_host(),
            ValidationMethod="DNS",
            DomainValidationOptions=[
                certificatemanager.DomainValidationOption(
                    DomainName=websocket_host(), HostedZoneId=Ref("HostedZoneId")
                )
            ],
        )
    )
    stack.add(
        apigatewayv2.DomainName(
            "WebSocketDomain",
            Condition="HasWebSocketDomain",
            DomainName=websocket_host(),
            DomainNameConfigurations=[
                apigatewayv2.DomainNameConfiguration(
                    CertificateArn=If(
                        "HasWebSocketCertificateArn",
                        Ref("WebSocketCertificateArn"),
                        Ref("WebSocketCertificate"),
                    ),
                    EndpointType="REGIONAL",
                    SecurityPolicy="TLS_1_2",
                )
            ],
        )
    )
    stack.add(
        apigatewayv2.ApiMapping(
            "WebSocketApiMapping",
            Condition="HasWebSocketDomain",
            ApiId=Ref("WebSocketApi"),
            DomainName=Ref("WebSocketDomain"),
            Stage=Ref("WebSocketStage"),
        )
    )
    stack.add(
        route53.RecordSetGroup(
            "WebSocketRecords",
            Condition="HasWebSocketRecords",
            HostedZoneId=Ref("HostedZoneId"),
            RecordSets=[
                route53.RecordSet(
                    Name=websocket_host(),
                    Type=record_type,
                    AliasTarget=route53.AliasTarget(
                        DNSName=GetAtt("WebSocketDomain", "RegionalDomainName"),
                        HostedZoneId=GetAtt("WebSocketDomain", "RegionalHostedZoneId"),
                    ),
                )
                for record_type in ("A", "AAAA")
            ],
        )
    )
    stage = stack.inputs.stage
    stack.export_env(
        "NIMBUS_WEBSOCKET_URL",
        If(
            "HasWebSocketDomain",
            Join("", ["wss://", websocket_host()]),
            Sub(f"wss://${{WebSocketApi}}.execute-api.${{AWS::Region}}.amazonaws.com/{stage}"),
        ),
        "WebSocket URL browsers connect to",
    )


def lint_scenarios() -> dict[str, dict[str, str]]:
    """Parameter sets ``infra lint`` checks: the domain with a hosted zone (certificate
    issued), and with a certificate but no zone."""
    domain = {"DomainName": "app.example.com"}
    return {
        "domain in a hosted zone": {**domain, "HostedZoneId": "Z0123456789ABCDEFGHIJ"},
        "domain with a regional certificate": {
            **domain,
            "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/site",
            "WebSocketCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/ws",
        },
    }
