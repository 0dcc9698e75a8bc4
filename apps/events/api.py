"""JSON API endpoints of the events app (mounted by project/api.py)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["events"])
