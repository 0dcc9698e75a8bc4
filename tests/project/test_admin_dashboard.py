"""The operator numbers on the admin index: counts, links, permissions, absent apps."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.users.models import User
from project.admin_dashboard import Source, Tile, dashboard_tiles

pytestmark = pytest.mark.django_db

TILES = (
    Tile(
        "operators",
        "Operators",
        "People in the operators group.",
        (
            Source("auth.Group", "Groups", {"name__exact": "operators"}),
            Source("nowhere.Missing", "Never shown"),
        ),
        alert_when_nonzero=True,
    ),
    Tile("absent", "Absent", "Only models that are not installed.", (Source("nowhere.X", "X"),)),
    Tile(
        "unknown_field",
        "Unknown field",
        "A source filtering on a field the model lacks is skipped.",
        (Source("auth.Group", "Groups", {"colour__exact": "red"}),),
    ),
)


def test_tiles_count_present_models_link_to_filtered_lists_and_skip_absent_ones() -> None:
    Group.objects.get_or_create(name="operators")  # the operators migration made it
    Group.objects.create(name="others")
    superuser = User.objects.create_superuser("root@example.com", "pw-1234567890")

    tiles = dashboard_tiles(user=superuser, tiles=TILES)

    assert [t.key for t in tiles] == ["operators"]
    (tile,) = tiles
    assert tile.total == 1
    assert tile.alert is True
    assert [p.label for p in tile.parts] == ["Groups"]
    assert tile.url == "/admin/auth/group/?name__exact=operators"


def test_staff_without_view_permission_sees_no_counts() -> None:
    staff = User.objects.create_user("staff@example.com", "pw-1234567890", is_staff=True)
    assert dashboard_tiles(user=staff, tiles=TILES) == []


def test_admin_index_shows_the_dashboard(client) -> None:
    superuser = User.objects.create_superuser("root@example.com", "pw-1234567890")
    client.force_login(superuser)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"At a glance" in response.content


def test_isnull_filters_count_like_the_admin_list_they_link_to() -> None:
    superuser = User.objects.create_superuser("root@example.com", "pw-1234567890")
    User.objects.create_user("never@example.com", "pw-1234567890")
    tiles = (
        Tile(
            "never_signed_in",
            "Never signed in",
            "",
            (Source("users.User", "Users", {"last_login__isnull": "True"}),),
        ),
    )
    (tile,) = dashboard_tiles(user=superuser, tiles=tiles)
    assert tile.total == 2
    assert tile.url == "/admin/users/user/?last_login__isnull=True"


def test_a_file_awaiting_approval_counts_once_though_it_also_waits_on_a_callback() -> None:
    from django.utils import timezone

    from apps.files.models import File
    from apps.workflows.models import Execution, TaskToken
    from project.admin_dashboard import TILES

    superuser = User.objects.create_superuser("root@example.com", "pw-1234567890")
    owner = User.objects.create_user("owner@example.com", "pw-1234567890")
    file = File.objects.create(
        owner=owner,
        name="a.pdf",
        key="k/a.pdf",
        declared_type="application/pdf",
        declared_size=10,
        upload_expires_at=timezone.now(),
        status="awaiting_approval",
    )
    execution = Execution.objects.create(workflow="file_review", name=f"file-{file.pk}")
    TaskToken.objects.create(execution=execution, state_name="AwaitApproval", token_hash="a" * 64)

    (tile,) = [
        t for t in dashboard_tiles(user=superuser, tiles=TILES) if t.key == "awaiting_approval"
    ]
    assert tile.total == 1
    assert [(p.label, p.count) for p in tile.parts] == [("Files", 1), ("Pending callbacks", 1)]
