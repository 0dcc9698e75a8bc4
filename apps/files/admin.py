"""Operators' view of files: filters, a download link, and re-inspection."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.files.models import File, FileStatus
from project.admin_filters import ValuesFilter


@admin.register(File)
class FileAdmin(admin.ModelAdmin[File]):
    # Fits at 1280 px beside the filters: a long name is cut (in full on hover), and the
    # declared and detected types share a column (both shown only when they differ).
    list_display = (
        "short_name",
        "owner",
        "status",
        "reason_code",
        "types",
        "size",
        "created_at",
        "download_link",
    )
    list_filter = (
        "status",
        ("declared_type", ValuesFilter),
        ("detected_type", ValuesFilter),
        ("reason_code", ValuesFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("id", "name", "owner__email", "sha256", "key")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    actions = ("reinspect",)
    readonly_fields = (
        "id",
        "owner",
        "key",
        "name",
        "declared_type",
        "detected_type",
        "declared_size",
        "size",
        "sha256",
        "etag",
        "status",
        "reason_code",
        "reason_message",
        "multipart_upload_id",
        "upload_expires_at",
        "created_at",
        "updated_at",
        "uploaded_at",
        "inspected_at",
        "download_link",
        "review_link",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Status changes go through services (and their events), never a raw edit.
        return False

    def delete_model(self, request: HttpRequest, obj: File) -> None:
        # Through the files app, as the API deletes: the stored object goes too, an
        # unfinished multipart upload is aborted and files.FileDeleted is published.
        from apps.files.services import file_delete_any

        file_delete_any(file=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[File]) -> None:
        from apps.files.services import file_delete_any

        for file in queryset:
            file_delete_any(file=file)

    @admin.display(description="name", ordering="name")
    def short_name(self, obj: File) -> str:
        if len(obj.name) <= 40:
            return obj.name
        return format_html('<span title="{}">{}…</span>', obj.name, obj.name[:39])

    @admin.display(description="type (declared → detected)", ordering="declared_type")
    def types(self, obj: File) -> str:
        if not obj.detected_type or obj.detected_type == obj.declared_type:
            return obj.declared_type
        return f"{obj.declared_type} → {obj.detected_type}"

    @admin.display(description="Download")
    def download_link(self, obj: File) -> str:
        if obj.status in (FileStatus.PENDING, FileStatus.REJECTED):
            return "—"  # no object yet, or a rejected file's, deleted
        url = reverse("admin:files_file_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    @admin.display(description="Review")
    def review_link(self, obj: File) -> str:
        """The file's review execution, where an operator approves or rejects it."""
        from apps.workflows.models import Execution

        execution = Execution.objects.filter(workflow="file_review", name=f"file-{obj.pk}").first()
        if execution is None:
            return "Not started"
        url = reverse("admin:workflows_execution_change", args=[execution.pk])
        return format_html('<a href="{}">{} review</a>', url, execution.get_status_display())

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<uuid:file_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="files_file_download",
            )
        ]
        return own + super().get_urls()

    def download_view(self, request: HttpRequest, file_id: uuid.UUID) -> HttpResponse:
        """A short-lived link for an operator to any stored object (not pending or rejected)."""
        from apps.files.backends import get_upload_backend

        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        file = get_object_or_404(
            File.objects.exclude(status__in=[FileStatus.PENDING, FileStatus.REJECTED]), pk=file_id
        )
        url = get_upload_backend().download_url(
            key=file.key, filename=file.name, content_type=file.declared_type, operator=True
        )
        return HttpResponseRedirect(url)

    def has_reinspect_permission(self, request: HttpRequest) -> bool:
        # The model's change permission, though the change form stays read-only.
        return bool(request.user.has_perm("files.change_file"))

    @admin.action(description="Re-inspect the selected files", permissions=["reinspect"])
    def reinspect(self, request: HttpRequest, queryset: QuerySet[File]) -> None:
        """Re-run the inspection; the files app refuses files it must not change."""
        from apps.files.exceptions import FileStateConflict
        from apps.files.services import file_inspect

        done, refused = 0, []
        for file in queryset:
            try:
                file_inspect(file_id=file.pk, force=True)
            except FileStateConflict as exc:
                refused.append(f"{file.name}: {exc.message}")
                continue
            done += 1
        self.message_user(request, f"Re-inspected {done} file(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Skipped {len(refused)} file(s): {'; '.join(refused)}",
                messages.WARNING,
            )
