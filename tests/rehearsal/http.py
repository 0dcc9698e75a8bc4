"""API Gateway REST (v1) events for the rehearsal, as CloudFront → API Gateway deliver them."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from tests.rehearsal.lambda_service import LambdaService
from tests.rehearsal.world import ACCOUNT, SITE_DOMAIN


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """A client of the site through CloudFront (``X-Nimbus-Origin``) and the REST API."""

    lam: LambdaService
    origin_secret: str
    token: str = ""
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        merged = {
            "Host": SITE_DOMAIN,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "X-Forwarded-For": "203.0.113.10, 130.176.0.1",
            "User-Agent": "rehearsal",
            "Accept": "application/json",
            "X-Nimbus-Origin": self.origin_secret,
            "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        }
        body = None
        if form is not None:
            body = urlencode(form)
            merged["Content-Type"] = "application/x-www-form-urlencoded"
            merged["Origin"] = f"https://{SITE_DOMAIN}"
            merged["Accept"] = "text/html"
        if json_body is not None:
            body = json.dumps(json_body)
            merged["Content-Type"] = "application/json"
        if self.token:
            merged["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            merged["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        merged.update(headers or {})
        event = {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": merged,
            "multiValueHeaders": {k: [v] for k, v in merged.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": f"/dev{path}",
                "accountId": ACCOUNT,
                "protocol": "HTTP/1.1",
                "stage": "dev",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": "130.176.0.1", "userAgent": "Amazon CloudFront"},
                "domainName": "rehearsal.execute-api.us-east-1.amazonaws.com",
                "apiId": "rehearsal",
            },
            "body": body,
            "isBase64Encoded": False,
        }
        result = self.lam.invoke(event)
        headers_out = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name.lower() == "set-cookie":
                for value in values:
                    cookie = SimpleCookie(value)
                    self.cookies.update({k: m.value for k, m in cookie.items()})
            else:
                headers_out.setdefault(name.lower(), values[-1])
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        if result["statusCode"] >= 500:  # never expected: say why, from the function's log
            raise AssertionError(
                f"{method} {path} answered {result['statusCode']}: {self.lam.last_error()}"
            )
        return Response(result["statusCode"], headers_out, data)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def submit(self, path: str, fields: dict[str, str]) -> Response:
        """A page's form, as a browser posts it (the CSRF token from the page's cookie)."""
        if "csrftoken" not in self.cookies:
            page = self.get(path, headers={"Accept": "text/html"})
            assert page.status == 200, (path, page.status, page.body[:500])
        return self.request(
            "POST", path, form={"csrfmiddlewaretoken": self.cookies["csrftoken"], **fields}
        )

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, json_body=body if body is not None else {}, **kwargs)


def websocket_event(world, route: str, connection_id: str, **extra) -> dict[str, Any]:
    """An API Gateway WebSocket route event for the stack's WebSocket API."""
    kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT", "$default": "MESSAGE"}
    domain = f"{world.websocket_api_id}.execute-api.us-east-1.amazonaws.com"
    return {
        "headers": {"Host": domain, "Origin": "https://d111111abcdef8.cloudfront.net"},
        "multiValueHeaders": {"Host": [domain]},
        "queryStringParameters": extra.pop("query", None),
        "requestContext": {
            "routeKey": route,
            "eventType": kinds[route],
            "messageDirection": "IN",
            "stage": "dev",
            "connectedAt": 1795770000000,
            "requestTimeEpoch": 1795770000123,
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "Mozilla/5.0"},
            "requestId": uuid.uuid4().hex,
            "domainName": domain,
            "connectionId": connection_id,
            "apiId": world.websocket_api_id,
        },
        "body": extra.pop("body", None),
        "isBase64Encoded": False,
    }
