"""The browser test run: `make run`'s embedded stack, isolated in a temporary directory.

tests/browser/conftest.py starts the ASGI server and the worker with these settings. Both
processes share one SQLite file (``DATABASE_URL``), one media directory, one mailbox
directory the tests read confirmation codes from (``NIMBUS_MAIL_DIR``), and a Redis channel
layer (``REDIS_URL``) so pushes sent by the worker reach the server's WebSockets. As with
`make run`, the server builds its URLs from each request and only the worker is given the
address (``NIMBUS_SITE_URL``).

``DEBUG`` is off, as in production, so people's error pages (templates/404.html …) are the
ones the tests see; the server serves static files from the finders (``runserver
--insecure``) and the storage needs no collected manifest.
"""

from __future__ import annotations

from project.env import env
from project.settings.local import *  # noqa: F403

MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": env.str("NIMBUS_MAIL_DIR")},
    }
}
# Quick retries: a test waits for the worker, not for production backoff.
NIMBUS_TASK_RETRY = {"max_attempts": 3, "base_delay": 0.2, "max_delay": 1.0}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
