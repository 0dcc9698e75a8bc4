"""The pure floor's Lambda handler: the smallest correct API Gateway REST (v1 proxy) →
WSGI adapter in front of bare Django, with no boto3 and no Zappa (bench/pure_floor.py).

Copied into the floor's package as ``floor_handler.py``; the bench never imports it
itself. It does what any adapter must and nothing more: the WSGI environ from the event
(method, path, query string with repeated keys, headers, body, base64 when API Gateway
says so), Django's WSGI application built at import like any WSGI server would, and the
answer as API Gateway expects it (``multiValueHeaders`` so every ``Set-Cookie`` survives,
a base64 body unless the type is text).
"""

import base64
import os
import sys
from io import BytesIO
from urllib.parse import unquote, urlencode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

_TEXT = ("text/", "application/json", "application/javascript", "application/xml")


def _environ(event):
    headers = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(values)
    for name, value in (event.get("headers") or {}).items():
        headers.setdefault(name.lower(), value)
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    query = event.get("multiValueQueryStringParameters") or {}
    environ = {
        "REQUEST_METHOD": event["httpMethod"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(event["path"], encoding="latin-1"),
        "QUERY_STRING": urlencode(query, doseq=True),
        "SERVER_NAME": headers.get("host", "lambda"),
        "SERVER_PORT": headers.get("x-forwarded-port", "443"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": event.get("requestContext", {}).get("identity", {}).get("sourceIp", ""),
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": headers.get("x-forwarded-proto", "https"),
        "wsgi.input": BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if "content-type" in headers:
        environ["CONTENT_TYPE"] = headers["content-type"]
    for name, value in headers.items():
        if name not in ("content-type", "content-length"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def lambda_handler(event, context):
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split(" ", 1)[0])
        answer["headers"] = response_headers

    result = application(_environ(event), start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    multi = {}
    for name, value in answer["headers"]:
        multi.setdefault(name, []).append(value)
    content_type = next(iter(multi.get("Content-Type", [""])))
    text = content_type.startswith(_TEXT) and "Content-Encoding" not in multi
    return {
        "statusCode": answer["status"],
        "multiValueHeaders": multi,
        "body": body.decode() if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }
