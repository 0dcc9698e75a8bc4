"""Web pages of the push app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.push.models import Notification


@login_required
def notification_list_page(request: HttpRequest) -> HttpResponse:
    """The signed-in user's latest notifications; live.js prepends new ones."""
    user_id = int(request.user.pk or 0)  # login_required: always a signed-in user
    notifications = Notification.objects.filter(user_id=user_id).order_by("-id")[:50]
    return render(request, "push/notifications.html", {"notifications": notifications})
