"""Wiring for operations: admin sign-in auditing and local metrics pruning."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from project import telemetry
from project.worker import every


def _is_admin(request: HttpRequest | None) -> bool:
    from django.urls import reverse

    return request is not None and request.path.startswith(reverse("admin:index"))


@receiver(user_logged_in, dispatch_uid="nimbus_audit_admin_sign_in")
def audit_admin_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if _is_admin(request):
        from project.audit import audit_record

        audit_record(action="sign_in", actor=user, request=request)


@receiver(user_logged_out, dispatch_uid="nimbus_audit_admin_sign_out")
def audit_admin_sign_out(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if _is_admin(request) and user is not None:
        from project.audit import audit_record

        audit_record(action="sign_out", actor=user, request=request)


@receiver(user_login_failed, dispatch_uid="nimbus_audit_admin_sign_in_failed")
def audit_admin_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A failed admin sign-in: audited (username only) and counted as an auth failure."""
    if not _is_admin(request):
        return
    from project.audit import audit_record

    username = str(credentials.get("username", ""))[:254]
    audit_record(action="sign_in_failed", actor_repr=username, request=request)
    telemetry.metric(telemetry.AUTH_FAILURES, reason="admin_sign_in")


@every(3600, name="nimbus.metric_samples_prune")
def prune_metric_samples() -> None:
    telemetry.metric_samples_prune()
