"""Redrive dead-lettered deliveries: ``manage.py events_redrive [--receiver R] [--event ID]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.events.models import Delivery
from apps.events.services import delivery_redrive


class Command(BaseCommand):
    help = "Give dead deliveries a fresh set of attempts (all, or one receiver's / one event's)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--receiver", help="Only deliveries to this receiver.")
        parser.add_argument("--event", help="Only deliveries of this event id.")
        parser.add_argument("--dry-run", action="store_true", help="List, do not redrive.")

    def handle(
        self, *args: Any, receiver: str | None, event: str | None, dry_run: bool, **options: Any
    ) -> None:
        dead = Delivery.objects.filter(status=Delivery.Status.DEAD).order_by("created_at")
        if receiver:
            dead = dead.filter(receiver=receiver)
        if event:
            dead = dead.filter(event_id=event)
        count = 0
        for delivery in dead:
            self.stdout.write(
                f"{delivery.event_id} -> {delivery.receiver}: {delivery.last_error[:100]}"
            )
            if not dry_run:
                delivery_redrive(delivery_id=delivery.pk)
            count += 1
        verb = "Would redrive" if dry_run else "Redriven"
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} dead delivery(ies)."))
