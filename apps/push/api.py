"""JSON API endpoints of the push app (mounted by project/api.py)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["push"])
