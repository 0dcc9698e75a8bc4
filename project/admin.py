"""The operations models in the admin: audit trail, metric samples, Django's LogEntry.

All read-only: the system writes these rows, operators read them. The site itself (who
may enter, what gets audited, the metrics page) is project.admin_site.NimbusAdminSite.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.http import HttpRequest

from project.admin_filters import ValuesFilter
from project.admin_site import is_operator
from project.models import AuditEntry, MetricSample


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to operators, writable by nobody (the system writes these rows)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_repr", "action", "target", "verdict", "ip_address"]
    list_filter = ["action", ("target_type", ValuesFilter)]
    search_fields = ["actor_repr", "target_repr", "target_id", "request_id"]
    date_hierarchy = "at"
    readonly_fields = ["detail_pretty"]

    @admin.display(description="object", ordering="target_type")
    def target(self, obj: AuditEntry) -> str:
        return f"{obj.target_type} {obj.target_repr}".strip() or "—"

    @admin.display(description="verdict")
    def verdict(self, obj: AuditEntry) -> str:
        """What came of it: the decision taken, the action chosen, or the change made."""
        detail = obj.detail if isinstance(obj.detail, dict) else {}
        text = detail.get("verdict") or detail.get("change") or detail.get("name") or ""
        return str(text)[:120] or "—"

    @admin.display(description="detail")
    def detail_pretty(self, obj: AuditEntry) -> str:
        return json.dumps(obj.detail, indent=2, sort_keys=True)


@admin.register(MetricSample)
class MetricSampleAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "name", "value", "unit", "dimensions"]
    list_filter = ["name"]
    date_hierarchy = "recorded_at"


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """Django's own record of admin additions, changes and deletions."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action_flag"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "change_message"]
