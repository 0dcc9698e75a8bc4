"""Settings of `make load`: `make run`'s embedded stack in a temporary directory.

The same local backends as `make run` (SQLite in WAL mode, local storage, the database
task queue and bus, the push relay), with what a load run needs on top: the sign-up codes
go to a mail directory the simulated people read (``NIMBUS_MAIL_DIR``), as in the browser
tests, and the per-address throttles are left out, because every simulated person comes
from 127.0.0.1 (the per-account and per-caller limits stay).
"""

from __future__ import annotations

from project.env import env
from project.settings.local import *  # noqa: F403
from project.throttling import DEFAULT_THROTTLES

DEBUG = False
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": env.str("NIMBUS_MAIL_DIR")},
    }
}
NIMBUS_THROTTLES = [
    {key: value for key, value in rule.items() if key != "per_ip"} for rule in DEFAULT_THROTTLES
]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
