"""A live Nimbus for real-browser tests: ASGI server + worker, driven by Debian's chromium.

The session starts what `make run` starts — daphne serving HTTP and WebSockets, and
`manage.py worker` draining tasks, event deliveries and workflow timers — with
``project.settings.browser``: one temporary SQLite file shared by both processes, a
temporary media directory, a file mailbox the tests read codes from, and a Redis channel
layer or the push app's database relay (as `make run`) so the worker's pushes reach the
server's WebSocket consumers. Both processes are
stopped by PID at the end. Their output goes to test-artifacts/browser-*.log.

Every test that uses ``page`` leaves a screenshot of its last page in test-artifacts/
(also when it fails) and fails if the page logged a console error or threw.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("NIMBUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]
# Empty (the default) runs as `make run` does: the worker's pushes reach the server's
# WebSockets through the push app's database relay. Set it (e.g. redis://127.0.0.1:6379/9,
# a database of its own) to run the browser suite over the Redis channel layer instead.
REDIS_URL = os.environ.get("NIMBUS_BROWSER_REDIS_URL", "")
OPERATOR_EMAIL = "operator@nimbus.localhost"
OPERATOR_PASSWORD = "operator-browser-" + "p4ss"  # only ever exists in a temp database


@dataclass
class Mailbox:
    """The file mailbox both processes write to (Django's filebased email backend)."""

    path: Path

    def messages(self) -> list[EmailMessage]:
        found = []
        for file in sorted(self.path.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
            # The backend separates messages in one file by a line of 79 dashes.
            for chunk in re.split(rb"\n-{79}\n", file.read_bytes()):
                if chunk.strip():
                    found.append(message_from_bytes(chunk.lstrip(), policy=policy.default))
        return found  # type: ignore[return-value]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m.get("To", "")).lower()]

    def wait_for(self, to: str, timeout: float = 15.0, *, after: int = 0) -> EmailMessage:
        """The latest message to ``to``, waiting until more than ``after`` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            mine = self.to(to)
            if len(mine) > after:
                return mine[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no new email to {to} within {timeout}s in {self.path}")
            time.sleep(0.2)

    def code_for(self, to: str, timeout: float = 15.0, *, after: int = 0) -> str:
        """The confirmation/reset code in the latest message to ``to`` (6 to 8 digits)."""
        message = self.wait_for(to, timeout, after=after)
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else str(message)
        match = re.search(r"\b(\d{6,8})\b", text)
        assert match, f"no code in the email to {to}: {text!r}"
        return match.group(1)


@dataclass
class LiveNimbus:
    url: str
    env: dict[str, str]
    mailbox: Mailbox
    media: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def manage(self, *args: str, input: str | None = None) -> str:
        """Run a management command against the live database; returns its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def python(self, code: str) -> str:
        """Run Django code in a fresh process against the live database (manage.py shell)."""
        return self.manage("shell", "--no-imports", "-c", code)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within 60s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_nimbus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNimbus]:
    root = tmp_path_factory.mktemp("nimbus-live")
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings.browser",
        "DATABASE_URL": f"sqlite:///{root / 'nimbus.sqlite3'}",
        "MEDIA_ROOT": str(root / "media"),
        "NIMBUS_MAIL_DIR": str(root / "mail"),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "nimbus-browser-tests-" + "k" * 40,
        "DEBUG": "false",  # as in production: the error pages people get
        "PYTHONUNBUFFERED": "1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    nimbus = LiveNimbus(url, env, Mailbox(root / "mail"), root / "media")
    nimbus.mailbox.path.mkdir()
    nimbus.manage("migrate", "--no-input", "-v", "0")
    nimbus.python(
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.models import Group\n"
        f"u = get_user_model().objects.create_superuser({OPERATOR_EMAIL!r}, {OPERATOR_PASSWORD!r})\n"
        "u.groups.add(Group.objects.get_or_create(name='operators')[0])\n"
    )
    server_log = ARTIFACTS / "browser-server.log"
    worker_log = ARTIFACTS / "browser-worker.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
                "--insecure",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    nimbus.processes.append(server)
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.1"],
            cwd=REPO,
            # As `make run` does: the server takes its address from each request, the
            # worker (callback URLs) is told it.
            env={**env, "NIMBUS_SITE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    nimbus.processes.append(worker)
    try:
        _wait_until_up(url, server, server_log)
        yield nimbus
    finally:
        for proc in reversed(nimbus.processes):
            _stop(proc)
        assert worker.returncode in (0, -signal.SIGTERM, -signal.SIGKILL), worker_log.read_text()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for the browser tests only: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and Django refuses database work from
    a thread with a running loop (SynchronousOnlyOperation in the tests that follow)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


class ConsoleWatch:
    """Console errors and uncaught exceptions of every page in a browser context."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Expect an error matching ``pattern`` (e.g. the API refusing a request on purpose:
        Chromium logs every 4xx response as a console error, handled or not)."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def attach(self, page: Any) -> None:
        def on_console(msg: Any) -> None:
            if msg.type == "error":
                where = (msg.location or {}).get("url") or page.url
                self.errors.append(f"console.error on {page.url} ({where}): {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught on {page.url}: {exc}"))


def _artifact_name(node: pytest.Item, suffix: str = "") -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)
    return ARTIFACTS / f"{name}{suffix}.png"


@pytest.fixture
def console() -> ConsoleWatch:
    """The console errors of this test's pages; ``console.allow(regex)`` for expected ones."""
    return ConsoleWatch()


@pytest.fixture
def new_page(
    browser: Any, live_nimbus: LiveNimbus, console: ConsoleWatch, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Open pages in fresh browser contexts (one person each); all are screenshotted at the end.

    ``new_page(label)`` returns a page whose relative ``goto`` URLs go to the live server;
    keyword arguments are Playwright context options (``timezone_id="Asia/Tokyo"``).
    """
    contexts: list[tuple[str, Any]] = []
    watch = console

    def open_page(label: str = "", **options: Any) -> Any:
        context = browser.new_context(
            base_url=live_nimbus.url, viewport={"width": 1280, "height": 900}, **options
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        # Intercept file choosers from the start: Playwright turns interception on without
        # waiting, so a chooser opened right after expect_file_chooser() could be missed.
        page.on("filechooser", lambda chooser: None)
        watch.attach(page)
        contexts.append((label, context))
        return page

    yield open_page
    for label, context in contexts:
        for page in context.pages:
            try:
                page.screenshot(
                    path=str(_artifact_name(request.node, f"-{label}" if label else "")),
                    full_page=True,
                )
            except Exception as exc:  # a crashed page must not hide the test's own failure
                print(f"screenshot failed: {exc}")
        context.close()
    unexpected = watch.unexpected()
    assert not unexpected, "the browser reported errors:\n" + "\n".join(unexpected)


@pytest.fixture
def page(new_page: Any) -> Any:
    """One page in a fresh browser context."""
    return new_page()
