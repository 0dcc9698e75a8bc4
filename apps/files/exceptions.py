"""Errors of the files app, each with a stable machine-readable code."""

from __future__ import annotations

from project.errors import Conflict, InvalidInput, NimbusError, NotFound, PermissionDenied


class FileNotFound(NotFound):
    """Unknown file, or another user's (never 403: existence is not disclosed)."""

    code = "file_not_found"


class FileTooLarge(InvalidInput):
    code = "file_too_large"
    status = 413


class FileEmpty(InvalidInput):
    code = "file_empty"


class FileTypeNotAllowed(InvalidInput):
    code = "file_type_not_allowed"
    status = 415


class QuotaExceeded(InvalidInput):
    code = "quota_exceeded"
    status = 413


class FileStateConflict(Conflict):
    """The file is not in a state that allows the operation."""

    code = "file_state_conflict"


class FileNotDownloadable(Conflict):
    code = "file_not_downloadable"


class UploadRefused(NimbusError):
    """The upload endpoint refused a POST that does not satisfy its signed policy."""

    code = "upload_refused"
    status = 403


class UploadSignatureInvalid(UploadRefused):
    code = "upload_signature_invalid"


class UploadExpired(UploadRefused):
    code = "upload_expired"


class UploadKeyMismatch(UploadRefused):
    code = "upload_key_mismatch"


class UploadTypeMismatch(UploadRefused):
    code = "upload_type_mismatch"


class UploadTooLarge(UploadRefused):
    code = "upload_too_large"
    status = 413


class UploadEmpty(UploadRefused):
    code = "upload_empty"
    status = 400


class UploadMissingFile(UploadRefused):
    code = "upload_missing_file"
    status = 400


class UploadAlreadyUsed(UploadRefused):
    code = "upload_already_used"
    status = 409


class UploadPartInvalid(UploadRefused):
    code = "upload_part_invalid"
    status = 400


class UploadSizeMismatch(UploadRefused):
    """The bytes sent do not add up to the size declared when the upload started."""

    code = "upload_size_mismatch"
    status = 400


class UploadClosed(UploadRefused):
    """A part sent to an upload that was already completed, aborted or expired."""

    code = "upload_closed"
    status = 409


class DownloadLinkInvalid(PermissionDenied):
    code = "download_link_invalid"


class DownloadLinkExpired(PermissionDenied):
    code = "download_link_expired"
