"""The audit trail: one :class:`~project.models.AuditEntry` per thing an operator did.

The admin site records its changes, sign-ins and denied visits here; services that act for
an operator outside the admin (``manage.py operators``) record theirs the same way.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.http import HttpRequest

from project.models import AuditEntry

#: Set on a request by an admin view that wrote its own audit entries (naming the object and
#: the verdict), so the admin site's generic "ran action" row is not written as well.
AUDITED = "_nimbus_audited"

#: The admin request being served, so signal receivers can name its address and id.
current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "nimbus_admin_request", default=None
)


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address: ``REMOTE_ADDR``, never a raw ``X-Forwarded-For`` entry.

    On Lambda the API Gateway adapter has already picked the one hop that can be trusted
    (project/entrypoints/apigateway.py); the first entry of the header is whatever the
    caller chose to write there.
    """
    if request is None:
        return None
    candidate = request.META.get("REMOTE_ADDR")
    try:
        validate_ipv46_address(candidate or "")
    except ValidationError:
        return None
    return candidate


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_repr: str = "",
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Write one audit entry (request defaults to the admin request being served)."""
    request = request or current_request.get()
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEntry.objects.create(
        action=action,
        actor=actor,
        actor_repr=actor_repr or (actor.get_username() if actor is not None else "")[:254],
        target_type=target_type[:100],
        target_id=str(target_id)[:100],
        target_repr=target_repr[:200],
        detail=detail or {},
        request_id=str(getattr(request, "request_id", ""))[:128],
        ip_address=client_ip(request),
    )
