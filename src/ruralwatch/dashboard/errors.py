"""The error pages (404, 403, the CSRF 403 and 500) inside the site's frame, in the user's
language, with the way back: the top bar, the user's own work page and the previous page.

Wired in ``config/urls.py`` (``handler404``, ``handler403``, ``handler500``) and
``CSRF_FAILURE_VIEW`` in settings. They are rendered only when ``DEBUG`` is off; with it on,
Django shows its technical pages to the developer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import requires_csrf_token


def _back(request: HttpRequest) -> str:
    """The page the user came from, if it is one of ours (the ``Referer`` of this site)."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""


def _render(request: HttpRequest, template: str, status: int, **extra: Any) -> HttpResponse:
    context = {"status": status, "back": _back(request), **extra}
    return HttpResponse(loader.render_to_string(template, context, request), status=status)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, "errors/404.html", 404)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, "errors/403.html", 403)


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without a valid CSRF token: mostly a page left open past the session, or
    cookies blocked. The user is told to reload the form, not shown Django's English page."""
    return _render(request, "errors/csrf.html", 403, reason=reason)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page renders without the database or the context processors (the failure may
    be the database); it still carries the frame's top bar and a way back."""
    try:
        template = loader.get_template("errors/500.html")
    except TemplateDoesNotExist:  # pragma: no cover - shipped with the app
        return HttpResponse("Server Error (500)", status=500, content_type="text/plain")
    return HttpResponse(template.render({"status": 500}), status=500)
