"""X-Ray for Django on Lambda: the recorder's configuration and the request middleware.

These replace ``aws_xray_sdk.ext.django``'s app and ``XRayMiddleware`` and do what they
do with Nimbus's ``XRAY_RECORDER`` (production settings): configure the global recorder
once, trace every SQL query and template render (``patch_db``, ``patch_template``: the
SDK's own), and wrap each request in a subsegment of the invocation's segment with the
request's URL, method, user agent, client address, status and length (as annotations too,
which X-Ray can filter on; the SDK does the same on Lambda), answering with the
``X-Amzn-Trace-Id`` header.

Why not the SDK's app and middleware: both import ``aws_xray_sdk.ext.django.conf``, which
imports ``django.test.signals`` to reload its settings in tests, and with it the whole of
``django.test`` (the test client, ``TestCase``, ``unittest``, the development server's
``wsgiref``): about 40 ms of every cold start on this machine (bench/README.md), for a
module no request uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.http import HttpRequest, HttpResponse


def _setting(name: str, default: Any = None) -> Any:
    """``XRAY_RECORDER[name]``; the SDK's environment variables win, as in the SDK."""
    configured = getattr(settings, "XRAY_RECORDER", {}).get(name)
    if name in ("AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_TRACING_NAME"):
        return os.environ.get(name, configured if configured is not None else default)
    return configured if configured is not None else default


class TracingConfig(AppConfig):
    name = "project.xray"
    label = "nimbus_xray"
    verbose_name = "X-Ray tracing"

    def ready(self) -> None:
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.core.exceptions.exceptions import SegmentNameMissingException

        service = _setting("AWS_XRAY_TRACING_NAME")
        if not service:
            raise SegmentNameMissingException("Segment name is required.")
        xray_recorder.configure(
            daemon_address=_setting("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000"),
            sampling=_setting("SAMPLING", True),
            context_missing=_setting("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
            service=service,
            stream_sql=_setting("STREAM_SQL", False),
        )
        if _setting("AUTO_INSTRUMENT", True):
            from aws_xray_sdk.ext.django.db import patch_db
            from aws_xray_sdk.ext.django.templates import patch_template

            patch_db()
            patch_template()


class XRayMiddleware:
    """Each request in its own subsegment (on Lambda) or segment (elsewhere)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # Imported when Django builds the middleware chain (the first request), not at the
        # import of the settings.
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.core.lambda_launcher import LambdaContext, check_in_lambda
        from aws_xray_sdk.core.models import http
        from aws_xray_sdk.ext import util

        self.get_response = get_response
        self.recorder = xray_recorder
        self.in_lambda = bool(check_in_lambda()) and type(xray_recorder.context) is LambdaContext
        self.http = http
        self.util = util

    def __call__(self, request: HttpRequest) -> HttpResponse:
        http, util = self.http, self.util
        calculate_sampling_decision = util.calculate_sampling_decision
        calculate_segment_name = util.calculate_segment_name
        construct_xray_header = util.construct_xray_header
        prepare_response_header = util.prepare_response_header
        recorder = self.recorder
        meta = request.META
        header = construct_xray_header(meta)
        name = calculate_segment_name(meta.get("HTTP_HOST"), recorder)
        if self.in_lambda:
            segment = recorder.begin_subsegment(name)
        else:
            decision = calculate_sampling_decision(
                trace_header=header,
                recorder=recorder,
                sampling_req={
                    "host": meta.get("HTTP_HOST"),
                    "method": request.method,
                    "path": request.path,
                    "service": name,
                },
            )
            segment = recorder.begin_segment(
                name=name, traceid=header.root, parent_id=header.parent, sampling=decision
            )
        if segment is None:  # context missing, LOG_ERROR: trace nothing, answer anyway
            return self.get_response(request)
        segment.save_origin_trace_header(header)
        annotate = self.in_lambda  # the SDK's URLS_AS_ANNOTATION "LAMBDA"

        def put(key: str, value: Any) -> None:
            segment.put_http_meta(key, value)
            if annotate:
                segment.put_annotation(key, value)

        put(http.URL, request.build_absolute_uri())
        put(http.METHOD, request.method)
        if meta.get("HTTP_USER_AGENT"):
            put(http.USER_AGENT, meta["HTTP_USER_AGENT"])
        if meta.get("HTTP_X_FORWARDED_FOR"):
            # may come from an untrusted source: flagged as forwarded
            put(http.CLIENT_IP, meta["HTTP_X_FORWARDED_FOR"])
            put(http.X_FORWARDED_FOR, True)
        elif meta.get("REMOTE_ADDR"):
            put(http.CLIENT_IP, meta["REMOTE_ADDR"])
        try:
            response = self.get_response(request)
            put(http.STATUS, response.status_code)
            if response.has_header("content-length"):
                put(http.CONTENT_LENGTH, int(response["content-length"]))
            response[http.XRAY_HEADER] = prepare_response_header(header, segment)
        finally:
            if self.in_lambda:
                recorder.end_subsegment()
            else:
                recorder.end_segment()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        from aws_xray_sdk.core.utils import stacktrace

        recorder = self.recorder
        segment = recorder.current_subsegment() if self.in_lambda else recorder.current_segment()
        if segment is None:
            return
        segment.put_http_meta(self.http.STATUS, 500)
        segment.add_exception(exception, stacktrace.get_stacktrace(limit=recorder._max_trace_back))
