"""Operators' view of events: the outbox, deliveries, dead letters, replay, the catalog.

Every action goes through :mod:`apps.events.services`; nothing here writes rows itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from apps.events import registry, services
from apps.events.models import DeadLetter, Delivery, Event, Inbox
from apps.events.patterns import matches
from project.errors import NimbusError


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class DeliveryInline(admin.TabularInline[Delivery, Event]):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("receiver", "status", "attempts", "next_attempt_at", "finished_at", "last_error")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["time", "detail_type", "source", "state", "publish_attempts", "id"]
    list_filter = ["state", "detail_type", "source"]
    search_fields = ["id", "detail_type"]
    date_hierarchy = "time"
    fields = (
        "id",
        "detail_type",
        "source",
        "time",
        "state",
        "published_at",
        "publish_attempts",
        "last_publish_error",
        "payload",
        "processed_by",
        "replay_link",
    )
    readonly_fields = fields
    inlines = [DeliveryInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="detail")
    def payload(self, obj: Event) -> str:
        return _pretty(obj.detail)

    @admin.display(description="processed by (inbox)")
    def processed_by(self, obj: Event) -> str:
        """Receivers whose effects committed, on either bus (on AWS there are no deliveries)."""
        rows = Inbox.objects.filter(event_id=str(obj.pk)).order_by("processed_at")
        if not rows:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{} at {}</li>", ((r.receiver, r.processed_at) for r in rows)),
        )

    @admin.display(description="replay")
    def replay_link(self, obj: Event) -> str:
        url = reverse("admin:events_event_replay", args=[obj.pk])
        return format_html('<a href="{}">Replay to a receiver…</a>', url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("catalog/", view(self.catalog_view), name="events_catalog"),
            path("sqs-dead-letters/", view(self.sqs_dead_letters_view), name="events_sqs_dlq"),
            path("<uuid:event_id>/replay/", view(self.replay_view), name="events_event_replay"),
            *super().get_urls(),
        ]

    def catalog_view(self, request: HttpRequest) -> HttpResponse:
        """Every declared event type with its schema and receivers; every scheduled job."""
        types = []
        for t in sorted(registry.event_types.values(), key=lambda t: t.detail_type):
            sample = {"detail-type": t.detail_type, "source": t.source, "detail": {}}
            listeners = [
                r
                for r in registry.receivers.values()
                if t.detail_type in r.pattern.get("detail-type", []) or matches(r.pattern, sample)
            ]
            types.append(
                {
                    "type": t,
                    "schema": json.dumps(t.schema, indent=2, sort_keys=True),
                    "receivers": listeners,
                }
            )
        receivers = [
            {
                "receiver": r,
                "pattern": json.dumps(r.pattern, sort_keys=True),
                "function": f"{r.func.__module__}.{r.func.__qualname__}",
            }
            for r in sorted(registry.receivers.values(), key=lambda r: r.name)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Event catalog",
            "types": types,
            "receivers": receivers,
            "schedules": sorted(registry.schedules.values(), key=lambda s: s.name),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/events/catalog.html", context)

    def sqs_dead_letters_view(self, request: HttpRequest) -> HttpResponse:
        """The SQS DLQs of every receiver group (AWS): peek, redrive, discard."""
        from apps.events import dlq

        if request.method == "POST":
            if not request.user.has_perm("events.change_delivery"):
                raise PermissionDenied("Redrive and discard need permission to change deliveries.")
            group = str(request.POST.get("group", ""))
            message_id = str(request.POST.get("message_id", "")) or None
            try:
                if request.POST.get("action") == "discard" and message_id:
                    dlq.dead_letter_discard(group=group, message_id=message_id)
                    self.message_user(request, f"Discarded {message_id} from {group}.")
                else:
                    moved = dlq.dead_letters_redrive(group=group, message_id=message_id)
                    self.message_user(request, f"Redriven {moved} message(s) to {group}.")
            except NimbusError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:events_sqs_dlq"))
        queues = []
        if dlq.enabled():
            counts = dlq.dead_letter_counts()
            queues = [
                {"group": g, "count": n, "messages": dlq.dead_letters_peek(group=g) if n else []}
                for g, n in counts.items()
            ]
        context = {
            **self.admin_site.each_context(request),
            "title": "SQS dead letters",
            "enabled": dlq.enabled(),
            "queues": queues,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/events/sqs_dead_letters.html", context)

    def replay_view(self, request: HttpRequest, event_id: Any) -> HttpResponse:
        """Run one stored event through one chosen receiver again."""
        if not self.has_view_permission(request) or not request.user.has_perm(
            "events.change_delivery"
        ):
            raise PermissionDenied("Replaying needs permission to change deliveries.")
        event = get_object_or_404(Event, pk=event_id)
        if request.method == "POST":
            try:
                delivery = services.event_replay(
                    event_id=event.pk, receiver=str(request.POST.get("receiver", ""))
                )
            except NimbusError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request, f"Replayed to {delivery.receiver} (now {delivery.status})."
                )
                return HttpResponseRedirect(reverse("admin:events_event_change", args=[event.pk]))
        envelope = event.as_eventbridge()
        choices = sorted(
            registry.receivers.values(), key=lambda r: (not matches(r.pattern, envelope), r.name)
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Replay {event.detail_type}",
            "event": event,
            "choices": [(r, matches(r.pattern, envelope)) for r in choices],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/events/replay.html", context)


_DELIVERY_FIELDS = (
    "event_link",
    "receiver",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_expires_at",
    "created_at",
    "finished_at",
    "last_error",
    "traceback_text",
    "payload",
)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ["created_at", "receiver", "status", "attempts", "next_attempt_at", "event"]
    list_filter = ["status", "receiver"]
    search_fields = ["receiver", "event__id", "event__detail_type", "last_error"]
    list_select_related = ["event"]
    actions = ["redrive", "discard", "replay"]
    fields = _DELIVERY_FIELDS
    readonly_fields = _DELIVERY_FIELDS

    @admin.action(description="Redrive selected dead deliveries", permissions=["change"])
    def redrive(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = failed = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.delivery_redrive(delivery_id=pk)
                done += 1
            except NimbusError:
                failed += 1
        self.message_user(request, f"Redriven: {done}; not dead: {failed}.")

    @admin.action(description="Discard selected dead deliveries", permissions=["change"])
    def discard(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.delivery_discard(delivery_id=pk)
                done += 1
            except NimbusError:
                pass
        self.message_user(request, f"Discarded: {done}.")

    @admin.action(
        description="Replay selected deliveries (run the receiver again)", permissions=["change"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for event_id, receiver in queryset.values_list("event_id", "receiver"):
            try:
                services.event_replay(event_id=event_id, receiver=receiver)
                done += 1
            except NimbusError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"Replayed: {done}.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="event")
    def event_link(self, obj: Delivery) -> str:
        url = reverse("admin:events_event_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="traceback")
    def traceback_text(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    @admin.display(description="detail")
    def payload(self, obj: Delivery) -> str:
        return _pretty(obj.event.detail)


@admin.register(DeadLetter)
class DeadLetterAdmin(DeliveryAdmin):
    """Deliveries that ran out of attempts: error, traceback, redrive or discard."""

    list_display = ["finished_at", "receiver", "attempts", "short_error", "event"]
    actions = ["redrive", "discard"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).filter(status=Delivery.Status.DEAD)

    @admin.display(description="last error")
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error[:120]


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin[Inbox]):
    list_display = ["processed_at", "receiver", "event_id"]
    list_filter = ["receiver"]
    search_fields = ["event_id", "receiver"]
    readonly_fields = ["event_id", "receiver", "processed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
