"""The site's own public address, for the absolute URLs Nimbus hands out.

Upload, download and callback URLs, the hosted UI's redirect and the local identity
provider's JWKS URL all start with :func:`site_url`:

* ``NIMBUS_SITE_URL`` when it is set — it pins the address. Production requires it (the
  CloudFront domain: behind CloudFront the request's ``Host`` is API Gateway's, not the
  one people use);
* otherwise the origin of the request being served (its scheme and ``Host``, which
  Django checks against ``ALLOWED_HOSTS``), so ``make run`` on any port or host name
  hands out URLs a browser on that page can reach;
* outside a request (the worker) ``NIMBUS_SITE_URL`` again; ``make run`` gives its worker
  the address it serves on. Unset, :data:`FALLBACK`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

#: The address of code that runs outside a request when nothing pins one.
FALLBACK = "http://127.0.0.1:8000"

_request: ContextVar[HttpRequest | None] = ContextVar("nimbus_site_request", default=None)


def site_url(request: HttpRequest | None = None) -> str:
    """The public origin (``scheme://host[:port]``, no trailing slash) to build URLs on."""
    pinned = str(getattr(settings, "NIMBUS_SITE_URL", "") or "")
    if pinned:
        return pinned.rstrip("/")
    request = request if request is not None else _request.get()
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return FALLBACK


def absolute(path: str, request: HttpRequest | None = None) -> str:
    """``path`` (starting with ``/``) on the site's public origin."""
    return site_url(request) + path


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """Make ``request`` the one :func:`site_url` reads while the block runs."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


class SiteUrlMiddleware:
    """Lets code below the view (services, backends) build URLs on this request's origin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with serving(request):
            return self.get_response(request)
