"""JSON API endpoints of the users app (mounted at ``/api/`` by project/api.py)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from apps.users.auth import api_auth

router = Router(tags=["users"])


class MeOut(Schema):
    id: int
    email: str
    name: str
    groups: list[str]
    is_staff: bool


@router.get("/me", response=MeOut, auth=api_auth, summary="The signed-in account")
def me(request: HttpRequest) -> MeOut:
    user = request.auth  # type: ignore[attr-defined]
    return MeOut(
        id=user.pk,
        email=user.email,
        name=user.name,
        groups=sorted(user.groups.values_list("name", flat=True)),
        is_staff=user.is_staff,
    )
