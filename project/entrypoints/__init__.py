"""The Lambda function's entry: ``zappa_settings.json`` sets ``lambda_handler`` here.

Every invocation is classified by shape (:mod:`project.entrypoints.shapes`) and routed:
API Gateway HTTP events go to Django's WSGI handler (:mod:`project.entrypoints.apigateway`,
which does what Zappa's handler does for them without importing boto3); allowed management
commands go to Zappa's handler; everything else goes to the app that owns it, named in
``settings.NIMBUS_LAMBDA_ROUTES`` as ``{kind: "dotted.path.to.handler"}`` with the
signature ``handler(event, context)``.

Zappa alone ``exec``s ``raw_command`` payloads, imports any dotted ``command`` and returns
``None`` for shapes it does not know (custom EventBridge events, Step Functions payloads).
Nimbus refuses the first two and raises on the third, so nothing is dropped silently.

Importing this module (Lambda's init) registers the SnapStart hooks
(:mod:`project.snapshot`): Django is set up before the snapshot, and connections,
clients and seeds are renewed after each restore.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from project import snapshot
from project.entrypoints.shapes import EventKind, UnknownEventError, classify

logger = logging.getLogger("nimbus.lambda")

__all__ = ["RefusedEventError", "UnknownEventError", "lambda_handler"]


class RefusedEventError(PermissionError):
    """The event asks for something Nimbus never does from an invocation."""


_HTTP_KINDS = {EventKind.HTTP_V1, EventKind.HTTP_V2}
_ZAPPA_KINDS = {EventKind.MANAGE, EventKind.COMMAND}


def lambda_handler(event: Any, context: Any) -> Any:
    kind = classify(event)
    _ensure_django()
    from project import telemetry, tracing
    from project.logging import bind

    request_id = getattr(context, "aws_request_id", None)
    ids = telemetry.lambda_correlation_ids(kind.value, event)
    with (
        bind(lambda_request_id=request_id, event_kind=kind.value, **ids),
        tracing.traced(f"## {kind.value}", kind=kind.value, **ids),
    ):
        if kind is EventKind.RAW_COMMAND:
            logger.error("Refused a raw_command invocation")
            raise RefusedEventError("raw_command invocations are disabled in Nimbus.")
        if kind in _HTTP_KINDS:
            from project.entrypoints.apigateway import serve

            result = serve(event, context)
        elif kind in _ZAPPA_KINDS:
            _check_allowed(kind, event)
            result = _zappa(event, context)
        else:
            result = _route(kind)(event, context)
    if result is None:
        raise RuntimeError(f"The {kind.value} handler returned nothing.")
    return result


def _ensure_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.production")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup(set_prefix=False)


def _check_allowed(kind: EventKind, event: dict[str, Any]) -> None:
    from django.conf import settings

    if kind is EventKind.MANAGE:
        command = str(event.get("manage") or "").split()
        name = command[0] if command else ""
        allowed = name in settings.NIMBUS_LAMBDA_COMMANDS
    else:
        name = str(event.get("command") or "")
        allowed = name in getattr(settings, "NIMBUS_LAMBDA_FUNCTIONS", [])
    if not allowed:
        logger.error("Refused %s invocation of %r (not on the allow-list)", kind.value, name)
        raise RefusedEventError(f"{kind.value} {name!r} is not on Nimbus's allow-list.")


def _route(kind: EventKind) -> Any:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    path = settings.NIMBUS_LAMBDA_ROUTES.get(kind.value)
    if not path:
        raise ImproperlyConfigured(f"No handler for {kind.value} events in NIMBUS_LAMBDA_ROUTES.")
    return import_string(path)


def _zappa(event: dict[str, Any], context: Any) -> Any:
    from zappa.handler import LambdaHandler

    return LambdaHandler.lambda_handler(event, context)


snapshot.register(_ensure_django)
