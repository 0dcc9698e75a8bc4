"""Upload backends: how a browser sends bytes straight to storage (``NIMBUS_UPLOADS``)."""

from __future__ import annotations

from apps.files.backends.base import UploadBackend
from project.backends import handler

uploads = handler("NIMBUS_UPLOADS", UploadBackend)


def get_upload_backend() -> UploadBackend:
    return uploads.default
