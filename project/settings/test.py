"""The test suite: SQLite by default, PostgreSQL when DATABASE_URL is set."""

from __future__ import annotations

import os

from project.settings.base import *  # noqa: F403

# Tests never reach a developer's AWS profile or the network.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

SECRET_KEY = "nimbus-tests-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
NIMBUS_SITE_URL = "http://testserver"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "events", "workflows"],
    }
}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
NIMBUS_TASK_RETRY = {"max_attempts": 3, "base_delay": 0.0, "max_delay": 0.0}

# A fresh identity signing key per test session.
from apps.users.keys import signing_key_generate  # noqa: E402

NIMBUS_IDENTITY = {
    "default": {
        "BACKEND": "apps.users.backends.local.LocalIdentityBackend",
        "OPTIONS": {"signing_key": signing_key_generate()},
    }
}
# Metrics stay in memory (no database row per call from tests that have no database).
NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.MemoryMetrics"}}
# No sample per test request (tests that count samples would count their own requests).
NIMBUS_REQUEST_METRICS = False
# Request rate limits count across the whole session otherwise; tests/project enables them.
NIMBUS_THROTTLES: list[dict[str, object]] = []
