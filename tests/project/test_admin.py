"""The admin: operators only, an audit trail of what they do, the metrics page."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client

from apps.users.models import User
from project.admin_site import NimbusAdminSite
from project.models import AuditEntry, MetricSample

pytestmark = pytest.mark.django_db

PASSWORD = "An0ther-long-pass!"


def _user(email: str, *, staff=True, active=True, operator=False, superuser=False) -> User:
    if superuser:
        user = User.objects.create_superuser(email, PASSWORD)
    else:
        user = User.objects.create_user(email, PASSWORD, is_staff=staff, is_active=active)
    if operator:
        group, _ = Group.objects.get_or_create(name="operators")
        user.groups.add(group)
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator() -> User:
    """An operator allowed to manage groups (model permissions still apply in the admin)."""
    from django.contrib.auth.models import Permission

    user = _user("ops@example.com", operator=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", content_type__model="group")
    )
    return user


def test_the_default_admin_site_is_nimbus_site():
    assert isinstance(admin.site._wrapped, NimbusAdminSite)
    # Apps keep registering on admin.site (auth's Group, our AuditEntry).
    assert AuditEntry in admin.site._registry
    assert Group in admin.site._registry


@pytest.mark.parametrize(
    ("kwargs", "allowed"),
    [
        ({"operator": True}, True),
        ({"superuser": True}, True),
        ({}, False),  # staff, not an operator
        ({"operator": True, "staff": False}, False),
        ({"operator": True, "active": False}, False),
    ],
)
def test_only_active_staff_operators_reach_the_admin(kwargs, allowed):
    user = _user("someone@example.com", **kwargs)
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_a_staff_member_outside_operators_is_denied_and_audited():
    user = _user("staff@example.com")
    _client(user).get("/admin/nimbus/auditentry/")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.detail) == (
        "denied",
        user,
        {"path": "/admin/nimbus/auditentry/"},
    )


def test_changes_through_the_admin_are_audited_with_who_what_when(operator):
    client = _client(operator)
    response = client.post(
        "/admin/auth/group/add/",
        {"name": "reviewers"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="6.6.6.6",  # the caller's own words: not what is recorded
    )
    assert response.status_code == 302
    group = Group.objects.get(name="reviewers")
    entry = AuditEntry.objects.get(action="add")
    assert entry.actor == operator
    assert entry.actor_repr == "ops@example.com"
    assert (entry.target_type, entry.target_id, entry.target_repr) == (
        "auth.group",
        str(group.pk),
        "reviewers",
    )
    assert entry.ip_address == "203.0.113.9"
    assert entry.request_id == response["X-Request-Id"]
    assert entry.at is not None


def test_bulk_actions_are_audited(operator):
    groups = [Group.objects.create(name=f"g{i}") for i in range(2)]
    client = _client(operator)
    ids = [str(g.pk) for g in groups]
    data = {"action": "delete_selected", "_selected_action": ids, "index": "0"}
    client.post("/admin/auth/group/", data)  # the confirmation page
    response = client.post("/admin/auth/group/", {**data, "post": "yes"})
    assert response.status_code == 302
    assert not Group.objects.filter(pk__in=ids).exists()
    actions = AuditEntry.objects.filter(action="action").order_by("at", "pk")
    assert [(a.detail["name"], a.detail["confirmed"], a.detail["selected"]) for a in actions] == [
        ("delete_selected", False, ids),
        ("delete_selected", True, ids),
    ]
    # the objects are named (before the confirmed deletion took them) and so is the action
    assert [(a.target_type, a.target_repr) for a in actions] == [("auth.group", "g0, g1")] * 2
    assert actions[1].detail["verdict"] == "Delete selected groups"
    assert AuditEntry.objects.filter(action="delete").count() == 2


def test_admin_sign_in_failures_are_audited_and_counted(settings):
    from project import telemetry

    telemetry.metrics.default.samples.clear()
    _user("ops@example.com", operator=True)
    client = Client()
    response = client.post(
        "/admin/login/", {"username": "ops@example.com", "password": "wrong-password-1"}
    )
    assert response.status_code == 200  # the form again, with an error
    entry = AuditEntry.objects.get(action="sign_in_failed")
    assert entry.actor is None
    assert entry.actor_repr == "ops@example.com"
    assert "wrong-password-1" not in str(entry.detail)
    assert telemetry.metrics.default.samples == [
        ("AuthFailures", 1.0, "Count", {"reason": "admin_sign_in"})
    ]
    response = client.post("/admin/login/", {"username": "ops@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="sign_in", actor__email="ops@example.com").exists()


def test_the_audit_trail_is_read_only_even_for_superusers():
    root = _user("root@example.com", superuser=True)
    entry = AuditEntry.objects.create(action="change", actor_repr="x")
    client = _client(root)
    assert client.get(f"/admin/nimbus/auditentry/{entry.pk}/change/").status_code == 200
    assert (
        client.post(f"/admin/nimbus/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/nimbus/auditentry/add/").status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_metrics_page_sums_recent_metrics(
    operator, settings, django_capture_on_commit_callbacks
):
    from project import telemetry

    settings.NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.LocalMetrics"}}
    with django_capture_on_commit_callbacks(execute=True):  # the test runs in a transaction
        telemetry.metric(telemetry.UPLOADS_REJECTED, reason="too_large")
        telemetry.metric(telemetry.UPLOADS_REJECTED, reason="too_large")
        telemetry.metric(telemetry.UPLOADS_STARTED)
    assert MetricSample.objects.count() == 3
    response = _client(operator).get("/admin/metrics/?hours=6")
    assert response.status_code == 200
    rows = [(r["name"], r["dimensions_text"], r["count"]) for r in response.context["rows"]]
    assert rows == [("UploadsRejected", "reason=too_large", 2), ("UploadsStarted", "", 1)]
    assert b"UploadsRejected" in response.content
    index = _client(operator).get("/admin/")
    assert b"/admin/metrics/" in index.content


def test_the_metrics_page_is_for_operators_only():
    response = _client(_user("staff@example.com")).get("/admin/metrics/")
    assert response.status_code == 302


def test_the_admin_asks_once_per_request_whether_someone_is_an_operator(operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(operator)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    group_lookups = [q for q in queries if 'SELECT 1 AS "a" FROM "auth_group"' in q["sql"]]
    assert len(group_lookups) == 1


def test_a_blank_value_in_a_list_filter_is_named(operator):
    from project.admin_site import audit_record

    audit_record(action=AuditEntry.Action.SIGN_IN, actor=operator)  # no target type
    audit_record(action=AuditEntry.Action.ACTION, actor=operator, target_type="auth.group")
    html = _client(operator).get("/admin/nimbus/auditentry/").content.decode()
    assert '<a href="?target_type=">(none)</a>' in html
    assert '<a href="?target_type=auth.group">auth.group</a>' in html
