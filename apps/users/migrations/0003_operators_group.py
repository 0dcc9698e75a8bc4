"""The ``operators`` group carries exactly the permissions the admin checks for operators.

A data migration, so a database migrated on a laptop and one migrated on AWS (``zappa
manage <stage> migrate``) give operators the same rights; nobody grants them by hand.
Viewing and changing only: nothing is added or deleted through the admin by operators, and
they never edit groups (that would let them grant themselves more).

Permissions are created here, not left to ``post_migrate``: on a fresh database that
signal runs only after every migration, too late for this one. An admin model added later
needs a migration like this one; tests/project/test_admin_permissions.py fails until then.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

OPERATORS_GROUP = "operators"

#: ``{app label: [permission codename, ...]}``, frozen as of this migration.
PERMISSIONS: dict[str, list[str]] = {
    "users": ["view_user", "change_user", "view_profile", "change_profile"],
    # change_file is what the re-inspect action checks (the file form itself stays read-only).
    "files": ["view_file", "change_file"],
    "events": [
        "view_event",
        "view_delivery",
        "change_delivery",
        "view_deadletter",
        "change_deadletter",
        "view_inbox",
    ],
    "workflows": ["view_execution", "change_execution", "view_tasktoken", "change_tasktoken"],
    "push": ["view_notification", "view_livemessage"],
    "django_tasks_database": ["view_dbtaskresult"],
}


def _permissions(apps: Any, using: str) -> list[Any]:
    from django.contrib.auth.management import create_permissions

    for label in PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # the state's app stubs have none; the helper asks
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    wanted = [(label, codename) for label, codenames in PERMISSIONS.items() for codename in codenames]
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(using)
        .select_related("content_type")
        .filter(content_type__app_label__in=PERMISSIONS, codename__in=[c for _, c in wanted])
    }
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise RuntimeError(f"Permissions missing for the operators group: {missing}")
    return [found[key] for key in wanted]


def grant(apps: Any, schema_editor: Any) -> None:
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(using).get_or_create(name=OPERATORS_GROUP)
    group.permissions.add(*_permissions(apps, using))


def withdraw(apps: Any, schema_editor: Any) -> None:
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(using).filter(name=OPERATORS_GROUP).first()
    if group is not None:  # the group stays: its members are the provider's to change
        group.permissions.remove(*_permissions(apps, using))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("users", "0002_local_provider_and_profile"),
        ("files", "0001_initial"),
        ("events", "0001_initial"),
        ("workflows", "0001_initial"),
        ("push", "0001_initial"),
        ("django_tasks_database", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, withdraw)]
