"""Settings of the bench's local-throughput runs: the embedded defaults on a SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

from project.settings.local import *  # noqa: F403

DEBUG = False
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["NIMBUS_BENCH_DB"],
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
NIMBUS_WORKFLOW_DIRS = [str(Path(__file__).resolve().parent / "definitions")]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
