"""Static files on AWS: the files in the static bucket, their manifest in the package.

Django's manifest storage maps ``nimbus/site.css`` to the content-hashed name it uploaded
(``nimbus/site.3f2a….css``) and loads that map **once per process**. Read from the bucket,
the map would belong to whichever release last ran ``collectstatic``, not to the code that
is running: a page of the new code rendered before the upload answers 500 (``Missing
staticfiles manifest entry``), and a warm Lambda container keeps the map it loaded first
until it is recycled.

So the map ships with the code. ``make package`` (``infra.package.build``) collects the
static files into a local directory with the same hashing ``collectstatic`` uses and puts
that ``staticfiles.json`` at the root of the package; :class:`PackagedManifestStaticStorage`
reads it from there (``/var/task`` on Lambda) and the bucket only holds files. A release
(``manage.py infra release``) uploads the files before it switches the code, checks that
every name in the package's manifest is in the bucket, and never deletes older hashed
names. Each container therefore names only files that are already uploaded, warm ones
from the previous release included, and a rollback finds its files still there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3ManifestStaticStorage

MANIFEST_NAME = "staticfiles.json"


class PackagedManifestStaticStorage(S3ManifestStaticStorage):
    """``S3ManifestStaticStorage`` whose manifest is ``<manifest_location>/staticfiles.json``
    on local disk (the package), never the bucket's copy.

    ``manifest_location`` is required; a package without a manifest is refused at the
    first ``{% static %}`` with a message saying how to build one, rather than answering
    500 for every page with a missing-entry error.
    """

    manifest_name = MANIFEST_NAME

    def __init__(self, *, manifest_location: str | Path, **options: Any) -> None:
        manifest = Path(manifest_location) / MANIFEST_NAME
        if not manifest.is_file():
            raise ImproperlyConfigured(
                f"No static manifest at {manifest}: the package must carry the manifest of "
                "its own release. Build it with `make package` or `manage.py infra release`."
            )
        super().__init__(
            manifest_storage=FileSystemStorage(location=str(manifest_location)), **options
        )
