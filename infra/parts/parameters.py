"""Stack parameters and the conditions derived from them.

The stack is deployed twice on a first install: before ``zappa deploy`` (the function does
not exist yet, so nothing may point at it) and after, with ``FunctionReady=true`` and the
REST API's domain, which :mod:`infra.deploy` looks up and passes automatically.
"""

from __future__ import annotations

from troposphere import And, Condition, Equals, Not, Parameter, Ref

from infra.context import Stack


def add_parameters(stack: Stack) -> None:
    t = stack.template
    for name, description, default in (
        ("DomainName", "Site domain (e.g. app.example.com); empty: CloudFront's domain", ""),
        ("HostedZoneId", "Route 53 hosted zone of DomainName; empty: no DNS record", ""),
        ("CertificateArn", "ACM certificate (us-east-1) for DomainName; empty: one is issued", ""),
        ("AlarmEmail", "Address subscribed to the operators topic; empty: none", ""),
        ("ApiOriginDomain", "Zappa's REST API host (<id>.execute-api.<region>.amazonaws.com)", ""),
        (
            "DatabaseSecretArn",
            "An existing database's RDS-shaped secret; empty: the stack creates the database",
            "",
        ),
        ("DatabaseHost", "Existing database: its (or its proxy's) host, if not in the secret", ""),
    ):
        stack.named[name] = t.add_parameter(
            Parameter(name, Type="String", Default=default, Description=description)
        )
    stack.named["ApiOriginPath"] = t.add_parameter(
        Parameter(
            "ApiOriginPath",
            Type="String",
            Default=f"/{stack.inputs.stage}",
            Description="The API Gateway stage path CloudFront forwards to",
        )
    )
    stack.named["FunctionReady"] = t.add_parameter(
        Parameter(
            "FunctionReady",
            Type="String",
            Default="false",
            AllowedValues=["true", "false"],
            Description="true once `zappa deploy` has created the function",
        )
    )
    t.add_condition("HasDomain", Not(Equals(Ref("DomainName"), "")))
    t.add_condition(
        "HasHostedZone", And(Condition("HasDomain"), Not(Equals(Ref("HostedZoneId"), "")))
    )
    t.add_condition("HasCertificateArn", Not(Equals(Ref("CertificateArn"), "")))
    t.add_condition(
        "IssueCertificate",
        And(Condition("HasHostedZone"), Equals(Ref("CertificateArn"), "")),
    )
    t.add_condition(
        "UseCertificate",
        And(
            Condition("HasDomain"),
            Not(And(Equals(Ref("CertificateArn"), ""), Equals(Ref("HostedZoneId"), ""))),
        ),
    )
    t.add_condition("HasAlarmEmail", Not(Equals(Ref("AlarmEmail"), "")))
    t.add_condition("HasApiOrigin", Not(Equals(Ref("ApiOriginDomain"), "")))
    t.add_condition("FunctionReady", Equals(Ref("FunctionReady"), "true"))
