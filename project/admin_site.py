"""Nimbus's admin site class: operators only, every change audited, a metrics page.

``NimbusAdminSite`` becomes ``django.contrib.admin.site`` (``project.admin_apps``), so apps
keep registering with ``admin.site.register`` / ``@admin.register``.

* Only active staff in the ``operators`` group get in (superusers too: they can add
  themselves to the group anyway, so refusing them would protect nothing).
* Every admin POST that changes something is recorded as an :class:`AuditEntry` (additions,
  changes and deletions through Django's ``LogEntry``; bulk actions here), with who, what,
  when, the request id and the client address; sign-ins, failed sign-ins and denied
  visits too. The trail is read-only in the admin, even for superusers.
* ``/admin/metrics/`` shows the locally recorded metrics by name and dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from project.audit import AUDITED, audit_record, current_request
from project.models import AuditEntry

OPERATORS_GROUP = "operators"


def is_operator(user: Any) -> bool:
    """Active staff in the operators group (or a superuser).

    Asked for every model on an admin page; the group lookup is remembered on the user
    object for the request, as Django remembers permissions (``_perm_cache``).
    """
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_nimbus_operator", None)
    if cached is None:
        cached = user._nimbus_operator = user.groups.filter(name=OPERATORS_GROUP).exists()
    return bool(cached)


class NimbusAdminSite(admin.AdminSite):
    site_header = "Nimbus operations"
    site_title = "Nimbus admin"
    index_title = "Operations"
    # The lists get the whole width (at 1280 px the sidebar left a list ~630 px beside the
    # filters); every model is one click away on the index, and the breadcrumbs lead there.
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Django's admin sign-in, slowed after wrong passwords like every other sign-in
        (apps.users.signin_guard), so it is no way around those waits."""
        if request.method != "POST":
            return super().login(request, extra_context)
        from apps.users.signin_guard import signin_check, signin_failed, signin_succeeded
        from project.errors import RateLimited
        from project.throttling import rate_limited_page

        email = str(request.POST.get("username", "")).strip().lower()[:254]
        ip = str(request.META.get("REMOTE_ADDR", ""))
        try:
            signin_check(email=email, ip=ip)
        except RateLimited as exc:
            return rate_limited_page(request, exc)
        response = super().login(request, extra_context)
        if response.status_code == 302 and request.user.is_authenticated:
            signin_succeeded(email=email, ip=ip)
        else:
            signin_failed(email=email, ip=ip)
        return response

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        wrapped = super().admin_view(view, cacheable)

        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            token = current_request.set(request)
            try:
                last_log = _last_log_entry_id() if request.method == "POST" else None
                # Named before the view runs: a confirmed deletion leaves nothing to name.
                selected = self._selected_names(request) if last_log is not None else []
                response = wrapped(request, *args, **kwargs)
                self._audit_request(request, response, selected)
                if last_log is not None:
                    _audit_log_entries(after=last_log, user=request.user)
                return response
            finally:
                current_request.reset(token)

        audited.__name__ = getattr(view, "__name__", "admin_view")
        audited.__dict__.update(getattr(wrapped, "__dict__", {}))
        return audited

    def _selected_model(self, request: HttpRequest) -> type[Any] | None:
        label = _model_label(request)
        for model in self._registry:
            if f"{model._meta.app_label}_{model._meta.model_name}" == label:
                return model
        return None

    def _selected_names(self, request: HttpRequest) -> list[str]:
        """How the objects a changelist action was run on are named (at most ten)."""
        selected = request.POST.getlist("_selected_action")
        model = self._selected_model(request) if selected else None
        if model is None:
            return []
        try:
            objects = model._default_manager.filter(pk__in=selected[:10])
            return [str(obj)[:60] for obj in objects]
        except (ValueError, TypeError):  # ids the model's key refuses: nothing to name
            return []

    def _action_description(self, request: HttpRequest, model: type[Any] | None, name: str) -> str:
        """The action as the operator chose it ("Delete selected groups")."""
        model_admin = self._registry.get(model) if model is not None else None
        if model_admin is None:
            return name
        action = model_admin.get_actions(request).get(name)
        if action is None:
            return name
        from django.contrib.admin.utils import model_format_dict

        description = getattr(action, "description", None) or name
        return str(description) % model_format_dict(model_admin.opts)

    def _audit_request(
        self, request: HttpRequest, response: HttpResponse, names: list[str]
    ) -> None:
        user = request.user
        if user.is_authenticated and not self.has_permission(request):
            audit_record(action=AuditEntry.Action.DENIED, actor=user, detail={"path": request.path})
            return
        # Additions, changes and deletions are copied from Django's LogEntry rows after the
        # view; actions write none of their own (bar deletions), so record them here, unless
        # the view recorded what it did itself (the object and the verdict), see audited().
        if getattr(request, AUDITED, False):
            return
        if request.method != "POST" or "action" not in request.POST:
            return
        selected = request.POST.getlist("_selected_action")
        model = self._selected_model(request)
        name = request.POST.get("action", "")[:100]
        confirmed = bool(request.POST.get("post"))
        objects = ", ".join(names) + (
            f" and {len(selected) - len(names)} more" if len(selected) > len(names) else ""
        )
        audit_record(
            action=AuditEntry.Action.ACTION,
            actor=user,
            target_type=model._meta.label_lower if model is not None else _model_label(request),
            target_id=selected[0] if len(selected) == 1 else "",
            target_repr=objects or f"{len(selected)} selected",
            detail={
                "name": name,
                "verdict": self._action_description(request, model, name),
                "selected": selected[:100],
                "confirmed": confirmed,
                "status": response.status_code,
                "view": getattr(getattr(request, "resolver_match", None), "view_name", ""),
            },
        )

    def get_urls(self) -> list[Any]:
        urls: list[URLPattern | Any] = [
            path("metrics/", self.admin_view(self.metrics_view), name="nimbus_metrics"),
        ]
        return urls + super().get_urls()

    def metrics_view(self, request: HttpRequest) -> TemplateResponse:
        """Locally recorded metrics summed over a recent window (``?hours=``)."""
        from project.telemetry import metric_summary

        try:
            hours = min(max(float(request.GET.get("hours", "1")), 0.05), 24 * 7)
        except ValueError:
            hours = 1.0
        rows = metric_summary(hours=hours)
        for row in rows:
            row["dimensions_text"] = ", ".join(
                f"{k}={v}" for k, v in sorted(row["dimensions"].items())
            )
        context = {
            **self.each_context(request),
            "title": "Metrics",
            "rows": rows,
            "hours": hours,
            "windows": [0.25, 1, 6, 24, 72],
        }
        return TemplateResponse(request, "admin/nimbus/metrics.html", context)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        if app_label in (None, "nimbus"):
            metrics_entry = {
                "name": "Metrics (recent)",
                "object_name": "Metrics",
                "admin_url": "/admin/metrics/",
                "add_url": None,
                "view_only": True,
                "perms": {"view": True},
            }
            for app in apps:
                if app["app_label"] == "nimbus":
                    app["models"].insert(0, metrics_entry)
                    break
        return apps


def _last_log_entry_id() -> int:
    from django.contrib.admin.models import LogEntry

    return LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _audit_log_entries(*, after: int, user: Any) -> None:
    """Copy the LogEntry rows this request wrote (bulk deletions included) to the trail.

    Read back rather than caught by a signal: ``delete_selected`` bulk-creates its rows.
    """
    from django.contrib.admin.models import ADDITION, DELETION, LogEntry

    actions = {ADDITION: AuditEntry.Action.ADDITION, DELETION: AuditEntry.Action.DELETION}
    entries = LogEntry.objects.filter(pk__gt=after, user_id=user.pk)
    for entry in entries.select_related("content_type").order_by("pk"):
        model = entry.content_type.model_class() if entry.content_type else None
        audit_record(
            action=actions.get(entry.action_flag, AuditEntry.Action.CHANGE),
            actor=user,
            target_type=model._meta.label_lower if model is not None else "",
            target_id=entry.object_id or "",
            target_repr=entry.object_repr,
            detail={"change": entry.get_change_message()},
        )


def _model_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "url_name", "") or ""
    # Admin changelist URL names are "<app>_<model>_changelist".
    return name.removesuffix("_changelist")
