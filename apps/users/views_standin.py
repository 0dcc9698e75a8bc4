"""The local identity provider's stand-in for federated IdPs (``backends/standin.py``):
the OAuth endpoints Cognito's hosted UI serves, answered by Nimbus itself under
``make run``. 404 unless the local provider is configured with ``identity_providers``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from apps.users.backends import identity
from apps.users.backends.local import LocalIdentityBackend
from project.errors import NimbusError


class StandInForm(forms.Form):
    """What the stand-in IdP asserts about the person who signs in."""

    provider = forms.ChoiceField(label="Identity provider")
    email = forms.EmailField(
        label="E-mail address the provider asserts",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    name = forms.CharField(label="Name", max_length=150, required=False)
    email_verified = forms.BooleanField(
        label="The provider asserts the address as verified (email_verified)",
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, providers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(name, name) for name in providers]  # type: ignore[attr-defined]


def _backend() -> LocalIdentityBackend:
    backend = identity()
    if not isinstance(backend, LocalIdentityBackend) or not backend.identity_providers:
        raise Http404("No local stand-in identity provider is configured.")
    return backend


def _request_problem(backend: LocalIdentityBackend, query: dict[str, str]) -> str:
    """Why the authorize request is refused ("" when it is acceptable), as OAuth says."""
    from apps.users.federation import redirect_uri

    if query.get("client_id") != backend.client_id:
        return "unauthorized_client"
    if query.get("redirect_uri") != redirect_uri():
        return "invalid_redirect_uri"
    if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
        return "unsupported_response_type"
    if not query.get("code_challenge") or not query.get("state"):
        return "invalid_request"
    provider = query.get("identity_provider", "")
    if provider and provider not in backend.identity_providers:
        return "invalid_identity_provider"
    return ""


@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """``/identity/oauth2/authorize``: the stand-in IdP's sign-in page, then back to the
    registered callback with a code (or ``error=access_denied`` when cancelled)."""
    backend = _backend()
    query = request.GET.dict()
    problem = _request_problem(backend, query)
    if problem:
        # Never redirect to a callback the client did not register.
        return render(request, "users/standin_authorize.html", {"problem": problem}, status=400)
    back = query["redirect_uri"]
    if request.method == "POST" and "cancel" in request.POST:
        params = {"error": "access_denied", "state": query["state"]}
        return HttpResponseRedirect(f"{back}?{urlencode(params)}")
    form = StandInForm(
        request.POST or None,
        providers=backend.identity_providers,
        initial={"provider": query.get("identity_provider") or backend.identity_providers[0]},
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        code = backend.authorization_code_issue(
            provider=d["provider"],
            email=d["email"],
            name=d["name"],
            email_verified=d["email_verified"],
            nonce=query.get("nonce", ""),
            code_challenge=query["code_challenge"],
            redirect_uri=back,
        )
        return HttpResponseRedirect(f"{back}?{urlencode({'code': code, 'state': query['state']})}")
    provider = query.get("identity_provider", "")
    return render(
        request,
        "users/standin_authorize.html",
        {"form": form, "provider": provider},
        status=400 if request.method == "POST" else 200,
    )


@csrf_exempt  # an OAuth token endpoint: the client authenticates with PKCE, not cookies
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    """``/identity/oauth2/token``: the authorization-code grant, as Cognito's."""
    backend = _backend()
    form = request.POST
    if form.get("grant_type") != "authorization_code":
        return JsonResponse({"error": "unsupported_grant_type"}, status=400)
    if form.get("client_id") != backend.client_id:
        return JsonResponse({"error": "invalid_client"}, status=400)
    try:
        tokens = backend.redeem_code(
            code=form.get("code", ""),
            verifier=form.get("code_verifier", ""),
            redirect_uri=form.get("redirect_uri", ""),
        )
    except NimbusError as error:
        return JsonResponse(
            {"error": "invalid_grant", "error_description": error.message}, status=400
        )
    body = tokens.as_dict()
    body.pop("refresh_token")
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
