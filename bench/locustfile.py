"""`make load`'s people (Locust; run by bench/load.py, never imports Django).

Each simulated person signs up, confirms with the code from the local mailbox (the file
mail backend's directory, read as the browser tests read it), signs in for tokens, opens
the live-status WebSocket, then repeatedly uploads a small text file (the presigned local
POST), waits on the WebSocket for the file's final status and downloads it, checking the
bytes. Every step is a Locust request, so failures and timings land in its statistics;
the WebSocket wait is reported as ``WS file.status final``.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import websocket
from locust import HttpUser, between, events, task

MAIL_DIR = Path(os.environ["NIMBUS_MAIL_DIR"])
PASSWORD = "load-Test-" + "pass-1234"
FINAL = {"approved", "rejected", "failed"}
STATUS_TIMEOUT = float(os.environ.get("NIMBUS_LOAD_STATUS_TIMEOUT", "60"))


def _code_for(address: str, timeout: float = 30.0) -> str:
    """The code in the latest message to ``address`` in the mail directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for file in sorted(MAIL_DIR.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
            for chunk in re.split(rb"\n-{79}\n", file.read_bytes()):
                if not chunk.strip():
                    continue
                message = message_from_bytes(chunk.lstrip(), policy=policy.default)
                if address.lower() not in str(message.get("To", "")).lower():
                    continue
                body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
                text = body.get_content() if body is not None else str(message)
                match = re.search(r"\b(\d{6,8})\b", text)
                if match:
                    return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no code mailed to {address} within {timeout}s")


def _fire(name: str, started: float, exc: BaseException | None = None, kind: str = "WS") -> None:
    events.request.fire(
        request_type=kind,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=0,
        exception=exc,
        context={},
    )


class Person(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        self.access = ""
        self.ws: Any = None
        self.client.post("/api/auth/signup", json={"email": self.email, "password": PASSWORD})
        started = time.perf_counter()
        try:
            code = _code_for(self.email)
        except AssertionError as exc:
            _fire("sign-up code", started, exc, kind="MAIL")
            return
        _fire("sign-up code", started, kind="MAIL")
        self.client.post("/api/auth/confirm", json={"email": self.email, "code": code})
        answer = self.client.post(
            "/api/auth/token", json={"email": self.email, "password": PASSWORD}
        )
        self.access = answer.json().get("access_token", "") if answer.ok else ""
        self._connect()

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def _connect(self) -> None:
        started = time.perf_counter()
        url = self.host.replace("http://", "ws://", 1) + f"/ws/?token={self.access}"
        try:
            self.ws = websocket.create_connection(url, origin=self.host, timeout=10)
        except Exception as exc:
            self.ws = None
            _fire("WS connect", started, exc)
        else:
            _fire("WS connect", started)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    @task
    def upload_and_download(self) -> None:
        if not self.access:
            return
        if self.ws is None:
            self._connect()
            if self.ws is None:
                return
        data = f"load test {uuid.uuid4()}\n".encode() * 20
        name = f"notes-{uuid.uuid4().hex[:8]}.txt"
        start = self.client.post(
            "/api/files/uploads",
            json={"name": name, "content_type": "text/plain", "size": len(data)},
            headers=self._headers(),
            name="/api/files/uploads",
        )
        if start.status_code != 201:
            return
        body = start.json()
        file_id = body["file_id"]
        self.client.post(
            body["url"],
            data=body["fields"],
            files={"file": (name, data, "text/plain")},
            name="POST presigned upload",
        )
        status = self._wait_final(file_id)
        if status != "approved":
            return
        got = self.client.get(
            f"/api/files/{file_id}/download",
            headers=self._headers(),
            name="/api/files/[id]/download",
        )
        started = time.perf_counter()
        if got.ok and got.content != data:
            _fire("download bytes", started, AssertionError("other bytes"), kind="CHECK")

    def _wait_final(self, file_id: str) -> str | None:
        """The file's final status as the WebSocket tells it (None: it did not, in time)."""
        started = time.perf_counter()
        deadline = time.monotonic() + STATUS_TIMEOUT
        try:
            while time.monotonic() < deadline:
                self.ws.settimeout(max(0.1, deadline - time.monotonic()))
                frame = json.loads(self.ws.recv())
                if (
                    frame.get("type") == "file.status"
                    and frame.get("file_id") == file_id
                    and frame.get("status") in FINAL
                ):
                    _fire("WS file.status final", started)
                    return str(frame["status"])
            raise TimeoutError(f"no final status for {file_id} within {STATUS_TIMEOUT}s")
        except Exception as exc:
            _fire("WS file.status final", started, exc)
            if not isinstance(exc, TimeoutError):
                self.ws = None  # reconnect for the next upload
            return None
