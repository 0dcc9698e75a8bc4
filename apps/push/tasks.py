"""Periodic upkeep run by ``manage.py worker`` (local only: AWS has no relay table)."""

from __future__ import annotations

from project.worker import every


@every(60, name="push.prune-live-messages")
def prune_live_messages() -> None:
    """Relayed live messages are only useful for seconds; drop those older than a minute."""
    from apps.push.services import live_messages_prune

    live_messages_prune()
