"""The private uploads bucket (direct browser uploads) and the static bucket (CloudFront)."""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Join, Ref, Sub, s3

from infra.context import Stack


def _private_bucket(logical_id: str, **extra: Any) -> s3.Bucket:
    return s3.Bucket(
        logical_id,
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="AES256"
                    )
                )
            ]
        ),
        **extra,
    )


def _tls_only(bucket_id: str) -> dict[str, Any]:
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [GetAtt(bucket_id, "Arn"), Join("", [GetAtt(bucket_id, "Arn"), "/*"])],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def add_buckets(stack: Stack) -> None:
    stack.add(
        _private_bucket(
            "UploadsBucket",
            CorsConfiguration=s3.CorsConfiguration(
                CorsRules=[
                    s3.CorsRules(
                        AllowedOrigins=[stack.named["SiteUrl"]],
                        AllowedMethods=["GET", "HEAD", "POST", "PUT"],
                        AllowedHeaders=["*"],
                        # Multipart uploads read each part's ETag from the browser.
                        ExposedHeaders=["ETag"],
                        MaxAge=3000,
                    )
                ]
            ),
            LifecycleConfiguration=s3.LifecycleConfiguration(
                Rules=[
                    s3.LifecycleRule(
                        Id="abort-abandoned-multipart-uploads",
                        Status="Enabled",
                        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                            DaysAfterInitiation=2
                        ),
                    )
                ]
            ),
            # Object Created events reach EventBridge's default bus (forwarded to ours).
            NotificationConfiguration=s3.NotificationConfiguration(
                EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True)
            ),
        ),
        name="UploadsBucket",
    )
    stack.add(
        s3.BucketPolicy(
            "UploadsBucketPolicy",
            Bucket=Ref("UploadsBucket"),
            PolicyDocument={"Version": "2012-10-17", "Statement": [_tls_only("UploadsBucket")]},
        )
    )
    stack.add(_private_bucket("StaticBucket"), name="StaticBucket")
    stack.add(
        s3.BucketPolicy(
            "StaticBucketPolicy",
            Bucket=Ref("StaticBucket"),
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    _tls_only("StaticBucket"),
                    {
                        "Sid": "CloudFrontReadsStatic",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": Join("", [GetAtt("StaticBucket", "Arn"), "/static/*"]),
                        "Condition": {
                            "StringEquals": {
                                "AWS:SourceArn": Sub(
                                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:"
                                    "distribution/${Distribution}"
                                )
                            }
                        },
                    },
                ],
            },
        )
    )
    stack.export_env("NIMBUS_UPLOADS_BUCKET", Ref("UploadsBucket"), "Private uploads bucket")
    stack.export_env("NIMBUS_STATIC_BUCKET", Ref("StaticBucket"), "Static files bucket")
