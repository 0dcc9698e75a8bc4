"""Who reaches the admin: ``manage.py operators grant EMAIL | revoke EMAIL | list``.

Allow-listed for the Lambda entry, so the first operator of a stage is made with
``zappa manage <stage> "operators grant you@example.com"`` (DEPLOY.md section 7). Grants
and revocations go through :mod:`apps.users.services`: the identity provider's group
(Cognito on AWS), the Django group and the audit trail. A refusal exits non-zero.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.users import selectors, services
from project.errors import NimbusError


class Command(BaseCommand):
    help = "Grant or revoke operator rights (the admin), or list who has them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{grant,revoke,list}")
        for name, text in (("grant", "Make an account an operator."), ("revoke", "Stop it.")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("email", help="The account's e-mail address (it must exist).")
        actions.add_parser("list", help="Operators and superusers, checked at the provider.")

    def handle(self, *args: Any, action: str, email: str = "", **options: Any) -> None:
        if action == "list":
            self._list()
            return
        change = services.operator_grant if action == "grant" else services.operator_revoke
        try:
            changed = change(email=email, actor_repr=_actor())
        except NimbusError as error:
            raise CommandError(f"{error.message} ({error.code})") from error
        verb = "is now an operator" if action == "grant" else "is no longer an operator"
        note = "" if changed else " (it already was so here; the provider is in step)"
        self.stdout.write(self.style.SUCCESS(f"{email.strip().lower()} {verb}{note}."))

    def _list(self) -> None:
        try:
            rows = selectors.operator_list()
        except NimbusError as error:
            raise CommandError(f"{error.message} ({error.code})") from error
        provider: dict[bool | None, str] = {
            True: "in the provider's group",
            False: "NOT in the provider's group",
            None: "unknown to the provider",
        }
        for row in rows:
            notes = [provider[row.at_provider]]
            if row.is_superuser:
                notes.append("superuser")
            if not row.in_group:
                notes.append("not in the operators group")
            if not row.is_active:
                notes.append("disabled")
            self.stdout.write(f"{row.email}: {', '.join(notes)}")
        self.stdout.write(f"{len(rows)} account(s) reach the admin.")


def _actor() -> str:
    """Who ran the command, for the audit trail: the Lambda function, or the local user."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        return f"zappa manage ({function})"
    try:
        return f"manage.py operators ({getpass.getuser()})"
    except (KeyError, OSError):
        return "manage.py operators"
