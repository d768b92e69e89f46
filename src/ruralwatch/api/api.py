"""The NinjaAPI instance: routers, authentication, and errors as JSON with a clear message.

Every error body has ``detail`` (a translated sentence); a refused write or an invalid
request adds ``errors``, a rejected import adds ``problems`` (file, row, column, reason).
A missing object and one outside the caller's jurisdiction get the same 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from ruralwatch.api import (
    areas,
    assessments,
    auth,
    briefings,
    dhis2,
    intake,
    keygroups,
    reports,
    signals,
    stock,
    tasks,
    users,
)
from ruralwatch.api.common import refuse_unknown_parameters, translated_errors
from ruralwatch.api.docs import LocalSwagger
from ruralwatch.api.security import AUTH
from ruralwatch.core.problems import ImportRejected

api = NinjaAPI(
    title="RuralWatch API",
    version="1",
    description=(
        "Areas, reports, signals, judgements and key groups, scoped to the caller's "
        "jurisdiction. Authenticate with a Django session (CSRF token on writes) or "
        "`Authorization: Bearer <token>` (see /api/auth/tokens)."
    ),
    auth=AUTH,
    urls_namespace="api",
    docs=LocalSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)

# Before validation and authentication: a malformed request is refused as such, whoever sends it.
api.add_decorator(refuse_unknown_parameters, mode="view")
api.add_router("/areas", areas.router)
api.add_router("/reports", reports.router)
api.add_router("/signals", signals.router)
api.add_router("/judgements", assessments.router)
api.add_router("/keygroups", keygroups.router)
api.add_router("/auth", auth.router)
api.add_router("/users", users.router)
api.add_router("/briefings", briefings.router)
api.add_router("/tasks", tasks.router)
api.add_router("/intake", intake.router)
api.add_router("/stock", stock.router)
# DHIS2's own path: /api/dataValueSets (and .json, .csv).
api.add_router("", dhis2.router)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": _("Authentication required.")}, status=401)


@api.exception_handler(AuthorizationError)
def forbidden(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return api.create_response(request, {"detail": _("Permission denied.")}, status=403)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The access helpers raise one message for "missing" and "forbidden" alike.
    message = str(exc) if exc.args else _("Not found.")
    return api.create_response(request, {"detail": message}, status=404)


#: django-ninja's own (untranslated) message for a session write without a CSRF token.
NINJA_CSRF_MESSAGE = "CSRF check Failed"


#: django-ninja's 400 for a body that is not JSON (or not the declared form).
NINJA_PARSE_MESSAGE = "Cannot parse request body"


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 403 and message == NINJA_CSRF_MESSAGE:
        message = _("The CSRF token is missing or wrong (session writes need one).")
    if exc.status_code == 400 and message.startswith(NINJA_PARSE_MESSAGE):
        # An unparsable body is an invalid request like any other: 422, as documented.
        detail = _("The request body is not valid JSON.")
        error = {"type": "json_invalid", "loc": ["body"], "msg": detail}
        return api.create_response(request, {"detail": detail, "errors": [error]}, status=422)
    return api.create_response(request, {"detail": message}, status=exc.status_code)


@api.exception_handler(NinjaValidationError)
def invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": _("The request is not valid."), "errors": translated_errors(exc.errors)},
        status=422,
    )


@api.exception_handler(DjangoValidationError)
def refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    messages = [str(m) for m in exc.messages]
    return api.create_response(
        request,
        {"detail": " ".join(messages) or _("The request is not valid."), "errors": messages},
        status=422,
    )


@api.exception_handler(ImportRejected)
def import_rejected(request: HttpRequest, exc: ImportRejected) -> HttpResponse:
    problems = [
        {"file": p.file, "row": p.row, "column": p.column, "reason": p.reason} for p in exc.problems
    ]
    return api.create_response(request, {"detail": str(exc), "problems": problems}, status=422)
