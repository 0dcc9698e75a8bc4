"""Periodic upkeep of the push app."""

from __future__ import annotations

from apps.events.registry import scheduled
from project.worker import every


@every(60, name="push.prune-live-messages")
def prune_live_messages() -> None:
    """Relayed live messages are only useful for seconds; drop those older than a minute.

    Local only (``manage.py worker``): AWS has no relay table.
    """
    from apps.push.services import live_messages_prune

    live_messages_prune()


@scheduled("rate(1 day)", name="push.prune-notifications")
def prune_notifications() -> None:
    """Forget notifications past ``NIMBUS_NOTIFICATION_RETENTION_DAYS`` (locally and on AWS)."""
    from apps.push.services import notifications_prune

    notifications_prune()


@scheduled("rate(1 hour)", name="push.prune-ticket-claims")
def prune_ticket_claims() -> None:
    """Forget the claims of connect tickets that have expired (locally and on AWS)."""
    from apps.push.tickets import connect_ticket_claims_prune

    connect_ticket_claims_prune()
