"""A push backend that records what it would have delivered (for tests of callers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apps.push.backends.base import PushBackend


class DummyPushBackend(PushBackend):
    """Keeps ``(user_id, frame)`` pairs in ``sent`` instead of delivering them, and the
    users whose connections were closed in ``closed``."""

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.closed: list[int] = []

    def send(self, *, user_ids: Sequence[int], frame: dict[str, Any]) -> None:
        self.sent.extend((int(user_id), frame) for user_id in user_ids)

    def close(self, *, user_ids: Sequence[int]) -> None:
        self.closed.extend(int(user_id) for user_id in user_ids)

    def frames_for(self, user_id: int) -> list[dict[str, Any]]:
        return [frame for uid, frame in self.sent if uid == user_id]
