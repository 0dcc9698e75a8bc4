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
        # As project/settings/base.py sets them for every local SQLite database: WAL (the
        # web server and the worker share the file), fsync at checkpoints only.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
if os.environ.get("NIMBUS_BENCH_DATABASE_URL"):  # the same figures on PostgreSQL
    from project.env import env

    DATABASES = {"default": env.db("NIMBUS_BENCH_DATABASE_URL")}
NIMBUS_WORKFLOW_DIRS = [str(Path(__file__).resolve().parent / "definitions")]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
