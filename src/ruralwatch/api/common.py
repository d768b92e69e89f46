"""Plumbing shared by the routers: the scope root of a request, default dates, paging, and
the translated messages of invalid requests."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, get_args

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from ninja.errors import HttpError
from pydantic_core.core_schema import ErrorType

from ruralwatch.accounts import access
from ruralwatch.api.schemas import PageParams
from ruralwatch.areas.models import Area
from ruralwatch.core.i18n import is_english
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


# --- invalid requests: pydantic's messages, translated ------------------------------------------

#: The message of each common pydantic error type, by its ``type``; ``%(name)s`` placeholders
#: are filled from the error's ``ctx`` (``min_length``, ``max_length``, ``gt``, ``ge``, ``lt``,
#: ``le``, ``expected``, ``pattern``, ``multiple_of``). pydantic writes its ``msg`` in English
#: whatever the request's language; these come out in the request's language.
ERROR_MESSAGES: dict[str, Promise] = {
    "missing": gettext_lazy("This field is required."),
    "extra_forbidden": gettext_lazy("This field is not allowed here."),
    "json_invalid": gettext_lazy("The request body is not valid JSON."),
    "string_type": gettext_lazy("Give a text value."),
    "string_too_short": gettext_lazy("Give at least %(min_length)s characters."),
    "string_too_long": gettext_lazy("Give at most %(max_length)s characters."),
    "string_pattern_mismatch": gettext_lazy("The value does not have the expected form."),
    "too_short": gettext_lazy("Give at least %(min_length)s items."),
    "too_long": gettext_lazy("Give at most %(max_length)s items."),
    "int_type": gettext_lazy("Give a whole number."),
    "int_parsing": gettext_lazy("Give a whole number."),
    "int_from_float": gettext_lazy("Give a whole number, without a fraction."),
    "float_type": gettext_lazy("Give a number."),
    "float_parsing": gettext_lazy("Give a number."),
    "finite_number": gettext_lazy("Give a finite number."),
    "bool_type": gettext_lazy("Give true or false."),
    "bool_parsing": gettext_lazy("Give true or false."),
    "greater_than": gettext_lazy("Give a value greater than %(gt)s."),
    "greater_than_equal": gettext_lazy("Give a value of at least %(ge)s."),
    "less_than": gettext_lazy("Give a value less than %(lt)s."),
    "less_than_equal": gettext_lazy("Give a value of at most %(le)s."),
    "multiple_of": gettext_lazy("Give a multiple of %(multiple_of)s."),
    "literal_error": gettext_lazy("Give one of: %(expected)s."),
    "enum": gettext_lazy("Give one of: %(expected)s."),
    "date_type": gettext_lazy("Give a date as YYYY-MM-DD."),
    "date_parsing": gettext_lazy("Give a date as YYYY-MM-DD."),
    "date_from_datetime_parsing": gettext_lazy("Give a date as YYYY-MM-DD."),
    "date_from_datetime_inexact": gettext_lazy("Give a date as YYYY-MM-DD, without a time."),
    "datetime_type": gettext_lazy("Give a date and time in ISO 8601 form."),
    "datetime_parsing": gettext_lazy("Give a date and time in ISO 8601 form."),
    "list_type": gettext_lazy("Give a list."),
    "dict_type": gettext_lazy("Give an object."),
    "model_type": gettext_lazy("Give an object."),
    "model_attributes_type": gettext_lazy("Give an object."),
    "uuid_type": gettext_lazy("Give a UUID."),
    "uuid_parsing": gettext_lazy("Give a UUID."),
}

#: Types whose message is our own: a validator of ours raised it, already translated.
OWN_MESSAGE_TYPES = ("value_error", "assertion_error")

#: pydantic's own error types; any other type is a ``PydanticCustomError`` of ours (dates,
#: phones), whose message is already in the request's language.
PYDANTIC_TYPES = frozenset(get_args(ErrorType))

_PYDANTIC_PREFIX = re.compile(r"^(Value error|Assertion failed), ")
_ALTERNATIVE = re.compile(r"(?<=') or (?=')")
_SEPARATOR = re.compile(r"(?<='), (?=')")


def _alternatives(expected: str) -> str:
    """pydantic's ``'red', 'yellow' or 'green'`` with the ``or`` in the request's language."""
    joined = _ALTERNATIVE.sub(pgettext("last of alternatives", " or "), expected)
    return _SEPARATOR.sub(pgettext("list separator", ", "), joined)


def error_message(error: dict[str, Any]) -> str:
    """The message of one pydantic error in the active language.

    Our own validators' and custom errors' messages are kept (without pydantic's English
    prefix); a known type
    gets its translated sentence; an unknown type keeps pydantic's text in English and gets a
    general sentence in any other language."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    original = str(error.get("msg", ""))
    if kind in OWN_MESSAGE_TYPES:
        return str(ctx.get("error") or _PYDANTIC_PREFIX.sub("", original))
    if kind not in PYDANTIC_TYPES:
        return original
    template = ERROR_MESSAGES.get(kind)
    if template is None:
        return original if is_english() and original else _("The value is not valid.")
    values = {key: str(value) for key, value in ctx.items()}
    if "expected" in values:
        values["expected"] = _alternatives(values["expected"])
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):
        # A context without the value the sentence names: say what we can without it.
        return _("The value is not valid.")


def translated_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors with ``msg`` in the request's language (``type``, ``loc`` and
    ``ctx`` kept, so a program can still act on the type)."""
    out = []
    for error in errors:
        item = dict(error)
        if "type" in item or "msg" in item:
            item["msg"] = error_message(item)
        out.append(item)
    return out
