"""Connect tickets open one WebSocket each: redeeming consumes them, atomically."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from apps.events.registry import schedules
from apps.push.models import ConnectTicketClaim
from apps.push.tickets import connect_ticket_issue, connect_ticket_redeem


@pytest.mark.django_db
def test_a_ticket_is_redeemed_once(alice):
    ticket = connect_ticket_issue(user_id=alice.pk)
    assert connect_ticket_redeem(ticket=ticket) == alice.pk
    assert connect_ticket_redeem(ticket=ticket) is None


@pytest.mark.django_db
def test_each_ticket_is_its_own_claim(alice, bob):
    first = connect_ticket_issue(user_id=alice.pk)
    assert connect_ticket_redeem(ticket=first) == alice.pk
    assert connect_ticket_redeem(ticket=connect_ticket_issue(user_id=bob.pk)) == bob.pk
    assert ConnectTicketClaim.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("ending", ["sign_out", "disable", "password_change", "delete"])
def test_a_ticket_issued_before_the_sessions_ended_is_refused(alice, ending):
    from apps.users import services
    from tests.apps.users.factories import PASSWORD

    ticket = connect_ticket_issue(user_id=alice.pk)
    if ending == "sign_out":
        services.account_sign_out(user=alice)
    elif ending == "disable":
        services.account_disable(user=alice)
    elif ending == "password_change":
        services.password_change(user=alice, old_password=PASSWORD, new_password="N3w-pass-w0rd!")
    else:
        services.account_delete(user=alice)
    assert connect_ticket_redeem(ticket=ticket) is None
    assert not ConnectTicketClaim.objects.exists()


@pytest.mark.django_db
def test_a_ticket_issued_after_a_sign_out_works(alice):
    from apps.users import services

    services.account_sign_out(user=alice)
    assert connect_ticket_redeem(ticket=connect_ticket_issue(user_id=alice.pk)) == alice.pk


@pytest.mark.django_db
def test_no_ticket_is_issued_for_a_disabled_account(alice):
    alice.is_active = False
    alice.save()
    with pytest.raises(ValueError, match="No active account"):
        connect_ticket_issue(user_id=alice.pk)


@pytest.mark.django_db
def test_forged_tickets_are_refused_without_writing_a_claim(alice):
    _user, stamp, signature = connect_ticket_issue(user_id=alice.pk).split(":")
    assert connect_ticket_redeem(ticket=f"{alice.pk + 1}:{stamp}:{signature}") is None
    assert connect_ticket_redeem(ticket="garbage") is None
    assert not ConnectTicketClaim.objects.exists()


@pytest.mark.django_db
def test_claims_outlive_their_ticket_and_are_then_pruned(alice):
    connect_ticket_redeem(ticket=connect_ticket_issue(user_id=alice.pk))
    assert ConnectTicketClaim.objects.get().expires_at > timezone.now() + timedelta(seconds=60)
    job = schedules["push.prune-ticket-claims"]
    job.func()
    assert ConnectTicketClaim.objects.count() == 1  # its ticket could still be presented
    ConnectTicketClaim.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    job.func()
    assert not ConnectTicketClaim.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_redeems_exactly_one_wins(alice):
    """Two containers racing on one ticket: each thread has its own database connection."""
    ticket = connect_ticket_issue(user_id=alice.pk)
    start = threading.Barrier(2)
    results: list[int | None] = []
    errors: list[BaseException] = []

    def redeem() -> None:
        try:
            start.wait(timeout=5)
            results.append(connect_ticket_redeem(ticket=ticket))
        except OperationalError as exc:
            # SQLite's shared-cache test database refuses a second writer outright
            # ("table is locked") instead of waiting: the loser is refused, not let in.
            if connection.vendor == "sqlite" and "locked" in str(exc):
                results.append(None)
            else:
                errors.append(exc)
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert sorted(results, key=lambda r: r is None) == [alice.pk, None]
    assert ConnectTicketClaim.objects.count() == 1
