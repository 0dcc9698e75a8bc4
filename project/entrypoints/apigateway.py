"""API Gateway HTTP events (REST v1 proxy, HTTP API v2) → Django's WSGI handler.

Nimbus answers HTTP invocations here rather than in Zappa's handler because
``zappa.handler`` imports ``zappa.utilities``, which imports boto3 and botocore at module
level: about a quarter of a second of every cold start, for requests that never call AWS.
Zappa still builds and deploys the function and still serves ``zappa manage``/``invoke``
(:mod:`project.entrypoints`); this module only turns an HTTP event into a WSGI environ and
the response into what API Gateway expects.

It follows Zappa 0.63's HTTP handling, setting for setting as ``zappa_settings.json``
configures it (``binary_support: true``, no ``base_path``, ``domain``,
``context_header_mappings`` or extra text mimetypes: ``manage.py check`` refuses a settings
file that sets them), and ``tests/project/test_lambda_http.py`` feeds the same events
through both and requires the same answers:

* ``SCRIPT_NAME`` is the stage when the request came by the ``execute-api`` host (REST) or
  its raw path starts with the stage (HTTP API), so Django builds URLs under ``/<stage>/``;
* ``REMOTE_ADDR`` is the second-to-last ``X-Forwarded-For`` address (CloudFront → API
  Gateway: the last is CloudFront's, the one before it the client's) — with one
  hardening Zappa lacks: when ``NIMBUS_ORIGIN_SECRET`` is set (the stack sets it, and
  CloudFront sends it in ``X-Nimbus-Origin``), a request without the right value did not
  come through CloudFront, and its ``X-Forwarded-For`` could be forged; its address is
  then API Gateway's own view of the caller (``sourceIp``). The header itself never
  reaches Django;
* a body is base64-encoded in the response unless its type is text (or it carries a
  ``Content-Encoding``); REST responses carry ``headers`` and ``multiValueHeaders`` (the
  ``Set-Cookie`` name lower-cased, as Zappa does so that API Gateway keeps every cookie);
  HTTP API responses carry ``cookies`` and comma-joined ``headers``.

Besides that hardening, one difference is deliberate: each cookie is sent once. Zappa
0.63's middleware keeps the original ``Set-Cookie`` beside its lower-cased copy, so every
cookie goes out twice (four times in ``multiValueHeaders``). API Gateway's
``stageVariables`` are not copied into ``os.environ`` either: Nimbus's stack defines none,
and configuration comes from :mod:`project.secrets`.
"""

from __future__ import annotations

import base64
import hmac
import logging
import sys
import time
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlencode

logger = logging.getLogger("nimbus.request")

#: Response types sent as text; everything else goes base64-encoded (Zappa's list).
TEXT_MIMETYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/ecmascript",
    "application/xml",
    "application/xml-external-parsed-entity",
    "application/xml-dtd",
    "image/svg+xml",
)
#: Zappa settings that change its HTTP handling, with the only value this adapter
#: implements (None: unset). ``manage.py check`` refuses a zappa_settings.json that sets
#: them otherwise (:func:`project.checks.check_zappa_settings`).
ZAPPA_HTTP_SETTINGS: dict[str, Any] = {
    "base_path": None,
    "domain": None,
    "context_header_mappings": None,
    "additional_text_mimetypes": None,
    "exception_handler": None,
    "app_function": None,
    "binary_support": True,
}
#: The header CloudFront adds to every request it forwards (title-cased, as headers are).
ORIGIN_HEADER = "X-Nimbus-Origin"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_BASE64_METHODS = {"POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS"}

_INTERNAL_ERROR = (
    b'{"error": {"code": "internal_error", "message": "Something went wrong on our side.", '
    b'"detail": {}}}'
)

_application: Any = None


def application() -> Any:
    """Django's WSGI handler, built once per process (or before a SnapStart snapshot)."""
    global _application
    if _application is None:
        from django.core.handlers.wsgi import WSGIHandler

        _application = WSGIHandler()
    return _application


def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one API Gateway HTTP event (payload 1.0 or 2.0) with Django."""
    handler = application()
    started = time.perf_counter()
    v2 = event.get("version") == "2.0"
    environ = environ_for(event, context)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status
        captured["headers"] = headers
        return lambda chunk: None

    try:
        result = handler(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        # Django turns a view's exception into a 500 itself; this is a failure around it
        # (a streaming body that raised, a broken signal receiver). Logged with the
        # invocation's ids, answered in the API's error shape rather than as a 502.
        logger.exception("Unhandled error serving %s", environ["PATH_INFO"])
        captured["status"] = "500 Internal Server Error"
        captured["headers"] = [("Content-Type", "application/json")]
        content = _INTERNAL_ERROR
    status = int(captured["status"].split(" ", 1)[0])
    headers = _cookies_last(captured["headers"])
    logger.info(
        "%s %s %s",
        environ["REQUEST_METHOD"],
        environ["SCRIPT_NAME"] + environ["PATH_INFO"],
        status,
        extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    body, is_base64 = _encode_body(content, headers)
    if v2:
        return _v2_response(status, headers, body, is_base64)
    response = _v1_response(event, status, headers, body, is_base64)
    if "elb" in (event.get("requestContext") or {}):
        # An Application Load Balancer wants both keys on every answer.
        response.setdefault("isBase64Encoded", False)
        response["statusDescription"] = captured["status"]
    return response


def environ_for(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The WSGI environ for an API Gateway event, as Zappa builds it."""
    request_context = event.get("requestContext") or {}
    stage = request_context.get("stage") or ""
    remote_user = None
    if event.get("version") == "2.0":
        method = request_context["http"]["method"]
        headers = {k.title(): v for k, v in (event.get("headers") or {}).items()}
        if event.get("cookies"):
            headers["Cookie"] = "; ".join(event["cookies"])
        path = unquote(event.get("rawPath") or "/")
        if "rawQueryString" in event:
            query = event["rawQueryString"] or ""
        else:
            query = urlencode(event.get("queryStringParameters") or {}, doseq=True)
        authorizer = request_context.get("authorizer")
        if authorizer:
            if authorizer.get("lambda"):
                remote_user = authorizer["lambda"].get("principalId")
            elif authorizer.get("iam"):
                remote_user = authorizer["iam"].get("userArn")
        prefix = f"/{stage}"
        script_name = prefix if stage and (path == prefix or path.startswith(prefix + "/")) else ""
    else:
        method = event["httpMethod"]
        headers = {k.title(): v for k, v in _merged_v1_headers(event).items()}
        path = unquote(event.get("path") or "/")
        if "multiValueQueryStringParameters" in event:
            query = urlencode(event["multiValueQueryStringParameters"] or {}, doseq=True)
        else:
            query = urlencode(event.get("queryStringParameters") or {})
        authorizer = request_context.get("authorizer")
        if authorizer:
            remote_user = authorizer.get("principalId")
        elif request_context.get("identity"):
            remote_user = request_context["identity"].get("userArn")
        host = (event.get("headers") or {}).get("Host")
        script_name = f"/{stage}" if stage and (not host or "amazonaws.com" in host) else ""
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]

    body = event.get("body") or b""
    if event.get("isBase64Encoded") and method in _BASE64_METHODS:
        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = body.encode()

    environ: dict[str, Any] = {
        "PATH_INFO": _wsgi_str(path),
        "QUERY_STRING": _wsgi_str(query),
        "REMOTE_ADDR": _client_address(headers, request_context),
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": _wsgi_str(script_name),
        "SERVER_NAME": "zappa",
        "SERVER_PORT": headers.get("X-Forwarded-Port", "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTPS": "on",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multiprocess": False,
        "wsgi.multithread": False,
        "wsgi.run_once": False,
        "lambda.context": context,
        "lambda.event": event,
    }
    if authorizer:
        environ["API_GATEWAY_AUTHORIZER"] = authorizer
    if remote_user:
        environ["REMOTE_USER"] = remote_user
    if method in _BODY_METHODS:
        if "Content-Type" in headers:
            environ["CONTENT_TYPE"] = headers["Content-Type"]
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = str(value)
    return environ


def _client_address(headers: dict[str, str], request_context: dict[str, Any]) -> str:
    """Who is asking; removes ``X-Nimbus-Origin`` from ``headers`` (see the module doc)."""
    from django.conf import settings

    proof = headers.pop(ORIGIN_HEADER, "")
    forwarded = [a.strip() for a in headers.get("X-Forwarded-For", "").split(",") if a.strip()]
    secret = getattr(settings, "NIMBUS_ORIGIN_SECRET", "")
    if secret and not hmac.compare_digest(proof.encode(), secret.encode()):
        peer = (request_context.get("identity") or request_context.get("http") or {}).get(
            "sourceIp"
        )
        return str(peer or (forwarded[-1] if forwarded else "127.0.0.1"))
    if len(forwarded) > 1:
        return forwarded[-2]
    return forwarded[0] if forwarded else "127.0.0.1"


def _merged_v1_headers(event: dict[str, Any]) -> dict[str, str]:
    """``headers`` and ``multiValueHeaders`` as one dict (cookies joined with ``; ``)."""
    multi = dict(event.get("multiValueHeaders") or {})
    for name, value in (event.get("headers") or {}).items():
        multi.setdefault(name, [value])
    return {
        name: ("; " if name.lower() == "cookie" else ", ").join(values)
        for name, values in multi.items()
    }


def _wsgi_str(value: str) -> str:
    """PEP 3333: environ strings carry the UTF-8 bytes as latin-1 code points."""
    return value.encode().decode("iso-8859-1")


def _cookies_last(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    cookies = [("set-cookie", v) for k, v in headers if k.lower() == "set-cookie"]
    return [(k, v) for k, v in headers if k.lower() != "set-cookie"] + cookies


def _encode_body(content: bytes, headers: list[tuple[str, str]]) -> tuple[str | None, bool]:
    if not content:
        return None, False
    lowered = {k.lower(): v for k, v in headers}
    mimetype = lowered.get("content-type", "text/plain").split(";", 1)[0].strip().lower()
    if lowered.get("content-encoding") or not mimetype.startswith(TEXT_MIMETYPES):
        return base64.b64encode(content).decode("ascii"), True
    return content.decode(), False


def _v1_response(
    event: dict[str, Any],
    status: int,
    headers: list[tuple[str, str]],
    body: str | None,
    is_base64: bool,
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if body is not None:
        response["body"] = body
        if is_base64:
            response["isBase64Encoded"] = True
    response["statusCode"] = status
    if "headers" in event:
        response["headers"] = dict(headers)
    if "multiValueHeaders" in event:
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            multi.setdefault(name, []).append(value)
        response["multiValueHeaders"] = multi
    return response


def _v2_response(
    status: int, headers: list[tuple[str, str]], body: str | None, is_base64: bool
) -> dict[str, Any]:
    cookies: list[str] = []
    joined: dict[str, str] = {}
    for name, value in headers:
        if name == "set-cookie":
            cookies.append(value)
        elif name in joined:
            joined[name] = f"{joined[name]},{value}"
        else:
            joined[name] = value
    return {
        "cookies": cookies,
        "isBase64Encoded": is_base64,
        "statusCode": status,
        "headers": joined,
        "body": body,
    }
