"""System checks of the push backends, and the worker's upkeep of the relay table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.push.backends import push_backends
from apps.push.models import LiveMessage
from project.worker import periodic_jobs


def _check_ids(**kwargs) -> list[str]:
    return [m.id for m in push_backends.check(**kwargs)]


def test_direct_send_to_an_in_memory_layer_is_warned_about(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
            "OPTIONS": {"relay": False},
        }
    }
    assert _check_ids() == ["push.W001"]


def test_relay_over_the_in_memory_layer_is_fine(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
            "OPTIONS": {"relay": True},
        }
    }
    assert _check_ids() == []


def test_local_backend_is_refused_under_deploy_checks(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.local.ChannelsPushBackend",
            "OPTIONS": {"relay": True},
        }
    }
    assert _check_ids(deploy=True) == ["nimbus.E003"]


def test_aws_backend_needs_its_table_and_endpoint(settings):
    settings.NIMBUS_PUSH = {"default": {"BACKEND": "apps.push.backends.aws.ApiGatewayPushBackend"}}
    assert _check_ids(deploy=True) == ["push.E001"]


def test_unknown_option_is_refused(settings):
    settings.NIMBUS_PUSH = {
        "default": {
            "BACKEND": "apps.push.backends.aws.ApiGatewayPushBackend",
            "OPTIONS": {"tabel": "x"},
        }
    }
    assert _check_ids() == ["nimbus.E002"]


@pytest.mark.django_db
def test_worker_prunes_relayed_messages_older_than_a_minute():
    old = LiveMessage.objects.create(user_id=1, frame={"type": "x"})
    LiveMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    fresh = LiveMessage.objects.create(user_id=1, frame={"type": "y"})
    job = periodic_jobs["push.prune-live-messages"]
    assert job.interval == 60
    job.func()
    assert list(LiveMessage.objects.values_list("pk", flat=True)) == [fresh.pk]


@pytest.mark.django_db
def test_the_daily_job_forgets_notifications_past_the_retention(settings, django_user_model):
    from apps.events.registry import schedules
    from apps.push.models import Notification
    from apps.push.services import notifications_prune

    settings.NIMBUS_NOTIFICATION_RETENTION_DAYS = 30
    alice = django_user_model.objects.create_user("alice@example.com")
    now = timezone.now()
    ages = [31, 45, 400, 29, 0]  # days
    made = [
        Notification.objects.create(user=alice, kind="file.status", title=f"{days} days")
        for days in ages
    ]
    for notification, days in zip(made, ages, strict=True):
        Notification.objects.filter(pk=notification.pk).update(
            created_at=now - timedelta(days=days)
        )
    job = schedules["push.prune-notifications"]
    assert job.expression == "rate(1 day)"
    assert "schedule:push.prune-notifications" in periodic_jobs  # the local worker runs it too
    job.func()
    assert list(Notification.objects.values_list("title", flat=True)) == ["29 days", "0 days"]
    assert notifications_prune(batch=1) == 0


@pytest.mark.django_db
def test_pruning_a_backlog_goes_in_batches(settings, django_user_model):
    from apps.push.models import Notification
    from apps.push.services import notifications_prune

    settings.NIMBUS_NOTIFICATION_RETENTION_DAYS = 1
    bob = django_user_model.objects.create_user("bob@example.com")
    Notification.objects.bulk_create(
        Notification(
            user=bob, kind="k", title=str(i), created_at=timezone.now() - timedelta(days=2)
        )
        for i in range(7)
    )
    assert notifications_prune(batch=3) == 7
    assert not Notification.objects.exists()
