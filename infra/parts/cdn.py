"""CloudFront in front of everything: /static/* from S3 (origin access control), the rest
from Zappa's REST API; the custom domain (ACM certificate + Route 53 alias) when given."""

from __future__ import annotations

from troposphere import (
    AWSHelperFn,
    GetAtt,
    If,
    Join,
    NoValue,
    Ref,
    certificatemanager,
    cloudfront,
    route53,
)

from infra.context import Stack

# AWS managed CloudFront policies (ids are global constants).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
CLOUDFRONT_HOSTED_ZONE = "Z2FDTNDATAQYW2"


def site_domain() -> AWSHelperFn:
    return If("HasDomain", Ref("DomainName"), GetAtt("Distribution", "DomainName"))


def add_site_url(stack: Stack) -> None:
    """The site's origin, used by CORS, CSRF and Cognito callbacks (before CloudFront exists)."""
    stack.named["SiteUrl"] = Join("", ["https://", site_domain()])


def add_distribution(stack: Stack) -> None:
    stack.add(
        cloudfront.OriginAccessControl(
            "StaticOriginAccess",
            OriginAccessControlConfig=cloudfront.OriginAccessControlConfig(
                Name=f"{stack.prefix}-static",
                OriginAccessControlOriginType="s3",
                SigningBehavior="always",
                SigningProtocol="sigv4",
            ),
        )
    )
    stack.add(
        certificatemanager.Certificate(
            "Certificate",
            Condition="IssueCertificate",
            DomainName=Ref("DomainName"),
            ValidationMethod="DNS",
            DomainValidationOptions=[
                certificatemanager.DomainValidationOption(
                    DomainName=Ref("DomainName"), HostedZoneId=Ref("HostedZoneId")
                )
            ],
        )
    )
    static_origin = cloudfront.Origin(
        Id="static",
        DomainName=GetAtt("StaticBucket", "RegionalDomainName"),
        S3OriginConfig=cloudfront.S3OriginConfig(OriginAccessIdentity=""),
        OriginAccessControlId=GetAtt("StaticOriginAccess", "Id"),
    )
    api_origin = cloudfront.Origin(
        Id="api",
        DomainName=Ref("ApiOriginDomain"),
        OriginPath=Ref("ApiOriginPath"),
        # Proves to the function that a request came through CloudFront, so that its
        # X-Forwarded-For can be trusted (project/entrypoints/apigateway.py).
        OriginCustomHeaders=[
            cloudfront.OriginCustomHeader(
                HeaderName="X-Nimbus-Origin",
                HeaderValue=Join(
                    "",
                    [
                        "{{resolve:secretsmanager:",
                        Ref("OriginSecret"),
                        ":SecretString:NIMBUS_ORIGIN_SECRET}}",
                    ],
                ),
            )
        ],
        CustomOriginConfig=cloudfront.CustomOriginConfig(
            OriginProtocolPolicy="https-only",
            OriginSSLProtocols=["TLSv1.2"],
            OriginReadTimeout=30,
        ),
    )
    static_behavior = cloudfront.CacheBehavior(
        PathPattern="/static/*",
        TargetOriginId="static",
        ViewerProtocolPolicy="redirect-to-https",
        CachePolicyId=CACHING_OPTIMIZED,
        ResponseHeadersPolicyId=SECURITY_HEADERS,
        Compress=True,
        AllowedMethods=["GET", "HEAD"],
    )
    dynamic_default = cloudfront.DefaultCacheBehavior(
        TargetOriginId="api",
        ViewerProtocolPolicy="redirect-to-https",
        CachePolicyId=CACHING_DISABLED,
        OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST_HEADER,
        Compress=True,
        AllowedMethods=["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
    )
    static_default = cloudfront.DefaultCacheBehavior(
        TargetOriginId="static",
        ViewerProtocolPolicy="redirect-to-https",
        CachePolicyId=CACHING_OPTIMIZED,
        AllowedMethods=["GET", "HEAD"],
    )
    certificate = If("HasCertificateArn", Ref("CertificateArn"), Ref("Certificate"))
    stack.add(
        cloudfront.Distribution(
            "Distribution",
            DistributionConfig=cloudfront.DistributionConfig(
                Comment=f"{stack.prefix} site",
                Enabled=True,
                HttpVersion="http2and3",
                IPV6Enabled=True,
                PriceClass="PriceClass_100",
                Aliases=If("UseCertificate", [Ref("DomainName")], NoValue),
                # Until `zappa deploy` has made the API, the static bucket answers alone.
                Origins=If("HasApiOrigin", [static_origin, api_origin], [static_origin]),
                DefaultCacheBehavior=If("HasApiOrigin", dynamic_default, static_default),
                CacheBehaviors=[static_behavior],
                ViewerCertificate=If(
                    "UseCertificate",
                    cloudfront.ViewerCertificate(
                        AcmCertificateArn=certificate,
                        SslSupportMethod="sni-only",
                        MinimumProtocolVersion="TLSv1.2_2021",
                    ),
                    cloudfront.ViewerCertificate(CloudFrontDefaultCertificate=True),
                ),
            ),
        ),
        name="Distribution",
    )
    stack.add(
        route53.RecordSetGroup(
            "SiteRecords",
            Condition="HasHostedZone",
            HostedZoneId=Ref("HostedZoneId"),
            RecordSets=[
                route53.RecordSet(
                    Name=Ref("DomainName"),
                    Type=record_type,
                    AliasTarget=route53.AliasTarget(
                        DNSName=GetAtt("Distribution", "DomainName"),
                        HostedZoneId=CLOUDFRONT_HOSTED_ZONE,
                    ),
                )
                for record_type in ("A", "AAAA")
            ],
        )
    )
    stack.export_env("NIMBUS_SITE_URL", stack.named["SiteUrl"], "The site's public origin")
    # Django sees the API Gateway host (CloudFront does not forward Host) or the site's.
    stack.export_env(
        "ALLOWED_HOSTS",
        Join(
            ",", [site_domain(), Join("", [".execute-api.", Ref("AWS::Region"), ".amazonaws.com"])]
        ),
        "Hosts Django answers for",
    )
