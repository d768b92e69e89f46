"""Plumbing shared by the routers: the scope root of a request, default dates, paging."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.errors import HttpError

from ruralwatch.accounts import access
from ruralwatch.api.schemas import PageParams
from ruralwatch.areas.models import Area
from ruralwatch.reporting.models import Indicator
from ruralwatch.reporting.selectors import latest_date

T = TypeVar("T")

#: The longest date range a series or a signal list may span (days).
MAX_RANGE_DAYS = 3660

#: Path prefix matching every area (for users who see the whole tree).
WHOLE_TREE = "/"


def user_of(request: HttpRequest) -> Any:
    """The authenticated user (session or bearer token: both set ``request.user``)."""
    return request.user


def scope_root(user: Any, code: str | None) -> Area | None:
    """The area ``code`` if in scope, else (no code) the user's jurisdiction root.

    ``None`` means the whole tree (users who see everything and named no area). A missing
    area, an area out of scope and a user without access all raise the same ``Http404``.
    """
    if code:
        return access.access_area_by_code(user, code)
    root = access.jurisdiction(user)
    if root is not None:
        return root
    if access.sees_everything(user):
        return None
    raise Http404(_("No such area."))


def root_path(area: Area | None) -> str:
    return area.path if area is not None else WHOLE_TREE


def require_area(area: Area | None) -> Area:
    """An area for endpoints that need one (users who see everything must name it)."""
    if area is None:
        raise HttpError(422, _("Give an area code (area=…)."))
    return area


def report_date(date: dt.date | None) -> dt.date:
    """``date`` or the latest reported date (today if nothing was ever reported)."""
    return date or latest_date() or timezone.localdate()


def date_range(
    start: dt.date | None, end: dt.date | None, default_days: int
) -> tuple[dt.date, dt.date]:
    """``[start, end]`` with defaults (end: latest reported date; ``default_days`` long)."""
    end = report_date(end)
    start = start or end - dt.timedelta(days=default_days - 1)
    if start > end:
        raise HttpError(422, _("The start date is after the end date."))
    if (end - start).days >= MAX_RANGE_DAYS:
        raise HttpError(
            422, _("The date range is too long (at most %(n)d days).") % {"n": MAX_RANGE_DAYS}
        )
    return start, end


def known_indicator(code: str) -> str:
    """``code`` if it names an indicator; else a 422 that lists the indicators there are."""
    codes = list(Indicator.objects.order_by("code").values_list("code", flat=True))
    if code not in codes:
        raise ValidationError(
            _("Unknown indicator %(code)s; use one of: %(codes)s.")
            % {"code": code, "codes": ", ".join(codes)}
        )
    return code


def query_names(operation: Any) -> set[str]:
    """The query parameters an operation declares (as its OpenAPI lists them)."""
    names: set[str] = set()
    for model in operation.models:
        if getattr(model, "__ninja_param_source__", None) != "query":
            continue
        flat = getattr(model, "__ninja_flatten_map__", None)
        if flat:
            names.update(flat)
        else:
            names.update(f.alias or n for n, f in model.model_fields.items())
    return names


def refuse_unknown_parameters(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an operation: a query parameter it does not declare is a 422 naming the ones it
    takes, never silently ignored (``?tier=purple`` on a list without that filter would
    otherwise return everything)."""
    operation = getattr(run, "__self__", None)
    if operation is None:
        return run
    names = query_names(operation)

    @functools.wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        unknown = sorted(set(request.GET) - names)
        if not unknown:
            return run(request, *args, **kwargs)
        takes = ", ".join(sorted(names)) or _("none")
        errors = [
            {
                "type": "unknown_parameter",
                "loc": ["query", name],
                "msg": _("Unknown parameter %(name)s; this operation takes: %(names)s.")
                % {"name": name[:40], "names": takes},
            }
            for name in unknown[:20]
        ]
        return operation.api.create_response(  # type: ignore[no-any-return]
            request, {"detail": _("The request is not valid."), "errors": errors}, status=422
        )

    return checked


def paginate(items: QuerySet[Any] | Sequence[T], page: PageParams) -> tuple[list[Any], int]:
    """One page of ``items`` and the total count (two queries for a queryset)."""
    if isinstance(items, QuerySet):
        count = items.count()
        return list(items[page.offset : page.offset + page.limit]), count
    return list(items[page.offset : page.offset + page.limit]), len(items)


def page_fields(page: PageParams, count: int) -> dict[str, int]:
    return {"count": count, "limit": page.limit, "offset": page.offset}
