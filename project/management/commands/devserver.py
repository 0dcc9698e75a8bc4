"""`make run`: migrate, ensure the demo operator, serve ASGI on :8000 with the worker.

One command, one Ctrl-C: the worker runs as a child process and is stopped (by its PID)
when the server exits. Any address works (`manage.py devserver 127.0.0.1:9000`): pages
build their URLs from the request (project/site.py), and the worker, which serves no
request, is told the address the server listens on unless ``NIMBUS_SITE_URL`` pins one.
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
from django.core.management.base import BaseCommand, CommandError, CommandParser

from project.site import FALLBACK

DEMO_OPERATOR = "operator@nimbus.localhost"


def serving_origin(addrport: str) -> str:
    """The origin a browser on this machine reaches ``runserver <addrport>`` at."""
    from django.core.management.commands.runserver import naiveip_re

    match = naiveip_re.match(addrport)
    if match is None:
        raise CommandError(f'"{addrport}" is not a port number or address:port pair.')
    addr, port = match["addr"], match["port"]
    if not addr or addr in ("0.0.0.0", "0"):  # noqa: S104 - an address to listen on
        addr = "127.0.0.1"
    return f"http://{addr}:{port}"


class Command(BaseCommand):
    help = "Run Nimbus locally: migrate, demo operator, ASGI server and background worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args: Any, addrport: str, no_worker: bool, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        origin = serving_origin(addrport)
        self.ensure_demo_operator(origin)
        worker = None
        if not no_worker:
            env = {**os.environ}
            env["NIMBUS_SITE_URL"] = env.get("NIMBUS_SITE_URL") or origin
            worker = subprocess.Popen([sys.executable, "manage.py", "worker"], env=env)
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

    def ensure_demo_operator(self, origin: str = FALLBACK) -> None:
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
                f"(shown only now; sign in at {origin}/admin/)"
            )
        )
