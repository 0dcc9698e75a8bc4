"""The ``operators`` group holds what the admin checks, so the two cannot drift apart.

An operator (staff, in the group, not a superuser) is compared with a superuser on every
registered admin and inline: whatever the superuser may view, change or run as an action,
the operator may too — bar adding and deleting, which operators never do, and the few
admins listed below. A new admin model or action without a migration granting its
permission to the group (like apps/users/migrations/0003_operators_group.py) fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, RequestFactory

from apps.users.models import User
from tests.apps.users.factories import user_create

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]

#: Admins operators must not use at all: editing groups would let them grant themselves more.
NOT_FOR_OPERATORS = {"auth.group"}
#: Admins operators only read (what they hold is the people's own content).
READ_ONLY_FOR_OPERATORS = {"push.notification", "push.livemessage"}


def _request(user: User) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.fixture
def operator() -> User:
    return user_create(email="ops@example.com", groups=["operators"])


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root@example.com", "R00t-password!")


def _may(model_admin: Any, perm: str, request: Any) -> bool:
    check = getattr(model_admin, f"has_{perm}_permission")
    if isinstance(model_admin, admin.options.InlineModelAdmin):
        return bool(check(request, None))
    return bool(check(request))


def _admins(request: Any) -> list[tuple[str, Any]]:
    """Every registered ModelAdmin and the inlines it shows, by model label."""
    found = []
    for model, model_admin in admin.site._registry.items():
        found.append((model._meta.label_lower, model_admin))
        for inline in model_admin.get_inline_instances(request):
            found.append((inline.model._meta.label_lower, inline))
    return found


def test_the_operator_may_view_change_and_act_wherever_a_superuser_may(operator, superuser):
    root, ops = _request(superuser), _request(operator)
    missing = []
    for label, model_admin in _admins(root):
        if label in NOT_FOR_OPERATORS:
            continue
        perms = ["view"] if label in READ_ONLY_FOR_OPERATORS else ["view", "change"]
        for perm in perms:
            if _may(model_admin, perm, root) and not _may(model_admin, perm, ops):
                missing.append(f"{label}: {perm}")
        if isinstance(model_admin, admin.ModelAdmin):
            offered = set(model_admin.get_actions(root)) - {"delete_selected"}
            missing += [f"{label}: action {a}" for a in offered - set(model_admin.get_actions(ops))]
    assert missing == []


def test_every_permission_the_admin_code_names_is_held_by_the_group(operator):
    sources = [*REPO.glob("apps/*/admin.py"), *REPO.glob("project/admin*.py")]
    named = {
        perm
        for source in sources
        for perm in re.findall(r"has_perm\(\s*[\"']([\w.]+)[\"']", source.read_text())
    }
    assert "events.change_delivery" in named  # the scan does find them
    assert sorted(p for p in named if not operator.has_perm(p)) == []


def test_operators_add_and_delete_nothing_and_never_touch_groups(operator, superuser):
    ops = _request(operator)
    allowed = []
    for label, model_admin in _admins(_request(superuser)):
        for perm in ("add", "delete"):
            if _may(model_admin, perm, ops):
                allowed.append(f"{label}: {perm}")
        if label in NOT_FOR_OPERATORS and _may(model_admin, "view", ops):
            allowed.append(f"{label}: view")
    assert allowed == []


def test_the_group_holds_nothing_for_models_outside_the_admin(superuser):
    shown = {label for label, _ in _admins(_request(superuser))}
    held = {
        f"{p.content_type.app_label}.{p.content_type.model}"
        for p in Group.objects.get(name="operators").permissions.select_related("content_type")
    }
    assert held
    assert held <= shown


def test_an_operator_reaches_the_lists_the_rehearsal_found_refused(operator):
    client = Client()
    client.force_login(operator)
    for path in (
        "/admin/users/user/",
        "/admin/files/file/",
        "/admin/events/event/",
        "/admin/events/delivery/",
        "/admin/events/deadletter/",
        "/admin/workflows/execution/",
        "/admin/workflows/tasktoken/",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/auth/group/").status_code == 403


def test_the_migration_grants_the_permissions_on_a_database_that_has_none_yet():
    """On a fresh database ``post_migrate`` has not made any permission when it runs."""
    migration = importlib.import_module("apps.users.migrations.0003_operators_group")
    Permission.objects.all().delete()
    Group.objects.filter(name="operators").delete()
    state = MigrationExecutor(connection).loader.project_state(("users", "0003_operators_group"))
    migration.grant(state.apps, SimpleNamespace(connection=connection))
    held = set(
        Group.objects.get(name="operators").permissions.values_list(
            "content_type__app_label", "codename"
        )
    )
    expected = {(app, c) for app, codenames in migration.PERMISSIONS.items() for c in codenames}
    assert held == expected
