"""Views that answer with what they were sent, for the API Gateway adapter's parity test."""

from __future__ import annotations

import gzip
import hashlib

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    meta = request.META
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "path_info": request.path_info,
            "script_name": meta.get("SCRIPT_NAME"),
            "query": {k: request.GET.getlist(k) for k in sorted(request.GET)},
            "remote_addr": meta.get("REMOTE_ADDR"),
            "remote_user": meta.get("REMOTE_USER"),
            "authorizer": meta.get("API_GATEWAY_AUTHORIZER"),
            "content_type": meta.get("CONTENT_TYPE"),
            "content_length": meta.get("CONTENT_LENGTH"),
            "body_sha256": hashlib.sha256(request.body).hexdigest(),
            "post": {k: request.POST.getlist(k) for k in sorted(request.POST)},
            "cookies": dict(sorted(request.COOKIES.items())),
            "absolute": request.build_absolute_uri(),
            "secure": request.is_secure(),
            "reverse": reverse("echo"),
            "headers": dict(sorted(request.headers.items())),
        }
    )


def binary(request: HttpRequest) -> HttpResponse:
    return HttpResponse(bytes(range(256)), content_type="application/octet-stream")


def gzipped(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(gzip.compress(b"hello", mtime=0), content_type="text/plain")
    response["Content-Encoding"] = "gzip"
    return response


def svg(request: HttpRequest) -> HttpResponse:
    return HttpResponse('<svg xmlns="http://www.w3.org/2000/svg"/>', content_type="image/svg+xml")


def text(request: HttpRequest) -> HttpResponse:
    return HttpResponse("héllo ✓", content_type="text/plain; charset=utf-8")


def cookies(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("ok", content_type="text/plain")
    response.set_cookie("first", "1", secure=True, httponly=True, samesite="Lax")
    response.set_cookie("second", "2", expires="Thu, 01 Jan 2099 00:00:00 GMT", path="/")
    response["Cache-Control"] = "no-store"
    return response


def moved(request: HttpRequest) -> HttpResponse:
    return redirect("echo")


def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


urlpatterns = [
    path("echo/", echo, name="echo"),
    path("devices/echo/", echo),  # a path that starts with the stage's name, "dev"
    path("binary/", binary),
    path("gzip/", gzipped),
    path("svg/", svg),
    path("text/", text),
    path("cookies/", cookies),
    path("moved/", moved),
    path("empty/", empty),
    path("", include("project.urls")),
]
