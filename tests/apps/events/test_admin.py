"""Operators: events and dead letters in the admin, redrive/discard/replay, the catalog,
and the redrive command."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.events import registry
from apps.events.models import Delivery, Event
from apps.events.services import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(
        email="ops@example.com", password="x-very-secret-1"
    )


@pytest.fixture
def dead_delivery(
    order_placed: registry.EventType, local_bus: Any, django_capture_on_commit_callbacks: Any
) -> Delivery:
    state = {"fail": True}

    @registry.receiver("shop.OrderPlaced", name="shop.charge")
    def charge(event: Any) -> None:
        if state["fail"]:
            raise RuntimeError("payment provider down")

    with django_capture_on_commit_callbacks(execute=True):
        publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": 3})
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DEAD
    state["fail"] = False
    return delivery


def test_dead_letter_list_shows_error_and_redrive_runs_it(
    client: Any, operator: Any, dead_delivery: Delivery, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(operator)
    page = client.get(reverse("admin:events_deadletter_changelist"))
    assert page.status_code == 200
    assert "payment provider down" in page.content.decode()
    detail = client.get(reverse("admin:events_deadletter_change", args=[dead_delivery.pk]))
    assert "Traceback" in detail.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:events_deadletter_changelist"),
            {"action": "redrive", "_selected_action": [dead_delivery.pk]},
        )
    assert response.status_code == 302
    dead_delivery.refresh_from_db()
    assert dead_delivery.status == Delivery.Status.SUCCEEDED
    assert dead_delivery.attempts == 1


def test_discard_removes_dead_letter(client: Any, operator: Any, dead_delivery: Delivery) -> None:
    client.force_login(operator)
    client.post(
        reverse("admin:events_deadletter_changelist"),
        {"action": "discard", "_selected_action": [dead_delivery.pk]},
    )
    assert not Delivery.objects.exists()
    assert Event.objects.count() == 1


def test_event_page_shows_payload_and_deliveries(
    client: Any, operator: Any, dead_delivery: Delivery
) -> None:
    client.force_login(operator)
    page = client.get(reverse("admin:events_event_change", args=[dead_delivery.event_id]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "o-1" in body
    assert "shop.charge" in body
    assert "payment provider down" in body


def test_replay_runs_one_receiver_again(
    client: Any,
    operator: Any,
    order_placed: registry.EventType,
    local_bus: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[str] = []
    registry.receiver("shop.OrderPlaced", name="shop.a")(lambda e: calls.append("a"))
    registry.receiver("shop.OrderPlaced", name="shop.b")(lambda e: calls.append("b"))
    with django_capture_on_commit_callbacks(execute=True):
        event = publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": 3})
    assert sorted(calls) == ["a", "b"]
    client.force_login(operator)
    page = client.get(reverse("admin:events_event_change", args=[event.pk])).content.decode()
    assert "<li>shop.a at" in page
    url = reverse("admin:events_event_replay", args=[event.pk])
    assert "shop.b (matches)" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"receiver": "shop.b"})
    assert response.status_code == 302
    assert sorted(calls) == ["a", "b", "b"]
    bad = client.post(url, {"receiver": "nope"})
    assert "No receiver named" in bad.content.decode()


def test_replay_needs_staff(client: Any, dead_delivery: Delivery, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user(email="u@example.com", password="x-secret-123")
    client.force_login(user)
    response = client.post(
        reverse("admin:events_event_replay", args=[dead_delivery.event_id]),
        {"receiver": "shop.charge"},
    )
    assert response.status_code == 302  # to the admin login
    assert dead_delivery.__class__.objects.get().status == Delivery.Status.DEAD


def test_catalog_lists_types_schemas_receivers_and_schedules(
    client: Any, operator: Any, order_placed: registry.EventType
) -> None:
    registry.receiver({"detail-type": ["shop.OrderPlaced"]}, name="shop.mail")(lambda e: None)
    client.force_login(operator)
    page = client.get(reverse("admin:events_catalog"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "shop.OrderPlaced" in body
    assert "Object Created" in body
    assert "shop.mail" in body
    assert "&quot;minimum&quot;: 0" in body
    assert "events.sweep-outbox" in body
    assert "rate(1 minute)" in body


def test_redrive_command(dead_delivery: Delivery, django_capture_on_commit_callbacks: Any) -> None:
    out = StringIO()
    call_command("events_redrive", "--dry-run", stdout=out)
    assert "Would redrive 1" in out.getvalue()
    assert Delivery.objects.get().status == Delivery.Status.DEAD
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("events_redrive", "--receiver", "shop.charge", stdout=out)
    assert "Redriven 1" in out.getvalue()
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_event_list_links_to_catalog_and_dead_letters(client: Any, operator: Any) -> None:
    client.force_login(operator)
    page = client.get(reverse("admin:events_event_changelist")).content.decode()
    assert reverse("admin:events_catalog") in page
    assert reverse("admin:events_sqs_dlq") in page


def test_replay_of_a_running_delivery_is_refused(
    order_placed: registry.EventType, local_bus: Any
) -> None:
    from apps.events.exceptions import DeliveryStateError
    from apps.events.services import event_replay

    registry.receiver("shop.OrderPlaced", name="shop.a")(lambda e: None)
    event = publish("shop.OrderPlaced", {"order_id": "o-1", "owner_id": "u-1", "total": 3})
    Delivery.objects.create(event=event, receiver="shop.a", status=Delivery.Status.RUNNING)
    with pytest.raises(DeliveryStateError, match="running"):
        event_replay(event_id=event.pk, receiver="shop.a")
