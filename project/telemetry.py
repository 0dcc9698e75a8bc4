"""Metrics, log redaction, correlation ids and X-Ray tracing.

Metrics: :func:`metric` is the one call every app uses::

    from project import telemetry
    telemetry.metric(telemetry.UPLOADS_REJECTED, reason="too_large")

The backend comes from ``settings.NIMBUS_TELEMETRY`` (the usual alias dict):

* ``LocalMetrics`` (embedded default): a JSON log line plus a :class:`MetricSample` row
  for the operator metrics page in the admin;
* ``EmfMetrics`` (AWS): a CloudWatch Embedded Metric Format line through Powertools,
  dimensioned by ``Stage`` alone and by ``Stage`` + the call's dimensions, so alarms
  (infra/monitoring.py) can watch the total while dashboards break it down;
* ``MemoryMetrics`` (tests): recorded in memory, plus the log line.

A metric never breaks the caller: a failing backend is logged and the call returns.

Logs: :class:`RedactingFilter` (on every handler in ``LOGGING``) replaces tokens,
passwords, secrets, Authorization headers and file contents with ``[REDACTED]``.

Tracing (X-Ray on Lambda) is :mod:`project.tracing`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from project.backends import Backend, handler
from project.logging import _context

logger = logging.getLogger("nimbus.metrics")

# Metric names shared by the apps and by the alarms in infra/monitoring.py.
UPLOADS_STARTED = "UploadsStarted"
UPLOADS_ACCEPTED = "UploadsAccepted"
UPLOADS_REJECTED = "UploadsRejected"
EVENTS_PUBLISHED = "EventsPublished"
EVENTS_PROCESSED = "EventsProcessed"
EVENTS_FAILED = "EventsFailed"
EVENTS_DEAD_LETTERED = "EventsDeadLettered"
WORKFLOW_EXECUTIONS = "WorkflowExecutions"  # dimension: outcome
WORKFLOW_FAILURES = "WorkflowFailures"
WORKFLOW_DURATION = "WorkflowDuration"  # Milliseconds, dimension: outcome
AUTH_FAILURES = "AuthFailures"  # dimension: reason
RATE_LIMITED = "RateLimited"  # dimension: scope
#: Milliseconds per HTTP request, dimension ``area`` (api, admin, page). Recorded only where
#: NIMBUS_REQUEST_METRICS is on (locally): on AWS API Gateway's own Latency is the figure.
REQUEST_DURATION = "RequestDuration"
#: Every metric Nimbus emits. The AWS dashboard (infra/monitoring.py) shows each one that
#: production emits; infra.monitoring.LOCAL_ONLY_METRICS lists those only local runs do.
METRIC_NAMES = (
    UPLOADS_STARTED,
    UPLOADS_ACCEPTED,
    UPLOADS_REJECTED,
    EVENTS_PUBLISHED,
    EVENTS_PROCESSED,
    EVENTS_FAILED,
    EVENTS_DEAD_LETTERED,
    WORKFLOW_EXECUTIONS,
    WORKFLOW_FAILURES,
    WORKFLOW_DURATION,
    AUTH_FAILURES,
    RATE_LIMITED,
    REQUEST_DURATION,
)

NAMESPACE = "Nimbus"
UNITS = {"Count", "Milliseconds", "Seconds", "Bytes", "Percent", "None"}
MAX_DIMENSIONS = 5


class MetricsBackend(Backend):
    """Where metric data points go. ``record`` must be cheap and must not raise."""

    default_options: ClassVar[Mapping[str, Any]] = {"namespace": NAMESPACE}

    def record(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        raise NotImplementedError


def _log_line(name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
    logger.info(
        "metric %s=%g %s",
        name,
        value,
        unit,
        extra={"metric": name, "value": value, "unit": unit, "dimensions": dimensions},
    )


_batches = threading.local()


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Write the local metric rows this thread records inside with one ``INSERT`` at exit.

    ``manage.py worker`` wraps each round (a batch of deliveries and task rows) in it, so
    a busy worker writes one statement of samples per round, not one per data point. A
    sample recorded inside a transaction still counts only once that commits. A worker
    killed mid-round loses that round's samples (the work itself is durable; the metrics
    page is an operator's view). Other backends are not affected.
    """
    if getattr(_batches, "samples", None) is not None:
        yield  # already batching (nested)
        return
    _batches.samples = []
    try:
        yield
    finally:
        samples, _batches.samples = _batches.samples, None
        if samples:
            from project.models import MetricSample

            try:
                MetricSample.objects.bulk_create(samples)
            except Exception:
                logger.exception("Could not record %d metric sample(s)", len(samples))


class LocalMetrics(MetricsBackend):
    """A log line and a database row per data point (the operator page reads the rows);
    rows recorded inside :func:`batched` are written together."""

    is_local = True

    def record(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        from django.db import connection, transaction
        from django.utils import timezone

        from project.models import MetricSample

        _log_line(name, value, unit, dimensions)
        sample = MetricSample(
            name=name, value=value, unit=unit, dimensions=dimensions, recorded_at=timezone.now()
        )
        batch = getattr(_batches, "samples", None)
        write = sample.save if batch is None else lambda: batch.append(sample)
        # Inside a transaction (possibly a failed one) the row waits for the commit.
        if connection.in_atomic_block:
            transaction.on_commit(write, robust=True)
        else:
            write()


class MemoryMetrics(MetricsBackend):
    """Keeps every data point in ``self.samples`` (for tests), plus the log line."""

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        self.samples: list[tuple[str, float, str, dict[str, str]]] = []

    def record(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        _log_line(name, value, unit, dimensions)
        self.samples.append((name, value, unit, dimensions))


class EmfMetrics(MetricsBackend):
    """CloudWatch Embedded Metric Format on stdout, through Powertools' EMF provider.

    One line per data point (like Powertools' ``single_metric``) so each call keeps its own
    dimensions; Lambda ships stdout to CloudWatch Logs, which extracts the metric.
    """

    def record(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        emf = AmazonCloudWatchEMFProvider(namespace=self.options["namespace"])
        emf.add_metric(name=name, unit=unit, value=value)
        emf.add_dimension(name="Stage", value=settings.NIMBUS_STAGE)
        if dimensions:
            emf.add_dimensions(Stage=settings.NIMBUS_STAGE, **dimensions)
        sys.stdout.write(json.dumps(emf.serialize_metric_set(), separators=(",", ":")) + "\n")
        sys.stdout.flush()


metrics = handler("NIMBUS_TELEMETRY", MetricsBackend)


def metric(name: str, value: float = 1, unit: str = "Count", **dimensions: Any) -> None:
    """Record one data point of metric ``name``; never raises into the caller.

    Dimensions are low-cardinality labels (``outcome="failed"``, ``reason="too_large"``),
    never ids, emails or anything secret.
    """
    try:
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}")
        if len(dimensions) > MAX_DIMENSIONS:
            raise ValueError(f"at most {MAX_DIMENSIONS} dimensions")
        dims = {str(k): str(v) for k, v in dimensions.items() if v is not None}
        metrics.default.record(name, float(value), unit, dims)
    except Exception:
        logger.warning("Could not record metric %s", name, exc_info=True)


@contextlib.contextmanager
def timed(name: str, **dimensions: Any) -> Iterator[dict[str, Any]]:
    """Record the block's duration in milliseconds; set ``dims["outcome"]`` inside it."""
    dims: dict[str, Any] = dict(dimensions)
    started = time.monotonic()
    try:
        yield dims
    except BaseException:
        dims.setdefault("outcome", "failed")
        raise
    finally:
        dims.setdefault("outcome", "succeeded")
        metric(name, (time.monotonic() - started) * 1000, "Milliseconds", **dims)


def metric_summary(*, hours: float = 1.0) -> list[dict[str, Any]]:
    """Locally recorded metrics of the last ``hours``, summed by name and dimensions."""
    from django.db.models import Count, Max, Sum
    from django.utils import timezone

    from project.models import MetricSample

    since = timezone.now() - timedelta(hours=hours)
    rows = (
        MetricSample.objects.filter(recorded_at__gte=since)
        .values("name", "unit", "dimensions")
        .annotate(count=Count("id"), total=Sum("value"), latest=Max("recorded_at"))
    )
    # JSON columns group differently across databases; merge equal dimension sets here.
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["name"], row["unit"], json.dumps(row["dimensions"], sort_keys=True))
        entry = merged.setdefault(key, {**row, "count": 0, "total": 0.0, "latest": row["latest"]})
        entry["count"] += row["count"]
        entry["total"] += row["total"] or 0.0
        entry["latest"] = max(entry["latest"], row["latest"])
    return sorted(merged.values(), key=lambda r: (r["name"], json.dumps(r["dimensions"])))


def metric_samples_prune(*, older_than_hours: float | None = None) -> int:
    """Delete local samples older than the retention; returns how many went."""
    from django.utils import timezone

    from project.models import MetricSample

    hours = older_than_hours or float(getattr(settings, "NIMBUS_METRICS_RETENTION_HOURS", 72))
    deleted, _ = MetricSample.objects.filter(
        recorded_at__lt=timezone.now() - timedelta(hours=hours)
    ).delete()
    return deleted


# --- correlation ids ---------------------------------------------------------------------


def annotate(**ids: Any) -> None:
    """Add ids to the correlation context bound by the innermost ``project.logging.bind``.

    For ids learnt in the middle of a request or event (the user behind a bearer token);
    outside any bound block it does nothing.
    """
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in ids.items() if v is not None})


def lambda_correlation_ids(kind: str, event: Any) -> dict[str, Any]:
    """The ids worth binding for one Lambda event (never its payload)."""
    if not isinstance(event, dict):
        return {}
    ids: dict[str, Any] = {}
    context = event.get("requestContext")
    if isinstance(context, dict):
        ids["apigw_request_id"] = context.get("requestId")
        ids["connection_id"] = context.get("connectionId")
    if kind in ("eventbridge", "schedule"):
        ids["event_id"] = event.get("id")
        ids["detail_type"] = event.get("detail-type")
    if kind == "workflow_step":
        ids["execution_arn"] = event.get("execution_arn") or event.get("ExecutionArn")
        ids["workflow_step"] = event.get("workflow_step")
    if kind == "sqs":
        ids["message_count"] = len(event.get("Records") or [])
    return {k: v for k, v in ids.items() if v is not None}


def _area(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "page"


class RequestDurationMiddleware:
    """Records each request's duration (``RequestDuration``, milliseconds, by ``area``) for
    the admin's latency chart, when ``NIMBUS_REQUEST_METRICS`` is on.

    Static files and ``/healthz`` are left out: they say nothing of how the site answers
    people. Off in production, where API Gateway measures every request (its ``Latency``
    metric, on the CloudWatch dashboard and the p95 alarm) without a line per request.
    """

    def __init__(self, get_response: Any) -> None:
        if not getattr(settings, "NIMBUS_REQUEST_METRICS", False):
            # Off when the handler is built (production): not in the request chain at all.
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Checked again per request, since tests turn it off under a built handler.
        if not getattr(settings, "NIMBUS_REQUEST_METRICS", False) or self._skipped(request.path):
            response: HttpResponse = self.get_response(request)
            return response
        started = time.monotonic()
        response = self.get_response(request)
        metric(
            REQUEST_DURATION,
            (time.monotonic() - started) * 1000,
            "Milliseconds",
            area=_area(request.path),
        )
        return response

    @staticmethod
    def _skipped(path: str) -> bool:
        static = str(getattr(settings, "STATIC_URL", "/static/") or "/static/")
        return path == "/healthz" or path.startswith(static) or path.startswith("/favicon")


class UserContextMiddleware:
    """Binds the signed-in user's id (after AuthenticationMiddleware) to log lines.

    Lazily: the id is bound when something first looks at ``request.user``, so a request
    that never does (``/healthz``, static answers) costs no session or user query. A
    bearer-token user is bound where the token is verified (``apps.users.auth``).
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils.functional import SimpleLazyObject

        user = request.user  # AuthenticationMiddleware's own lazy user

        def resolve() -> Any:
            if user.is_authenticated:
                annotate(user_id=user.pk)
            return user

        request.user = SimpleLazyObject(resolve)  # type: ignore[assignment]
        response: HttpResponse = self.get_response(request)
        return response


# --- redaction ---------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authori[sz]ation|cookie|api[_-]?key|credential|"
    r"signature|private[_-]?key|^code$|confirmation[_-]?code|session[_-]?id|content$|"
    r"^body$|file[_-]?data|x-amz-security",
    re.IGNORECASE,
)
_PATTERNS = [
    # JWTs (Cognito and the local identity provider): header.payload.signature
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:pass(?:word)?|secret|token|api[_-]?key|sessionid|csrftoken|signature)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;]+"
    ),
    re.compile(r"(?i)(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]


def redact_text(text: str) -> str:
    """``text`` with every token-, password- or key-looking part replaced."""
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, *, depth: int = 0) -> Any:
    """A copy of ``value`` with sensitive keys' values and secret-looking strings redacted."""
    if depth > 6:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and _SENSITIVE_KEY.search(k)
            else redact(v, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [redact(v, depth=depth + 1) for v in value]
    return value


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "nimbus_context"}


class RedactingFilter(logging.Filter):
    """Rewrites each record so nothing secret reaches a handler's output.

    The message is rendered and redacted, arguments dropped, extras and exception text
    redacted (the exception is rendered here, so formatters print the redacted text).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_nimbus_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        for key, value in list(vars(record).items()):
            if key in _STANDARD or key.startswith("_"):
                continue
            if _SENSITIVE_KEY.search(key):
                setattr(record, key, REDACTED)
            elif isinstance(value, str | bytes | Mapping | list | tuple):
                setattr(record, key, redact(value))
            elif value is not None and not isinstance(value, int | float | bool):
                # Objects (a request, a model) are rendered now, so their text is redacted.
                setattr(record, key, redact_text(str(value)))
        if record.exc_info:
            import traceback

            record.exception = redact_text(
                "".join(traceback.format_exception(*record.exc_info)).strip()
            )
            record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._nimbus_redacted = True
        return True
