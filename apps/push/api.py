"""Notifications API at ``/api/notifications/``: list/catch up, read state, unread count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Path, Query, Router, Schema

from apps.push import selectors, services
from apps.push.models import Notification
from apps.users.auth import AuthenticatedRequest, api_auth
from project.requestbody import INT64
from project.schemas import RowId, RowIdOrZero

router = Router(tags=["notifications"], auth=api_auth)


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    payload: dict[str, Any]
    read: bool
    created_at: datetime


class NotificationList(Schema):
    items: list[NotificationOut]
    unread: int
    #: The highest id in ``items`` (or ``after`` when empty): the next ``after``.
    last_id: int
    more: bool


class UnreadCount(Schema):
    unread: int


class MarkRead(Schema):
    ids: list[RowId] | None = Field(default=None, max_length=1000)
    up_to: RowIdOrZero | None = None


class MarkedRead(Schema):
    marked: int
    unread: int


def _user_id(request: AuthenticatedRequest) -> int:
    """The signed-in user (``api_auth`` puts it on ``request.auth``)."""
    return int(request.auth.pk)


@router.get("/", response=NotificationList, summary="Notifications after an id")
def notification_list(
    request: AuthenticatedRequest,
    after: int = Query(0, ge=0, le=INT64),
    unread: bool | None = Query(None),
    limit: int = Query(selectors.PAGE_SIZE, ge=1, le=selectors.PAGE_SIZE),
) -> dict[str, Any]:
    """The signed-in user's notifications with an id above ``after``, oldest first."""
    user_id = _user_id(request)
    items = selectors.notifications_after(user_id=user_id, after=after, unread=unread, limit=limit)
    return {
        "items": items,
        "unread": selectors.notification_unread_count(user_id=user_id),
        "last_id": items[-1].pk if items else after,
        "more": len(items) == limit,
    }


@router.get("/unread-count", response=UnreadCount, summary="Unread notifications")
def notification_unread_count(request: AuthenticatedRequest) -> dict[str, int]:
    return {"unread": selectors.notification_unread_count(user_id=_user_id(request))}


@router.post("/read", response=MarkedRead, summary="Mark notifications read")
def notifications_read(request: AuthenticatedRequest, data: MarkRead) -> dict[str, int]:
    """Mark the given ids, or all up to ``up_to``, or (neither given) all as read."""
    user_id = _user_id(request)
    marked = services.notifications_mark_read(user_id=user_id, ids=data.ids, up_to=data.up_to)
    return {"marked": marked, "unread": selectors.notification_unread_count(user_id=user_id)}


class Ticket(Schema):
    ticket: str
    expires_in: int


@router.get("/ticket", response=Ticket, summary="A ticket to open the WebSocket")
def connect_ticket(request: AuthenticatedRequest) -> dict[str, Any]:
    """A one-minute ticket for ``wss://<websocket api>/<stage>?ticket=...`` (see tickets)."""
    from apps.push.tickets import MAX_AGE_SECONDS, connect_ticket_issue

    return {
        "ticket": connect_ticket_issue(user_id=_user_id(request)),
        "expires_in": MAX_AGE_SECONDS,
    }


@router.get("/{notification_id}", response=NotificationOut, summary="One notification")
def notification_detail(
    request: AuthenticatedRequest, notification_id: int = Path(..., ge=1, le=INT64)
) -> Notification:
    """One notification (what a ``{"type": "ref"}`` frame points to)."""
    return selectors.notification_get(user_id=_user_id(request), notification_id=notification_id)


@router.post("/{notification_id}/read", response=MarkedRead, summary="Mark one read")
def notification_read(
    request: AuthenticatedRequest, notification_id: int = Path(..., ge=1, le=INT64)
) -> dict[str, int]:
    user_id = _user_id(request)
    selectors.notification_get(user_id=user_id, notification_id=notification_id)
    marked = services.notifications_mark_read(user_id=user_id, ids=[notification_id])
    return {"marked": marked, "unread": selectors.notification_unread_count(user_id=user_id)}
