"""AWS: one Lambda behind API Gateway (Zappa), backends on AWS services.

Every value Nimbus needs is required here with no default, so a missing output of the
infra stack fails the cold start with a message naming it, not the first request.
"""

from __future__ import annotations

from typing import Any

from project.env import BASE_DIR, env, require
from project.secrets import load_aws_configuration

# On AWS the Lambda environment holds pointers (NIMBUS_PARAMETERS_PATH, NIMBUS_SECRETS_ARN);
# the values themselves (SECRET_KEY, DATABASE_URL, ...) come from SSM / Secrets Manager,
# loaded before base.py reads the environment.
load_aws_configuration()

from project.settings.base import *  # noqa: E402, F403

_required = require(
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "NIMBUS_STAGE",
    "NIMBUS_SITE_URL",
    "AWS_REGION",
)

DEBUG = False
SECRET_KEY = _required["SECRET_KEY"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
NIMBUS_STAGE = _required["NIMBUS_STAGE"]
NIMBUS_SITE_URL = _required["NIMBUS_SITE_URL"]
AWS_REGION = _required["AWS_REGION"]
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

# API Gateway and CloudFront terminate TLS and forward the original scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 63072000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = [NIMBUS_SITE_URL]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Operator mail (alarms, audit) and people's e-mails about their files (approved, rejected:
# apps/push/mail.py) go through Amazon SES's SMTP interface; sign-up and reset codes are
# sent by Cognito itself.
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": env.str("EMAIL_HOST", default=f"email-smtp.{AWS_REGION}.amazonaws.com"),
            "port": 587,
            "use_tls": True,
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": env.str("EMAIL_HOST_PASSWORD", default=""),
            # A mail server that does not answer fails the send (retried), rather than
            # holding the function until Lambda's own timeout.
            "timeout": 10,
        },
    }
}

# Live push: API Gateway WebSocket; connection registry in DynamoDB (infra stack outputs).
_push = require("PUSH_CONNECTIONS_TABLE", "WEBSOCKET_API_ENDPOINT")
NIMBUS_PUSH = {
    "default": {
        "BACKEND": "apps.push.backends.aws.ApiGatewayPushBackend",
        "OPTIONS": {
            "table": _push["PUSH_CONNECTIONS_TABLE"],
            "endpoint_url": _push["WEBSOCKET_API_ENDPOINT"],
            # wss://ws.<domain> when the stack has the WebSocket's custom domain.
            "websocket_url": env.str("NIMBUS_WEBSOCKET_URL", default=""),
            "region_name": AWS_REGION,
        },
    }
}

# Uploads: presigned POSTs and multipart parts straight to the private uploads bucket;
# Django reads and deletes through django-storages (private ACL, never overwriting).
_uploads = require("NIMBUS_UPLOADS_BUCKET")
NIMBUS_UPLOADS = {
    "default": {
        "BACKEND": "apps.files.backends.aws.S3UploadBackend",
        "OPTIONS": {
            **NIMBUS_UPLOAD_POLICY,
            "bucket_name": _uploads["NIMBUS_UPLOADS_BUCKET"],
            "region_name": AWS_REGION,
        },
    }
}
_s3_storage: dict[str, Any] = {
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {
        "bucket_name": _uploads["NIMBUS_UPLOADS_BUCKET"],
        "region_name": AWS_REGION,
        "default_acl": "private",
        "file_overwrite": False,
        "querystring_auth": True,
        "querystring_expire": 60,
    },
}
STORAGES = {**STORAGES, "default": _s3_storage}

# Events (apps.events): the outbox goes to the stage's EventBridge bus; one rule per receiver
# routes to its group's queue <EVENTS_QUEUE_URL_PREFIX><group> (DLQ: ...<group>-dlq), read
# by this function. Django Tasks go to the tasks queue and come back the same way.
_events = require("EVENT_BUS_NAME", "EVENTS_QUEUE_URL_PREFIX", "TASKS_QUEUE_URL")
NIMBUS_EVENTS = {
    "default": {
        "BACKEND": "apps.events.backends.aws.EventBridgeBus",
        "OPTIONS": {"bus_name": _events["EVENT_BUS_NAME"], "region_name": AWS_REGION},
    }
}
NIMBUS_EVENTS_QUEUE_URL_PREFIX = _events["EVENTS_QUEUE_URL_PREFIX"]
TASKS = {
    "default": {
        "BACKEND": "apps.events.backends.tasks_sqs.SQSTaskBackend",
        "QUEUES": ["default", "events", "workflows"],
        "OPTIONS": {"queue_url": _events["TASKS_QUEUE_URL"], "region_name": AWS_REGION},
    }
}

# Static files: hashed names in the static bucket, served by CloudFront under /static/
# (`python manage.py infra release <stage>` uploads them from a checkout before it switches
# the code). Their manifest is the one the package carries (project/static_storage.py), so
# the running code names only files its own release uploaded.
# Daphne is the local ASGI server only; the Lambda package leaves it out.
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "daphne"]
_static = require("NIMBUS_STATIC_BUCKET")
STATIC_URL = NIMBUS_SITE_URL.rstrip("/") + "/static/"
_static_storage: dict[str, Any] = {
    "BACKEND": "project.static_storage.PackagedManifestStaticStorage",
    "OPTIONS": {
        "manifest_location": str(BASE_DIR),
        "bucket_name": _static["NIMBUS_STATIC_BUCKET"],
        "location": "static",
        "custom_domain": NIMBUS_SITE_URL.split("://", 1)[-1].rstrip("/"),
        "querystring_auth": False,
        "default_acl": None,
        "file_overwrite": True,
    },
}
STORAGES = {**STORAGES, "staticfiles": _static_storage}

# Identity: the Cognito user pool and its public app client (infra stack outputs). The
# verifier trusts only this issuer and the keys at this JWKS URL.
_cognito = require(
    "COGNITO_USER_POOL_ID",
    "COGNITO_CLIENT_ID",
    "COGNITO_REGION",
    "COGNITO_ISSUER",
    "COGNITO_JWKS_URL",
)
NIMBUS_IDENTITY = {
    "default": {
        "BACKEND": "apps.users.backends.aws.CognitoIdentityBackend",
        "OPTIONS": {
            "user_pool_id": _cognito["COGNITO_USER_POOL_ID"],
            "client_id": _cognito["COGNITO_CLIENT_ID"],
            "region_name": _cognito["COGNITO_REGION"],
            "issuer": _cognito["COGNITO_ISSUER"],
            "jwks_url": _cognito["COGNITO_JWKS_URL"],
            "hosted_ui_domain": env.str("COGNITO_HOSTED_UI_DOMAIN", default=""),
            # The federated IdPs the stack put on the pool ("Sign in with ..." buttons).
            "identity_providers": env.list("COGNITO_IDENTITY_PROVIDERS", default=[]),
        },
    }
}


# --- operations and hardening ---------------------------------------------------------------
# Metrics as CloudWatch EMF lines (project.telemetry); X-Ray traces of requests, SQL and
# templates, only when running on Lambda (nothing is patched anywhere else). boto3,
# botocore and requests are patched by project.backends.aws_session when an invocation
# first talks to AWS: patching them here would import boto3 on every cold start.
NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.EmfMetrics"}}
if env.str("AWS_LAMBDA_FUNCTION_NAME", default="") and env.bool("NIMBUS_TRACING", default=True):
    # Nimbus's own app and middleware (project/xray.py): the SDK's import all of django.test.
    INSTALLED_APPS = [*INSTALLED_APPS, "project.xray.TracingConfig"]
    MIDDLEWARE = ["project.xray.XRayMiddleware", *MIDDLEWARE]
    XRAY_RECORDER = {
        "AWS_XRAY_TRACING_NAME": f"nimbus-{NIMBUS_STAGE}",
        "AUTO_INSTRUMENT": True,
        "PATCH_MODULES": [],
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "STREAM_SQL": False,  # query text stays out of traces
    }

# The browser also talks to the upload bucket (presigned POST) and the WebSocket API.
_csp_origins = [
    f"https://{bucket}.s3.{AWS_REGION}.amazonaws.com"
    for bucket in [env.str("NIMBUS_UPLOADS_BUCKET", default="")]
    if bucket
]
# The management endpoint's host and the one pages connect to (the custom domain's).
_csp_origins += dict.fromkeys(
    "wss://" + url.split("://", 1)[-1].split("/", 1)[0]
    for url in (
        env.str("WEBSOCKET_API_ENDPOINT", default=""),
        env.str("NIMBUS_WEBSOCKET_URL", default=""),
    )
    if url
)
SECURE_CSP = {
    **SECURE_CSP,
    "connect-src": [*SECURE_CSP["connect-src"], *_csp_origins],
    "form-action": [*SECURE_CSP["form-action"], *_csp_origins[:1]],
    "img-src": [*SECURE_CSP["img-src"], *_csp_origins[:1]],
}
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"

# Encrypted model fields: data keys from KMS (the stack's key; rotation keeps old values).
NIMBUS_FIELD_ENCRYPTION = {
    "default": {
        "BACKEND": "project.crypto.KmsKeyring",
        "OPTIONS": {"key_id": require("NIMBUS_KMS_KEY_ARN")["NIMBUS_KMS_KEY_ARN"]},
    }
}

# Workflows (apps.workflows): Step Functions Standard; a machine's ARN is the stack's
# prefix + the workflow name (file_review -> ...:stateMachine:nimbus-prod-file-review).
_workflows = require("NIMBUS_STATE_MACHINE_PREFIX")
NIMBUS_WORKFLOWS = {
    "default": {
        "BACKEND": "apps.workflows.backends.aws.StepFunctionsWorkflowBackend",
        "OPTIONS": {
            "state_machine_prefix": _workflows["NIMBUS_STATE_MACHINE_PREFIX"],
            "region_name": AWS_REGION,
        },
    }
}

# One cache every Lambda container shares (sign-in and upload rate limits, throttles):
# a database table, made by `migrate` (project/apps.py runs createcachetable after it).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "nimbus_cache",
    }
}
