"""Account pages. Each view validates a form, calls one service and maps the provider's
refusals onto form errors; a Django session starts only after the provider accepted the
person (``account_sign_in`` returned)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.users import exceptions as exc
from apps.users import forms, services
from apps.users.models import Profile
from project.errors import NimbusError

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

#: Which form field a provider error belongs to (else it is shown above the form).
_FIELD_OF = {
    exc.EmailTaken.code: "email",
    exc.PasswordTooWeak.code: "password",
    exc.CodeInvalid.code: "code",
    exc.CodeExpired.code: "code",
    exc.CodeAttemptsExceeded.code: "code",
    exc.CodeUsed.code: "code",
}


def _attempt(
    form: Form, call: Callable[[], Any], *, weak_field: str = "password"
) -> NimbusError | None:
    """Run ``call``; on a NimbusError put its message on the form and return the error."""
    try:
        call()
    except NimbusError as error:
        field = _FIELD_OF.get(error.code)
        if field == "password":
            field = weak_field
        form.add_error(field if field in form.fields else None, error.message)
        return error
    return None


def _page(
    request: HttpRequest, template: str, error: NimbusError | None = None, **context: Any
) -> HttpResponse:
    """The page, with the refusal's status, and ``Retry-After`` when it says when (a 429's
    message already says it in words: "try again in 2 minutes")."""
    status = error.status if error is not None else 200
    response = render(request, f"users/{template}", context, status=status)
    if error is not None and (retry_after := error.detail.get("retry_after")) is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _federation_providers() -> list[str]:
    """The "Sign in with …" buttons: the federated IdPs the identity backend has."""
    from apps.users.federation import federation_providers

    return federation_providers()


def _ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _with_email(path: str, email: str) -> str:
    return f"{path}?{urlencode({'email': email})}"


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        error = _attempt(
            form,
            lambda: services.account_sign_up(
                email=d["email"], password=d["password"], name=d["name"]
            ),
        )
        if error is None:
            # The same words whether or not the address already had an account (its mail says).
            messages.success(request, "We emailed you. Enter the code from the email to confirm.")
            return redirect(_with_email("/accounts/confirm/", d["email"]))
        return _page(request, "signup.html", error, form=form)
    return _page(request, "signup.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    initial = {"email": request.GET.get("email", "")}
    form = forms.ConfirmForm(request.POST or None, initial=initial)
    if request.method == "POST" and "resend" in request.POST:
        resend = forms.ResendForm(request.POST)
        error = None
        if resend.is_valid():
            email = resend.cleaned_data["email"]
            error = _attempt(resend, lambda: services.account_resend_confirmation(email=email))
            if error is None:
                messages.success(request, "We sent you a new code.")
                return redirect(_with_email("/accounts/confirm/", email))
        # The refusal above the form (a limit says when: "try again in 2 minutes").
        message = " ".join(str(e) for errors in resend.errors.values() for e in errors)
        return _page(
            request,
            "confirm.html",
            error or NimbusError("resend"),
            form=forms.ConfirmForm(initial=request.POST),
            error_message=message or "Could not send a code.",
        )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        error = _attempt(form, lambda: services.account_confirm(email=d["email"], code=d["code"]))
        if error is None:
            messages.success(request, "Your account is confirmed. Sign in to continue.")
            return redirect(_with_email("/accounts/signin/", d["email"]))
        return _page(request, "confirm.html", error, form=form)
    return _page(request, "confirm.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = forms.SignInForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            user, _ = services.account_sign_in(
                email=d["email"], password=d["password"], ip=_ip(request)
            )
        except exc.UserNotConfirmed:
            messages.info(request, "Confirm your email address first: enter the code we sent.")
            return redirect(_with_email("/accounts/confirm/", d["email"]))
        except NimbusError as error:
            form.add_error(None, error.message)  # a wait says how long ("try again in 8 s")
            return _page(
                request,
                "signin.html",
                error,
                form=form,
                next=next_url,
                providers=_federation_providers(),
                # The account is under attack: a link by mail still lets its owner in.
                offer_link=error.detail.get("scope") == "signin-account",
            )
        login(request, user, backend=MODEL_BACKEND)
        return HttpResponseRedirect(_safe_next(request, next_url))
    return _page(
        request, "signin.html", form=form, next=next_url, providers=_federation_providers()
    )


@require_POST
def signin_link_request(request: HttpRequest) -> HttpResponse:
    """Mail a one-time sign-in link (the same answer for every address)."""
    form = forms.SignInLinkForm(request.POST)
    if form.is_valid():
        services.signin_link_send(email=form.cleaned_data["email"])
    messages.success(
        request, "If an account uses that address, we emailed it a sign-in link (15 minutes)."
    )
    return redirect("/accounts/signin/")


@never_cache
@require_http_methods(["GET", "POST"])
def signin_link(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Opening the link shows a button; only the POST signs in (mail scanners GET links)."""
    try:
        if request.method == "GET":
            user = services.signin_link_check(uidb64=uidb64, token=token)
        else:
            user = services.signin_link_use(uidb64=uidb64, token=token, ip=_ip(request))
    except NimbusError as error:
        response = _page(request, "signin_link.html", error, error_message=error.message)
        response._has_been_logged = True  # type: ignore[attr-defined]  # the path is a credential
        return response
    if request.method == "GET":
        return _page(request, "signin_link.html", email=user.email)
    login(request, user, backend=MODEL_BACKEND)
    return HttpResponseRedirect(str(settings.LOGIN_REDIRECT_URL))


def _safe_next(request: HttpRequest, next_url: str) -> str:
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return str(settings.LOGIN_REDIRECT_URL)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """End this browser session; with ``everywhere`` also every token and other session."""
    user = request.user
    if request.POST.get("everywhere") and user.is_authenticated:
        try:
            services.account_sign_out(user=user)
        except NimbusError as error:
            messages.error(request, f"Could not sign out other devices: {error.message}")
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect(str(settings.LOGOUT_REDIRECT_URL))


@never_cache
@require_http_methods(["GET", "POST"])
def password_forgot(request: HttpRequest) -> HttpResponse:
    form = forms.ForgotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        error = _attempt(form, lambda: services.password_forgot(email=email))
        if error is None:
            messages.success(
                request, "If an account uses that address, we emailed it a reset code."
            )
            return redirect(_with_email("/accounts/password/reset/", email))
        return _page(request, "password_forgot.html", error, form=form)
    return _page(request, "password_forgot.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = forms.ResetForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        error = _attempt(
            form,
            lambda: services.password_reset(
                email=d["email"], code=d["code"], new_password=d["new_password"]
            ),
            weak_field="new_password",
        )
        if error is None:
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return redirect(_with_email("/accounts/signin/", d["email"]))
        return _page(request, "password_reset.html", error, form=form)
    return _page(request, "password_reset.html", form=form)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = forms.ChangePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        user: Any = request.user
        error = _attempt(
            form,
            lambda: services.password_change(
                user=user,
                old_password=d["old_password"],
                new_password=d["new_password"],
                ip=_ip(request),
            ),
            weak_field="new_password",
        )
        if error is None:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("/accounts/settings/")
        return _page(request, "password_change.html", error, form=form)
    return _page(request, "password_change.html", form=form)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    profile, _ = Profile.objects.get_or_create(user=user)
    initial = {
        "name": user.name,
        "timezone": profile.timezone,
        "email_notifications": profile.email_notifications,
    }
    form = forms.SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        error = _attempt(
            form,
            lambda: services.account_settings_update(
                user=user,
                name=d["name"],
                time_zone=d["timezone"] or "UTC",
                email_notifications=d["email_notifications"],
            ),
        )
        if error is None:
            messages.success(request, "Your settings are saved.")
            return redirect("/accounts/settings/")
        return _page(request, "settings.html", error, form=form, **_sign_ins(user))
    return _page(request, "settings.html", form=form, **_sign_ins(user))


def _sign_ins(user: Any) -> dict[str, Any]:
    """The settings page's linked sign-ins and the providers it can link."""
    links = list(user.identity_links.order_by("provider", "created_at"))
    return {"identity_links": links, "providers": _federation_providers()}


@never_cache
@require_http_methods(["GET"])
def federated_start(request: HttpRequest, provider: str = "") -> HttpResponse:
    """Off to the hosted UI (optionally straight to one federated IdP)."""
    from apps.users.federation import federation_start

    try:
        url = federation_start(
            session=request.session, provider=provider, next_url=request.GET.get("next", "")
        )
    except NimbusError as error:
        messages.error(request, error.message)
        return redirect("/accounts/signin/")
    return HttpResponseRedirect(url)


@never_cache
@login_required
@require_POST
def federated_link(request: HttpRequest, provider: str) -> HttpResponse:
    """From the settings page: sign in with ``provider`` to link it to this account."""
    from apps.users.federation import federation_start

    try:
        url = federation_start(
            session=request.session,
            provider=provider,
            next_url="/accounts/settings/",
            link_user=request.user,  # type: ignore[arg-type]
        )
    except NimbusError as error:
        messages.error(request, error.message)
        return redirect("/accounts/settings/")
    return HttpResponseRedirect(url)


@never_cache
@require_http_methods(["GET"])
def federated_callback(request: HttpRequest) -> HttpResponse:
    """Back from the hosted UI: check everything, then (only then) start a session — or,
    for a link started on the settings page, link the identity to the signed-in account."""
    from apps.users.federation import SESSION_KEY, federation_finish

    linking = (request.session.get(SESSION_KEY) or {}).get("link") is not None
    current = request.user if request.user.is_authenticated else None
    try:
        user, _, next_url = federation_finish(
            session=request.session, params=request.GET.dict(), user=current
        )
    except NimbusError as error:
        if linking and current is not None:
            messages.error(request, error.message)
            return redirect("/accounts/settings/")
        return _page(
            request,
            "signin.html",
            error,
            form=forms.SignInForm(),
            error_message=error.message,
            error_code=error.code,
            providers=_federation_providers(),
        )
    if linking:
        messages.success(request, "That sign-in is linked to your account.")
    else:
        login(request, user, backend=MODEL_BACKEND)
    return HttpResponseRedirect(_safe_next(request, next_url))
