"""Web pages of the push app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.push.models import Notification
from apps.push.services import notifications_mark_read


@login_required
def notification_list_page(request: HttpRequest) -> HttpResponse:
    """The signed-in user's latest notifications; live.js prepends new ones.

    Opening the page is seeing them: the ones shown are marked read (they still look unread
    on this visit), so the unread badge clears here and on the user's other open pages.
    """
    user_id = int(request.user.pk or 0)  # login_required: always a signed-in user
    notifications = list(Notification.objects.filter(user_id=user_id).order_by("-id")[:50])
    if notifications:
        notifications_mark_read(user_id=user_id, up_to=notifications[0].pk)
    return render(request, "push/notifications.html", {"notifications": notifications})


@csrf_exempt  # the signed token is the credential; mail clients POST it (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners only ever GET); POST turns the account's file e-mails off."""
    from apps.push.mail import unsubscribe_user_id
    from apps.users.models import Profile, User

    user_id = unsubscribe_user_id(token)
    user = None if user_id is None else User.objects.filter(pk=user_id).first()
    if user is None:
        return render(request, "push/unsubscribe.html", {"invalid": True}, status=404)
    done = request.method == "POST"
    if done:
        Profile.objects.update_or_create(user=user, defaults={"email_notifications": False})
    return render(request, "push/unsubscribe.html", {"done": done, "email": user.email})
