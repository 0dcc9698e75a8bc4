"""The Lambda box: runs inside a fresh ``python3.13 -I -S -B`` process, like a warm container.

argv: <task dir> <runtime dir> <reply fd> <AWS endpoint>. The unzipped package is first on
``sys.path`` (``/var/task``), the runtime's boto3/botocore/s3transfer last (``/var/runtime``).
Each line on stdin is one invocation, ``{"event": ..., "request_id": ...}``; each answer goes
to the reply pipe as one JSON line: ``{"result": ...}`` or, for an unhandled exception,
``{"errorType", "errorMessage", "stackTrace"}`` as Lambda reports it, plus ``"calls"``: every
AWS API call the invocation made (service, operation, the parameters that name resources).

The box adds two things the code under test cannot see, both at the network's edge:
* a botocore event hook on every session that records each call (``before-parameter-build``)
  — the role check compares them with the function's role in the rendered template;
* "DNS" for the emulated cloud: a request botocore or urllib sends to an AWS host goes to
  the moto server instead (botocore already goes there through ``AWS_ENDPOINT_URL``; the
  WebSocket management endpoint and the Cognito JWKS URL are named explicitly by the
  stack's outputs, so they are redirected here, with the host they were meant for).
Lambda's own variables (``AWS_LAMBDA_FUNCTION_NAME``, ``_X_AMZN_TRACE_ID`` per invocation,
``AWS_XRAY_*``) come from the Lambda service that starts the box.
"""

import json
import os
import sys
import traceback
import uuid

task, runtime, reply_fd, aws_endpoint = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, task)
sys.path.append(runtime)
reply = os.fdopen(reply_fd, "w", buffering=1)

import urllib.request  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import botocore.session  # noqa: E402

RESOURCE_KEYS = (
    "QueueUrl", "TableName", "Bucket", "Key", "CopySource", "stateMachineArn", "executionArn",
    "UserPoolId", "KeyId", "SecretId", "Name", "Names", "Path", "ConnectionId", "GroupName",
    "EventBusName", "taskToken", "Username", "QueueName", "IndexName", "Namespace",
)  # fmt: skip
calls: list[dict] = []


def _summary(value):
    if isinstance(value, str):
        return value if len(value) < 300 else value[:300]
    if isinstance(value, list):
        return [_summary(v) for v in value[:20] if isinstance(v, str)]
    return None


def _record(params, model, **_):
    entry = {
        "service": model.service_model.service_name,
        "signing": model.service_model.signing_name,
        "operation": model.name,
        "params": {k: _summary(params[k]) for k in RESOURCE_KEYS if k in params},
        # Operations the service does not sign (Cognito's public APIs) need no permission.
        "unsigned": getattr(model, "auth_type", None) == "none"
        or "smithy.api#noAuth" in (getattr(model, "auth", None) or []),
    }
    if model.name == "PutEvents":
        entry["params"]["EventBusName"] = sorted(
            {str(e.get("EventBusName", "default")) for e in params.get("Entries", [])}
        )
    calls.append(entry)


def _to_moto(request, **_):
    parts = urlsplit(request.url)
    if parts.hostname in ("127.0.0.1", "localhost"):
        return
    path = parts.path
    if "/@connections/" in path:  # moto serves the management API without the stage
        path = path[path.index("/@connections/") :]
    if calls:
        calls[-1].setdefault("url", request.url)  # the address the call was meant for
    request.url = f"{aws_endpoint}{path}" + (f"?{parts.query}" if parts.query else "")


_original_init = botocore.session.Session.__init__


def _init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.register("before-parameter-build", _record)
    self.register("before-send", _to_moto)


botocore.session.Session.__init__ = _init


class _AwsHostsToMoto(urllib.request.BaseHandler):
    def https_request(self, request):
        parts = urlsplit(request.full_url)
        if (parts.hostname or "").endswith(".amazonaws.com"):
            request.full_url = f"{aws_endpoint}{parts.path}"
        return request


urllib.request.install_opener(urllib.request.build_opener(_AwsHostsToMoto()))


class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
    log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def __init__(self, request_id):
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self):
        return 28_000


handler = None
for line in sys.stdin:
    request = json.loads(line)
    request_id = request.get("request_id") or str(uuid.uuid4())
    # Active tracing: Lambda sets a fresh trace header for every invocation.
    os.environ["_X_AMZN_TRACE_ID"] = (
        f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};"
        f"Parent={uuid.uuid4().hex[:16]};Sampled=1"
    )
    calls.clear()
    try:
        if handler is None:  # the init phase: Lambda imports the handler module once
            from project.entrypoints import lambda_handler as handler
        answer = {"result": handler(request["event"], Context(request_id))}
    except BaseException as exc:
        answer = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc),
        }
    answer["calls"] = list(calls)
    try:
        reply.write(json.dumps(answer, default=str) + "\n")
    except (TypeError, ValueError) as exc:
        reply.write(
            json.dumps({"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}) + "\n"
        )
