"""Operators' view of workflows: executions by workflow/status, a page per execution with
the state graph (SVG) beside the event timeline, and the actions stop, redrive, approve
and reject. Works for local and Step Functions executions (history from the backend).

Raw task tokens are never shown: callbacks appear by the first characters of their hash.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.safestring import mark_safe

from apps.workflows import clock, graph, registry, services
from apps.workflows.models import Execution, TaskToken
from project.audit import AUDITED, audit_record
from project.errors import NimbusError
from project.models import AuditEntry

logger = logging.getLogger("nimbus.workflows")


#: What the messages and the audit trail say was done.
PAST = {"approve": "approved", "reject": "rejected", "stop": "stopped", "redrive": "redriven"}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _actor(request: HttpRequest) -> str:
    return f"admin:{getattr(request.user, 'email', '') or request.user.pk}"


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin[Execution]):
    list_display = ["name", "workflow", "status", "backend", "started_at", "stopped_at"]
    list_filter = ["workflow", "status", "backend"]
    search_fields = ["name", "arn", "workflow"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<uuid:pk>/act/", view(self.action_view), name="workflows_execution_act"),
            path("<uuid:pk>/live/", view(self.live_view), name="workflows_execution_live"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        execution = get_object_or_404(Execution, pk=object_id)
        if not _refresh(execution):
            self.message_user(request, "Step Functions could not be reached.", messages.WARNING)
        return TemplateResponse(
            request, "admin/workflows/execution.html", self._context(request, execution)
        )

    def live_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        """The execution page's changing parts as JSON, for the page to follow the execution
        without a reload (static/nimbus/admin_execution.js polls it while the execution runs).

        ``?version=`` is what the page shows; when nothing changed only the version comes
        back. Polled rather than pushed: the WebSocket reaches people's own connections, and
        on AWS Step Functions tells nobody of each state's progress, so reading the history
        (as the page itself does) is the one way that works the same in both places.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        execution = get_object_or_404(Execution, pk=pk)
        reachable = _refresh(execution)
        context = self._context(request, execution)
        body: dict[str, Any] = {
            "version": context["version"],
            "live": context["live"],
            "reachable": reachable,
        }
        if request.GET.get("version") != context["version"]:
            body["regions"] = {
                name: render_to_string(f"admin/workflows/_{name}.html", context, request=request)
                for name in LIVE_REGIONS
            }
        response = JsonResponse(body)
        response["Cache-Control"] = "no-store"
        return response

    def _context(self, request: HttpRequest, execution: Execution) -> dict[str, Any]:
        try:
            events = services.execution_history(execution=execution)
        except Exception as exc:
            logger.warning("Could not read the history of %s: %s", execution.pk, exc)
            events = []
        pending = list(
            TaskToken.objects.filter(
                execution=execution, consumed_at__isnull=True, expires_at__gt=clock.now()
            )
        )
        definition = registry.definitions.get(execution.workflow)
        svg = ""
        if definition and definition.asl:
            statuses = graph.state_statuses(
                events, execution.status, {t.state_name for t in pending}
            )
            svg = graph.render_svg(
                definition.asl,
                statuses,
                graph.assigned_by_state(events),
                graph.taken(events, definition.asl),
            )
        timeline = [
            {
                **event,
                "input_json": _pretty(event["input"]) if "input" in event else "",
                "output_json": _pretty(event["output"]) if "output" in event else "",
                "assigned_json": _pretty(event["assignedVariables"])
                if event.get("assignedVariables")
                else "",
                "assigned_names": ", ".join(
                    f"${name}" for name in sorted(event.get("assignedVariables") or {})
                ),
            }
            for event in events
        ]
        can_change = self.has_change_permission(request, execution)
        live = execution.is_running or bool(pending)
        version = f"{execution.status}:{len(events)}:" + ",".join(str(t.pk) for t in pending)
        return {
            "version": version,
            "live": live,
            **self.admin_site.each_context(request),
            "title": f"{execution.workflow} · {execution.name}",
            "opts": self.model._meta,
            "execution": execution,
            "svg": mark_safe(svg),  # noqa: S308 (built by graph.render_svg, text escaped)
            "timeline": timeline,
            "pending": pending,
            "input_json": _pretty(execution.input),
            "output_json": _pretty(execution.output) if execution.output is not None else "",
            "can_change": can_change,
            "can_stop": can_change and execution.is_running,
            "can_redrive": can_change and execution.status in ("FAILED", "TIMED_OUT", "ABORTED"),
            "legend": graph.COLOURS,
            "variables": [
                (state, _pretty(values))
                for state, values in graph.assigned_by_state(events).items()
            ],
        }

    def action_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        execution = get_object_or_404(Execution, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, execution):
            raise PermissionDenied
        action = request.POST.get("action", "")
        try:
            self._act(request, execution, action)
        except NimbusError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        url = reverse("admin:workflows_execution_change", args=[execution.pk])
        return HttpResponseRedirect(url)

    def _act(self, request: HttpRequest, execution: Execution, action: str) -> None:
        if action == "stop":
            services.execution_stop(
                execution=execution, error="Operator", cause=f"Stopped by {_actor(request)}"
            )
            _audit(request, execution, action)
            self.message_user(request, "Execution stopped.")
        elif action == "redrive":
            services.execution_redrive(execution=execution)
            _audit(request, execution, action)
            self.message_user(request, "Execution redriven.")
        elif action in ("approve", "reject"):
            task = get_object_or_404(TaskToken, pk=request.POST.get("task"), execution=execution)
            _resolve(request, task, action, str(request.POST.get("reason", "")))
            self.message_user(request, f"{task.state_name}: {PAST[action]}.")
        else:
            self.message_user(request, f"Unknown action {action!r}.", messages.ERROR)


#: The parts of the execution page the live view sends again (templates ``_<name>.html``).
LIVE_REGIONS = ("summary", "pending", "graph", "timeline")


def _refresh(execution: Execution) -> bool:
    """Bring a Step Functions execution's row up to date; False if AWS could not be reached
    (the page then shows what the database knows)."""
    if execution.backend == "local":
        return True
    try:
        services.execution_refresh(execution=execution)
    except Exception as exc:
        logger.warning("Could not refresh execution %s: %s", execution.pk, exc)
        return False
    return True


def _audit(request: HttpRequest, execution: Execution, action: str, **detail: Any) -> None:
    """One audit row naming the execution (and so the file a review is about) and the verdict."""
    state = detail.get("state")
    audit_record(
        action=AuditEntry.Action.ACTION,
        actor=request.user,
        target_type=Execution._meta.label_lower,
        target_id=str(execution.pk),
        target_repr=f"{execution}" + (f" · {state}" if state else ""),
        detail={"name": action, "verdict": PAST[action], "workflow": execution.workflow, **detail},
        request=request,
    )
    setattr(request, AUDITED, True)


def _resolve(request: HttpRequest, task: TaskToken, action: str, reason: str) -> None:
    _resolve_task(request, task, action, reason)
    if task.execution is not None:
        detail: dict[str, Any] = {"state": task.state_name, "task": task.token_hash[:12]}
        if action == "reject":
            detail["reason"] = reason or "Rejected by an operator."
        _audit(request, task.execution, action, **detail)


def _resolve_task(request: HttpRequest, task: TaskToken, action: str, reason: str) -> None:
    if action == "approve":
        services.task_resolve(
            task=task,
            outcome="success",
            output={"approved": True, "by": _actor(request)},
            actor=_actor(request),
        )
    else:
        services.task_resolve(
            task=task,
            outcome="failure",
            error="Rejected",
            cause=reason or "Rejected by an operator.",
            actor=_actor(request),
        )


@admin.register(TaskToken)
class TaskTokenAdmin(admin.ModelAdmin[TaskToken]):
    list_display = [
        "token",
        "execution_link",
        "state_name",
        "created_at",
        "expires_at",
        "consumed_at",
        "resolved_by",
    ]
    list_filter = ["consumed_at", "state_name", "execution__workflow"]
    search_fields = ["execution__name", "state_name", "token_hash"]
    fields = readonly_fields = (
        "token",
        "execution_link",
        "state_name",
        "created_at",
        "expires_at",
        "consumed_at",
        "resolved_by",
        "outcome",
    )
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    @admin.display(description="token (hash)")
    def token(self, obj: TaskToken) -> str:
        return f"{obj.token_hash[:12]}…"

    @admin.display(description="execution")
    def execution_link(self, obj: TaskToken) -> str:
        if obj.execution is None:
            return "—"
        url = reverse("admin:workflows_execution_change", args=[obj.execution.pk])
        from django.utils.html import format_html

        return format_html('<a href="{}">{}</a>', url, obj.execution)

    @admin.action(description="Approve the selected waiting tasks", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[TaskToken]) -> None:
        self._resolve_all(request, queryset, "approve")

    @admin.action(description="Reject the selected waiting tasks", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[TaskToken]) -> None:
        self._resolve_all(request, queryset, "reject")

    def _resolve_all(
        self, request: HttpRequest, queryset: QuerySet[TaskToken], action: str
    ) -> None:
        done = 0
        for task in queryset.filter(consumed_at__isnull=True):
            try:
                _resolve(request, task, action, "")
                done += 1
            except NimbusError as exc:
                self.message_user(request, f"{task}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} task(s) {PAST[action]}.")
