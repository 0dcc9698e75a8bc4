"""Settings shared by every Nimbus environment.

Each capability picks its implementation through an alias dict shaped like Django's
``STORAGES``/``CACHES``/``TASKS``: ``{"default": {"BACKEND": "dotted.Path", "OPTIONS": {}}}``.
The defaults here are the embedded (local) backends; ``production.py`` swaps in AWS ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from django.utils.csp import CSP

from project.env import BASE_DIR, env


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name} is not installed (requirements.txt).")
    return Path(next(iter(spec.submodule_search_locations)))


SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = False
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])
# On AWS, CloudFront sends this value in X-Nimbus-Origin with every request it forwards;
# only such requests have their client address taken from X-Forwarded-For
# (project/entrypoints/apigateway.py). Empty: no CloudFront in front (local, tests).
NIMBUS_ORIGIN_SECRET = env.str("NIMBUS_ORIGIN_SECRET", default="")

NIMBUS_STAGE = env.str("NIMBUS_STAGE", default="local")
# The site's public origin (https://files.example.com). Set, it pins every absolute URL
# Nimbus hands out; empty, they follow the request's own origin (project/site.py).
# Production requires it: behind CloudFront the request's Host is API Gateway's.
NIMBUS_SITE_URL = env.str("NIMBUS_SITE_URL", default="")

INSTALLED_APPS = [
    "daphne",  # ASGI runserver (HTTP + WebSocket) for `make run`
    "project.admin_apps.NimbusAdminConfig",  # django.contrib.admin, operators only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks_db",
    "project",
    "apps.users",
    "apps.files",
    "apps.events",
    "apps.workflows",
    "apps.push",
]

MIDDLEWARE = [
    "project.middleware.RequestIdMiddleware",
    "project.telemetry.RequestDurationMiddleware",  # the admin's latency chart: NIMBUS_REQUEST_METRICS
    "project.requestbody.BodyGuardMiddleware",  # size caps, JSON depth: NIMBUS_BODY_LIMITS
    "project.site.SiteUrlMiddleware",  # absolute URLs on the request's origin (project/site.py)
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "project.telemetry.UserContextMiddleware",
    "project.throttling.ThrottleMiddleware",  # sign-up, codes, upload start: NIMBUS_THROTTLES
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "apps.push.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'nimbus.sqlite3'}")
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = env.str("STATIC_URL", default="/static/")
# `make package` collects into a temporary STATIC_ROOT to compute the package's manifest.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS: list[Any] = [
    BASE_DIR / "static",
    # django-ninja's bundled Swagger UI for /api/docs (project/api.py): served as our own
    # static files, since SECURE_CSP refuses its CDN. Found without importing ninja, which
    # stays off the cold-start path of pages.
    ("ninja", _package_dir("ninja") / "static" / "ninja"),
]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# Background work runs on Django's Tasks framework; locally a database-backed queue
# drained by `manage.py worker` (started by `make run`).
TASKS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "events", "workflows"],
    }
}
# Retries for tasks declared with project.tasks.background().
NIMBUS_TASK_RETRY = {"max_attempts": 5, "base_delay": 2.0, "max_delay": 300.0}
# A local worker's lease (renewed every third of it while it lives); task rows a killed
# worker left running are recovered once it lapses, checked every recover_seconds.
NIMBUS_TASK_LEASE = {"lease_seconds": 60.0, "recover_seconds": 15.0}

# Event bus (apps.events): the transactional outbox is delivered by the local DB bus here,
# by EventBridge in production. Retry/lease options: apps/events/backends/local.py.
NIMBUS_EVENTS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "apps.events.backends.local.LocalBus", "OPTIONS": {}}
}

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}
if env.str("REDIS_URL", default=""):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "OPTIONS": {"hosts": [env.str("REDIS_URL")]},
        }
    }

# Live push to browsers: Channels locally. Without Redis the in-memory layer lives in the
# server process only, so pushes from `manage.py worker` are relayed through the database.
NIMBUS_PUSH: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
        "OPTIONS": {"relay": not env.str("REDIS_URL", default="")},
    }
}

# Confirmation and reset codes of the local identity provider go out through Django's mail.
MAILERS = {
    "default": {
        "BACKEND": env.str(
            "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
        )
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nimbus <no-reply@nimbus.localhost>")

LOGIN_URL = "/accounts/signin/"
LOGIN_REDIRECT_URL = "/files/"
LOGOUT_REDIRECT_URL = "/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "project.logging.RequestIdFilter"},
        # Tokens, passwords, secrets and file contents never reach a log line.
        "redact": {"()": "project.telemetry.RedactingFilter"},
    },
    "formatters": {"json": {"()": "project.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

# Commands the Lambda entry lets `zappa manage`/`zappa invoke` run; anything else is refused.
NIMBUS_LAMBDA_COMMANDS = [
    "migrate",
    "collectstatic",
    "check",
    "showmigrations",
    "clearsessions",
    "createcachetable",
    "operators",  # grant/revoke/list: how a stage gets its first operator (DEPLOY.md)
]
# Dotted functions `zappa invoke <stage> <function>` may call (none by default).
NIMBUS_LAMBDA_FUNCTIONS: list[str] = []

# Which handler the Lambda entry calls for each kind of event (project.entrypoints.shapes).
NIMBUS_LAMBDA_ROUTES: dict[str, str] = {
    "sqs": "apps.events.entry.handle_sqs",
    "eventbridge": "apps.events.entry.handle_eventbridge",
    "schedule": "apps.events.entry.handle_schedule",
    "workflow_step": "apps.workflows.entry.handle_step",
    "websocket": "apps.push.entry.handle_websocket",
    "cognito_trigger": "apps.users.entry.handle_cognito_trigger",
}

# Identity: the local provider (accounts in the database, RS256 JWTs shaped like Cognito's,
# JWKS at <site>/identity/.well-known/jwks.json). local.py generates the signing
# key once into var/; production.py selects Cognito.
NIMBUS_IDENTITY: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "apps.users.backends.local.LocalIdentityBackend",
        "OPTIONS": {"signing_key": env.str("NIMBUS_IDENTITY_SIGNING_KEY", default="")},
    }
}

# Direct uploads (apps.files): the browser sends bytes straight to storage under this
# policy. Locally Django's signed URLs play S3's part; production.py selects S3.
# Only what the environment sets: the defaults are the backends' own, in one place
# (apps.files.backends.base.UploadBackend.default_options).
_UPLOAD_ENV = {
    "max_bytes": ("NIMBUS_UPLOAD_MAX_BYTES", env.int),
    # S3's multipart ceiling is far higher; see DEPLOY.md "Limits" before raising this.
    "multipart_max_bytes": ("NIMBUS_UPLOAD_MULTIPART_MAX_BYTES", env.int),
    "allowed_types": ("NIMBUS_UPLOAD_TYPES", env.list),
    "quota_bytes": ("NIMBUS_UPLOAD_QUOTA_BYTES", env.int),
}
NIMBUS_UPLOAD_POLICY: dict[str, Any] = {
    option: read(variable)
    for option, (variable, read) in _UPLOAD_ENV.items()
    if env(variable, default="")
}
NIMBUS_UPLOADS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "apps.files.backends.local.LocalUploadBackend",
        "OPTIONS": dict(NIMBUS_UPLOAD_POLICY),
    }
}

# Workflows (apps.workflows): the durable local ASL engine; Step Functions on AWS
# (apps.workflows.backends.aws.StepFunctionsWorkflowBackend).
NIMBUS_WORKFLOWS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "apps.workflows.backends.local.LocalWorkflowBackend"}
}
# Signed callback URLs of waiting tasks expire after this many seconds at most.
NIMBUS_WORKFLOWS_CALLBACK_MAX_AGE = 7 * 24 * 3600
# file_review: accepted files over this size or of these types wait for an operator.
NIMBUS_REVIEW: dict[str, Any] = {
    "approval_over_bytes": env.int("NIMBUS_REVIEW_APPROVAL_OVER_BYTES", default=10 * 1024 * 1024),
    "approval_types": env.list("NIMBUS_REVIEW_APPROVAL_TYPES", default=["application/pdf"]),
}

# Metrics (project.telemetry.metric): a log line + a row for the admin's metrics page
# locally; CloudWatch EMF on AWS (production.py).
NIMBUS_TELEMETRY: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "project.telemetry.LocalMetrics"}
}
NIMBUS_METRICS_RETENTION_HOURS = 72
# Each request's duration as a RequestDuration sample (the admin's p95 latency chart).
# Off in production: API Gateway's Latency metric measures every request there.
NIMBUS_REQUEST_METRICS = env.bool("NIMBUS_REQUEST_METRICS", default=True)
# Notifications (the list a user reads, and live updates' catch-up) older than this go,
# read or not, with the daily `push.prune-notifications` job.
NIMBUS_NOTIFICATION_RETENTION_DAYS = 90

# Content Security Policy (Django's own middleware): scripts only from our origin or with
# the per-request nonce (``{{ csp_nonce }}``), no plugins, no framing, forms post only to
# us. production.py adds the upload bucket and the WebSocket API to connect-src/form-action.
# Inline styles stay allowed (templates use style attributes; no script runs from CSS).
SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Encrypted model fields (project.fields): data keys wrapped by a master key derived from
# SECRET_KEY (+ SECRET_KEY_FALLBACKS, for rotation) locally; by KMS in production.py.
NIMBUS_FIELD_ENCRYPTION: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "project.crypto.LocalKeyring", "OPTIONS": {}}
}
