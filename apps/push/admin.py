from __future__ import annotations

from django.contrib import admin

from apps.push.models import LiveMessage, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "title", "read", "created_at")
    list_filter = ("kind", "read")
    search_fields = ("user__email", "title", "kind")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"


@admin.register(LiveMessage)
class LiveMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "user_id", "created_at")
    readonly_fields = ("user_id", "frame", "created_at")
