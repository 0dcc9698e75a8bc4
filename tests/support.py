"""Helpers several test packages share: free ports, a moto server, real worker processes,
probes in a fresh interpreter."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a free 127.0.0.1 port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def start_worker(env: dict[str, str], log_dir: Path, n: int) -> subprocess.Popen[bytes]:
    """A real ``manage.py worker`` in its own session (so it can be SIGKILLed as a group),
    logging to ``log_dir/worker-<n>.log``."""
    log = (log_dir / f"worker-{n}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def fresh_python(code: str, *args: str, env: Mapping[str, str | None] = ()) -> Any:
    """Run ``code`` in a new interpreter on the test settings; its last line, as JSON.

    For what the test process cannot show once it has imported everything (what a cold
    start loads) or must not do to itself (patch botocore). The probe gets its own SQLite
    file; ``env`` adds variables, or removes those given as None.
    """
    with tempfile.TemporaryDirectory() as tmp:
        environ = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings.test",
            "DATABASE_URL": f"sqlite:///{tmp}/probe.sqlite3",
        }
        for key, value in dict(env).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
