"""The S3 upload backend: presigned POST and presigned multipart parts.

boto3 is imported and the client built on first use, once per thread, so the HTTP hot
path never pays for it. The policy of a presigned POST is enforced by S3 itself; what we
generate is tested by decoding it (moto does not enforce it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core import checks
from django.utils.http import content_disposition_header

from apps.files.backends.base import UploadBackend, UploadedPart, UploadPolicy, UploadTarget
from apps.files.exceptions import UploadPartInvalid

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3UploadBackend(UploadBackend):
    default_options: ClassVar[dict[str, Any]] = {
        **UploadBackend.default_options,
        "bucket_name": "",
        "region_name": None,
        # Only for tests and local emulators; AWS itself needs none.
        "endpoint_url": None,
    }

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = super().check(**kwargs)
        if not self.options["bucket_name"]:
            messages.append(
                checks.Error(
                    f"NIMBUS_UPLOADS[{self.alias!r}] needs OPTIONS['bucket_name'].",
                    id="files.E002",
                )
            )
        return messages

    @property
    def client(self) -> S3Client:
        return self.aws_client("s3", signature_version="s3v4")

    @property
    def bucket(self) -> str:
        return str(self.options["bucket_name"])

    @staticmethod
    def _seconds_until(when: datetime) -> int:
        return max(1, int((when - datetime.now(UTC)).total_seconds()))

    def presign_post(self, policy: UploadPolicy) -> UploadTarget:
        # boto3 adds the bucket and the exact {"key": ...} conditions itself.
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=policy.key,
            Fields={"Content-Type": policy.content_type},
            Conditions=[
                ["content-length-range", policy.min_bytes, policy.max_bytes],
                {"Content-Type": policy.content_type},
            ],
            ExpiresIn=self._seconds_until(policy.expires_at),
        )
        return UploadTarget(
            url=post["url"],
            fields={k: str(v) for k, v in post["fields"].items()},
            expires_at=policy.expires_at,
            max_bytes=policy.max_bytes,
        )

    def multipart_start(self, *, key: str, content_type: str) -> str:
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )
        return response["UploadId"]

    def multipart_part_url(
        self,
        *,
        key: str,
        upload_id: str,
        part_number: int,
        expires_at: datetime,
        size: int | None = None,
    ) -> str:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        if size is not None:
            # Signed as a header (X-Amz-SignedHeaders=content-length;host): S3 refuses a
            # part of any other length.
            params["ContentLength"] = size
        return self.client.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=self._seconds_until(expires_at)
        )

    def multipart_parts(self, *, key: str, upload_id: str) -> list[UploadedPart]:
        paginator = self.client.get_paginator("list_parts")
        parts = []
        for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
            for part in page.get("Parts", []):
                parts.append(
                    UploadedPart(part["PartNumber"], part["ETag"].strip('"'), part["Size"])
                )
        return parts

    def multipart_complete(self, *, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        from botocore.exceptions import ClientError

        try:
            self._complete(key=key, upload_id=upload_id, parts=parts)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"}:
                raise UploadPartInvalid(
                    f"S3 refused to complete the upload: {code}.", detail={"s3_code": code}
                ) from error
            raise

    def _complete(self, *, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p.part_number, "ETag": f'"{p.etag.strip(chr(34))}"'}
                    for p in parts
                ]
            },
        )

    def multipart_abort(self, *, key: str, upload_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    def multipart_sweep(self, *, started_before: datetime) -> int:
        paginator = self.client.get_paginator("list_multipart_uploads")
        swept = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix="uploads/"):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < started_before:
                    self.multipart_abort(key=upload["Key"], upload_id=upload["UploadId"])
                    swept += 1
        return swept

    def read_chunks(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(key) from error
            raise
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def download_url(
        self, *, key: str, filename: str, content_type: str, operator: bool = False
    ) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition_header(True, filename) or "",
                "ResponseContentType": content_type,
            },
            ExpiresIn=int(self.options["download_expires_in"]),
        )
