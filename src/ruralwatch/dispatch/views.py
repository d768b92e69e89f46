"""Dispatch pages: the inbox, a task with its trace and evidence, acting on a task (htmx,
in place), and the accountability figures of an area.

Views parse the request, call one selector or service and render. Every task a request names
goes through :func:`ruralwatch.dispatch.access.access_task_by_id` (one 404 for missing and
forbidden); areas through :func:`ruralwatch.accounts.access.access_area_by_code`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from ruralwatch.accounts import access as area_access
from ruralwatch.accounts.models import Role
from ruralwatch.areas.models import Area, Level
from ruralwatch.core import asof, export
from ruralwatch.core.i18n import localized
from ruralwatch.dispatch import charts, evidence, selectors, services, views_exports
from ruralwatch.dispatch.access import access_task_by_id
from ruralwatch.dispatch.forms import ACTION_LABELS, ActForm, InboxFilter, PeriodForm
from ruralwatch.dispatch.models import ROLE_FOR_LEVEL, Outcome, Source, Status, Task
from ruralwatch.reporting.selectors import latest_date

#: Days the accountability page covers by default (up to the pages' "as of" day).
DEFAULT_PERIOD_DAYS = 30
#: Tasks shown in each list of the inbox (the most urgent first).
INBOX_LIMIT = 50
#: Rows shown before "Show more" (mine, below): a county's phone page stays a few screens long.
INBOX_FOLD = (20, 10)
#: Task ids are database integers: a longer string names nothing.
_ID_DIGITS = 10


def role_label(role: str) -> str:
    """The human name of a role (the code itself for a role this app does not know)."""
    return str(Role(role).label) if role in Role.values else role


def due_words(deadline: dt.datetime, now: dt.datetime) -> str:
    """ "overdue by 3 h" or "due in 5 h" (minutes under an hour, days beyond two)."""
    seconds = (deadline - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        amount = ngettext("%(n)d min", "%(n)d min", minutes) % {"n": minutes}
    elif minutes < 48 * 60:
        hours = minutes // 60
        amount = ngettext("%(n)d h", "%(n)d h", hours) % {"n": hours}
    else:
        days = minutes // (24 * 60)
        amount = ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if seconds < 0:
        return _("overdue by %(amount)s") % {"amount": amount}
    return _("due in %(amount)s") % {"amount": amount}


@dataclass
class Row:
    """A task as the pages show it: names in the active language and the legal next steps."""

    task: Task
    kind_name: str
    deadline: dt.datetime | None
    deadline_label: str
    due: str
    overdue: bool
    owner_role: str
    actions: list[tuple[str, str]] = field(default_factory=list)
    needs_outcome: bool = False
    error: str = ""
    url: str = ""
    act_url: str = ""
    owner_line: str = ""
    escalated: str = ""


#: Task ids put into the pattern of the task's URLs (one ``reverse`` per page, not per row).
_ID_MARK = "1234567890"


def _urls() -> tuple[str, str]:
    return (
        reverse("dispatch:task", args=[_ID_MARK]),
        reverse("dispatch:act", args=[_ID_MARK]),
    )


def make_row(
    task: Task,
    user: Any,
    now: dt.datetime,
    error: str = "",
    urls: tuple[str, str] | None = None,
) -> Row:
    language = get_language() or "zh-hans"
    task_url, act_url = urls or _urls()
    open_ = task.is_open
    has_deadline = open_ and not (task.status != Status.NEW and task.outcome)
    deadline = task.deadline if has_deadline else None
    actions = [(a, str(ACTION_LABELS[a])) for a in selectors.legal_actions(task, user)]
    return Row(
        task=task,
        kind_name=task.kind.name(language),
        deadline=deadline,
        deadline_label=str(_("acknowledge by") if task.status == Status.NEW else _("outcome by")),
        due=due_words(deadline, now) if deadline is not None else "",
        overdue=deadline is not None and deadline < now,
        owner_role=role_label(task.owner_role),
        actions=[a for a in actions if a[0] != "outcome"],
        needs_outcome=any(a == "outcome" for a, _label in actions),
        error=error,
        owner_line=_("Owner: %(role)s, %(area)s")
        % {"role": role_label(task.owner_role), "area": task.owner_area.name},
        escalated=ngettext("escalated %(n)s time", "escalated %(n)s times", task.escalations)
        % {"n": task.escalations}
        if task.escalations
        else "",
        url=task_url.replace(_ID_MARK, str(task.pk)),
        act_url=act_url.replace(_ID_MARK, str(task.pk)),
    )


def _task_id(value: str) -> str:
    if not value.isdigit() or len(value) > _ID_DIGITS:
        raise Http404(_("No such task."))
    return value


def _export_query(request: HttpRequest, keys: tuple[str, ...]) -> str:
    """The page's filters (``keys`` of the query), for the links of its exports."""
    return urlencode({k: str(v) for k, v in request.GET.items() if k in keys and v})


def _no_access(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/no_access.html", status=403)


# --- inbox --------------------------------------------------------------------------------------


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Today's work first: my unit's open tasks by deadline, then my sub-areas' overdue ones."""
    user = request.user
    if area_access.jurisdiction(user) is None and not area_access.sees_everything(user):
        return _no_access(request)
    # Deadlines as they stood at the end of the pages' "as of" day (core.asof), not the clock.
    now = asof.moment(asof.page_date(request, latest_date))
    language = get_language() or "zh-hans"
    kinds = selectors.task_kinds()
    form = InboxFilter(request.GET or None, kinds=[(k.code, k.name(language)) for k in kinds])
    kind = status = None
    if form.is_bound and form.is_valid():
        kind = form.cleaned_data["kind"] or None
        status = form.cleaned_data["status"] or None
    fmt = request.GET.get("format")
    if export.is_export(fmt):
        # Every task of one list (``?list=mine`` or ``below``), under the same filters.
        which = "below" if request.GET.get("list") == "below" else "mine"
        every = selectors.inbox(user, now, views_exports.EXPORT_LIMIT, kind=kind, status=status)
        rows = [make_row(t, user, now, urls=("", "")) for t in every[which]]
        root = area_access.jurisdiction(user)
        return views_exports.inbox_export(
            str(fmt), rows, which, root.code if root else "all", now.date()
        )
    boxes = selectors.inbox(user, now, INBOX_LIMIT, kind=kind, status=status)
    urls = _urls()
    mine = [make_row(t, user, now, urls=urls) for t in boxes["mine"]]
    below = [make_row(t, user, now, urls=urls) for t in boxes["below"]]
    response = render(
        request,
        "dispatch/inbox.html",
        {
            "form": form,
            "mine": mine,
            "below": below,
            "overdue_mine": sum(r.overdue for r in mine),
            "notifications": selectors.unread_notifications(user),
            "root": area_access.jurisdiction(user),
            "outcomes": Outcome.choices,
            "now": now,
            "nav": "inbox",
            "export_query": _export_query(request, ("kind", "status")),
            "limit": INBOX_LIMIT,
            "fold_mine": f":{INBOX_FOLD[0]}",
            "rest_mine": f"{INBOX_FOLD[0]}:",
            "fold_below": f":{INBOX_FOLD[1]}",
            "rest_below": f"{INBOX_FOLD[1]}:",
        },
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    services.mark_read(request.user)
    return redirect("dispatch:inbox")


# --- one task -----------------------------------------------------------------------------------


def _signal_chart(task: Task) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if task.kind.source not in (Source.SIGNAL, Source.SINGLE_CASE):
        return None, None
    found = selectors.signal_context(task)
    if found is None:
        return None, None
    spec = charts.signal_chart(found["series"], found["alarms"], task.date, found["weekly"])
    return found, spec


def _trace(task: Task) -> list[dict[str, Any]]:
    out = []
    for e in selectors.task_history(task):
        out.append(
            {
                "event": e,
                "label": e.get_kind_display(),
                "who": e.actor.get_username() if e.actor else _("system"),
                "from_role": role_label(e.from_role) if e.from_role else "",
                "to_role": role_label(e.to_role) if e.to_role else "",
            }
        )
    return out


def _task_page(
    request: HttpRequest, task: Task, error: str = "", status: int = 200
) -> HttpResponse:
    user = request.user
    # Due or overdue as the inbox counts it: at the end of the pages' "as of" day (or now).
    now = asof.moment(asof.page_date(request, latest_date))
    unread = selectors.unread_for_task(user, task)
    if unread:
        services.mark_read(user, unread)
    ev = task.evidence or {}
    signal, spec = _signal_chart(task)
    language = get_language() or "zh-hans"
    single = task.kind.source == Source.SINGLE_CASE
    indicator_name = ""
    if signal:
        indicator = signal["indicator"]
        indicator_name = localized(indicator, "name", language)
    context = {
        "row": make_row(task, user, now, error=error),
        "task": task,
        "trace": _trace(task),
        "sentences": evidence.sentences(task.kind.source, ev, task.area.name, indicator_name),
        "method": evidence.method_name(ev.get("method", "")) if ev.get("method") else "",
        "params": evidence.param_rows(ev.get("params")),
        "single": single,
        "signal": signal,
        "indicator_name": indicator_name,
        "chart_spec": spec,
        "outcomes": Outcome.choices,
        "level_label": Level(task.owner_level).label,
        "now": now,
    }
    return render(request, "dispatch/task.html", context, status=status)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = access_task_by_id(request.user, _task_id(task_id))
    return _task_page(request, task)


@require_http_methods(["POST"])
def act(request: HttpRequest, task_id: str) -> HttpResponse:
    """One lifecycle step. From the inbox (htmx) the answer is the task's row, updated in
    place; from the task page (a plain form) a redirect back to it. A session that ended
    sends the whole page to the login (htmx would otherwise put the login form in the row)."""
    user = request.user
    if not user.is_authenticated:
        back = request.headers.get("HX-Current-URL") or reverse("dispatch:inbox")
        login = redirect_to_login(back).url
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponseClientRedirect(login)
        return redirect(login)
    task = access_task_by_id(user, _task_id(task_id))
    data = request.POST.copy()
    if not data.get("action") and data.get("outcome"):
        data["action"] = "outcome"  # the outcome buttons carry the outcome only
    form = ActForm(data)
    error = ""
    if not form.is_valid():
        error = " ".join(str(m) for errs in form.errors.values() for m in errs)
    else:
        try:
            task = services.act(
                task,
                user,
                form.cleaned_data["action"],
                comment=form.cleaned_data["comment"],
                outcome=form.cleaned_data["outcome"] or None,
            )
        except services.IllegalTransition as exc:
            error = str(exc)
        except PermissionDenied:
            error = _("You may not act on this task.")
        else:
            task = access_task_by_id(user, task.pk)
    if request.htmx:  # type: ignore[attr-defined]
        row = make_row(task, user, timezone.now(), error=error)
        response = render(
            request,
            "dispatch/_row.html",
            {"row": row, "outcomes": Outcome.choices, "swapped": True},
        )
        patch_vary_headers(response, ["HX-Request"])
        return response
    if error:
        return _task_page(request, task, error=error, status=422)
    messages.success(request, _("Saved."))
    return redirect(reverse("dispatch:task", args=[task.pk]))


# --- accountability -----------------------------------------------------------------------------


def _period(request: HttpRequest, form: PeriodForm) -> tuple[dt.date, dt.date]:
    """The period asked for; by default the 30 days up to the pages' "as of" day
    (:mod:`core.asof`: the latest date with data, or the day the user chose), not the wall
    clock's today, which on the demo's 2023 data was years after the last task."""
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    until = data.get("until") or asof.page_date(request, latest_date)
    since = data.get("since") or until - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return since, until


def _period_params(request: HttpRequest) -> dict[str, str] | None:
    """The period's fields of the query (``?date=`` is the site's "as of" day, not a field)."""
    params = {k: str(v) for k, v in request.GET.items() if k in ("since", "until")}
    return params or None


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _accountability_page(request: HttpRequest, area: Area | None) -> HttpResponse:
    form = PeriodForm(_period_params(request))
    since, until = _period(request, form)
    if not form.is_bound:
        form = PeriodForm(initial={"since": since, "until": until})
    # Overdue counted as the inbox counts it: at the end of the period's last day, or now.
    now = asof.moment(until)
    # Tasks by the data date of their cause: a replayed or late cycle (the demo's, made years
    # after its 2023 data) counts its tasks on the days of that data, as every page does.
    figures = selectors.accountability(
        area, _midnight(since), _midnight(until + dt.timedelta(days=1)), now, by_date=True
    )
    language = get_language() or "zh-hans"
    kinds = {k.code: k.name(language) for k in selectors.task_kinds()}
    statuses = [s for s in Status]
    by_kind = [
        {
            "name": kinds.get(code, code),
            "counts": [counts.get(s.value, 0) for s in statuses],
            "total": sum(counts.values()),
        }
        for code, counts in figures["by_kind_status"].items()
    ]
    for row in figures["lagging"]:
        for holder in row["holders"]:
            holder["role_label"] = role_label(holder["role"])
    for row in figures["by_level"]:
        row["role_label"] = role_label(ROLE_FOR_LEVEL.get(row["level"], ""))
    fmt = request.GET.get("format")
    if export.is_export(fmt):
        stem = f"{_('Accountability')}-{area.code if area else 'all'}-{since}-{until}"
        return views_exports.accountability_export(
            str(fmt), request.GET.get("table", "lagging"), figures, by_kind, stem
        )
    return render(
        request,
        "dispatch/accountability.html",
        {
            "area": area,
            "form": form,
            "since": since,
            "until": until,
            "f": figures,
            "overall": figures["overall"],
            "by_kind": by_kind,
            "statuses": statuses,
            "unit_level": Level(area.level + 1).label if area and area.level < 5 else "",
            "nav": "accountability",
            "export_query": urlencode({"since": since.isoformat(), "until": until.isoformat()}),
        },
    )


@login_required
@require_GET
def accountability_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    root = area_access.jurisdiction(user)
    if root is None and not area_access.sees_everything(user):
        return _no_access(request)
    return _accountability_page(request, root)


@login_required
@require_GET
def accountability_area(request: HttpRequest, code: str) -> HttpResponse:
    return _accountability_page(request, area_access.access_area_by_code(request.user, code))
