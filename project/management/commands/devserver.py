"""`make run`: migrate, ensure the demo operator, serve ASGI on :8000 with the worker.

One command, one Ctrl-C: the worker runs as a child process and is stopped (by its PID)
when the server exits.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

DEMO_OPERATOR = "operator@nimbus.localhost"


class Command(BaseCommand):
    help = "Run Nimbus locally: migrate, demo operator, ASGI server and background worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args: Any, addrport: str, no_worker: bool, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_demo_operator()
        worker = None
        if not no_worker:
            worker = subprocess.Popen([sys.executable, "manage.py", "worker"], env={**os.environ})
        try:
            call_command("runserver", addrport, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()

    def ensure_demo_operator(self) -> None:
        """Create the operator account once, printing its generated password that once.

        An ordinary confirmed account made an operator as on AWS (``operators grant``): its
        admin rights are the ``operators`` group's, not a superuser's.
        """
        from apps.users.services import operator_grant

        User = get_user_model()
        if User.objects.filter(email=DEMO_OPERATOR).exists():
            self.stdout.write(f"Demo operator: {DEMO_OPERATOR} (password printed when created)")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_user(DEMO_OPERATOR, password, email_verified=True)
        operator_grant(email=DEMO_OPERATOR, actor_repr="manage.py devserver")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the demo operator {DEMO_OPERATOR} with password {password} "
                "(shown only now; sign in at http://127.0.0.1:8000/admin/)"
            )
        )
