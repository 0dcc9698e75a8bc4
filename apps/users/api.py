"""JSON API endpoints of the users app (mounted by project/api.py)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["users"])
