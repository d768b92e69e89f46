"""Key-group pages: the village doctor's day, one person, registering, and the area view.

Views parse the request, call one selector or service and render. Every person read goes
through :mod:`ruralwatch.keygroups.access` (one 404 for missing and forbidden); list pages
log one access row with the number of persons shown; person pages are logged by
``access_person``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from ruralwatch.accounts import access as area_access
from ruralwatch.core import asof, export
from ruralwatch.core.i18n import localized
from ruralwatch.keygroups import access, selectors, services
from ruralwatch.keygroups.forms import PICKERS, ContactForm, RegisterForm, picker_choices
from ruralwatch.keygroups.models import ContactMethod, ContactStatus, Person, ReferralOutcome
from ruralwatch.reporting.selectors import latest_date

#: Messages of ``services.register_person`` that belong to one field of the form.
_FIELD_OF_MESSAGE = {
    "the resident ID number is invalid (check digit)": "id_number",
    "sex does not match the ID number": "id_number",
    "date of birth does not match the ID number": "id_number",
    "this person is already registered in this village": "id_number",
    "a guardian is needed for a child": "guardian_name",
}


def _today(request: HttpRequest) -> dt.date:
    """The pages' "as of" day (:mod:`ruralwatch.core.asof`: ``?date=``, the day the session
    remembers, else the latest date with data), never after the wall-clock today."""
    return min(asof.page_date(request, latest_date), timezone.localdate())


def _page_date(request: HttpRequest) -> dt.date:
    return _today(request)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _jurisdiction_path(user: Any) -> str | None:
    """The path of the user's jurisdiction (``None``: the whole tree)."""
    root = area_access.jurisdiction(user)
    return root.path if root is not None else None


def _no_access(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/no_access.html", status=403)


# --- paging and export of the lists ---------------------------------------------------------

#: Rows per page of the long lists (the day's cards, audit findings).
PAGE_SIZE = 50


def _page_number(request: HttpRequest) -> int:
    """``?page=`` as a number from 1 (anything else: the first page)."""
    raw = request.GET.get("page") or request.POST.get("page") or "1"
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def _url_with(request: HttpRequest, path: str | None = None, **changes: Any) -> str:
    """``path`` (default: the request's) with the request's query string changed (``None``
    removes a parameter)."""
    query = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return (path or request.path) + (f"?{encoded}" if encoded else "")


def _pager(
    request: HttpRequest,
    total: int,
    number: int,
    size: int = PAGE_SIZE,
    *,
    path: str | None = None,
) -> dict[str, Any]:
    """What ``keygroups/_pager.html`` shows: the range, previous/next links, the exports."""
    pages = max(1, -(-total // size))
    number = min(number, pages)

    def url(**changes: Any) -> str:
        return _url_with(request, path, **changes)

    return {
        "number": number,
        "pages": pages,
        "total": total,
        "start": (number - 1) * size + 1 if total else 0,
        "end": min(number * size, total),
        "offset": (number - 1) * size,
        "size": size,
        "prev": url(page=number - 1 if number > 2 else None) if number > 1 else "",
        "next": url(page=number + 1) if number < pages else "",
        "xlsx": url(page=None, format="xlsx"),
        "csv": url(page=None, format="csv"),
    }


def _export(
    request: HttpRequest, rows: list[Any], columns: list[export.Column], stem: str
) -> HttpResponse:
    return export.export_response(request.GET.get("format"), rows, columns, stem)


def _tier_label(tier: str | None) -> str:
    return {"red": _("red"), "yellow": _("yellow"), "green": _("green")}.get(tier or "", "")


def _due_label(status: str) -> str:
    return {"overdue": _("overdue"), "due": _("due today"), "ok": _("done")}.get(status, status)


def _group_names(groups: list[Any]) -> str:
    return "、".join(localized(g, "name") for g in groups)


def _person_columns() -> list[export.Column]:
    return [
        export.Column("ref", _("Record number")),
        export.Column("name", _("Full name")),
        export.Column("tier", _("Tier")),
        export.Column("status", _("Status")),
        export.Column("sex", _("Sex")),
        export.Column("age", _("Age")),
        export.Column("village", _("Village")),
        export.Column("household", _("Household or address")),
        export.Column("phone", _("Phone")),
        export.Column("groups", _("Key groups")),
        export.Column("doctor", _("Responsible doctor")),
        export.Column("last_contact", _("Last contact")),
        export.Column("days_since", _("Days since last contact")),
    ]


def _person_export_rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "ref": r.person.ref,
            "name": r.person.name,
            "tier": _tier_label(r.person.tier),
            "status": _due_label(r.due_status),
            "sex": r.person.get_sex_display(),
            "age": r.age,
            "village": r.person.village.name,
            "household": r.person.household,
            "phone": r.phone,
            "groups": _group_names(r.groups),
            "doctor": r.person.doctor.name if r.person.doctor_id else "",
            "last_contact": r.person.last_contact,
            "days_since": r.days_since,
        }
        for r in rows
    ]


# --- entry ---------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """A doctor or cadre goes to the day's list; others (and ``?to=area``) to their area."""
    to_area = request.GET.get("to") == "area"
    if not to_area and access.own_responsible(request.user).exists():
        return redirect("keygroups:today")
    root = area_access.jurisdiction(request.user)
    if root is not None:
        if root.level == 5 and not to_area:
            return redirect("keygroups:today")
        return redirect("keygroups:area", root.code)
    if not area_access.sees_everything(request.user):
        return _no_access(request)
    roots = list(area_access.scope_areas(request.user).filter(level=1).order_by("code"))
    if len(roots) == 1:
        return redirect("keygroups:area", roots[0].code)
    return render(request, "keygroups/roots.html", {"roots": roots, "nav": "area"})


# --- the village doctor's day --------------------------------------------------------------


def _today_context(request: HttpRequest) -> dict[str, Any]:
    """The day's lists of the user (logged as one list read), or ``unlinked``."""
    on = _today(request)
    own = list(access.own_responsible(request.user))
    persons = access.scope_persons(request.user)
    root = area_access.jurisdiction(request.user)
    if own:
        persons = persons.filter(Q(doctor__in=own) | Q(cadre__in=own))
        area_code = own[0].area_id
    elif root is not None and root.level == 5:
        persons = persons.filter(village=root)
        area_code = root.code
    else:
        return {"unlinked": True, "on": on, "nav": "today"}
    if export.is_export(request.GET.get("format")):
        day = selectors.today_page(persons, on)
        services.log_list_access(
            request.user, day["n"], "today's contact list export", area_code=area_code
        )
        rows = day["overdue"] + day["due"] + day["done"]
        return {"export": _person_export_rows(rows), "on": on}
    day = selectors.today_page(persons, on, page=_page_number(request), size=PAGE_SIZE)
    pager = _pager(request, day["counts"]["n"], day["page"], path=reverse("keygroups:today"))
    services.log_list_access(request.user, day["n"], "today's contact list", area_code=area_code)
    return {"day": day, "on": on, "own": own, "nav": "today", "pager": pager}


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """The user's own persons (doctor or cadre) due or overdue today, and those done today.

    A village account without a doctor or cadre row sees its whole village.
    """
    context = _today_context(request)
    if "export" in context:
        return _export(
            request, context["export"], _person_columns(), f"contacts-{context['on']:%Y-%m-%d}"
        )
    return render(request, "keygroups/today.html", context)


@login_required
@require_POST
def record_contact(request: HttpRequest, ref: str) -> HttpResponse:
    """Log one contact.

    From the day's list (htmx, ``HX-Request``) the answer is the three sections of the list
    as the server now sees them (the row moves to the section its status belongs to, counts
    follow); a refused contact answers with the row's error box instead (``HX-Retarget``).
    The contact method chosen above the list comes as ``kg-method``. Without JavaScript the
    form posts and redirects as any form.
    """
    person = access.access_person(request.user, ref, purpose="record contact")
    fetch = bool(getattr(request, "htmx", False))
    posted = request.POST.copy()
    chosen = posted.get("kg-method")
    if fetch and isinstance(chosen, str) and chosen:
        posted["method"] = chosen
    form = ContactForm(posted)
    if form.is_valid():
        data = form.cleaned_data
        own = [
            r
            for r in access.own_responsible(request.user)
            if r.pk in (person.doctor_id, person.cadre_id)
        ]
        try:
            services.record_contact(
                person,
                date=data["date"] or _today(request),
                method=data["method"] or ContactMethod.PHONE,
                status=data["status"],
                spo2=data["spo2"],
                note=data["note"],
                responsible=own[0] if own else None,
                user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if form.errors:
        if fetch:
            response = render(request, "keygroups/_row_error.html", {"form": form}, status=400)
            return reswap(retarget(response, f"#row-{person.ref} .kg-error"), "outerHTML")
        return _render_person(request, person, form, status=400)
    if fetch:
        context = _today_context(request)
        context["next"] = request.POST.get("next", "")
        context["updated"] = person.ref
        return render(request, "keygroups/_sections.html", context)
    messages.success(request, _("Contact saved: %(name)s.") % {"name": person.name})
    return redirect(_safe_next(request, reverse("keygroups:person", args=[person.ref])))


# --- one person ----------------------------------------------------------------------------


def _render_person(
    request: HttpRequest, person: Person, form: ContactForm, status: int = 200
) -> HttpResponse:
    page = selectors.person_page(person, _today(request))
    return render(
        request,
        "keygroups/person.html",
        {
            "p": person,
            "page": page,
            "form": form,
            "on": _today(request),
            "nav": "today",
            "methods": ContactMethod.choices,
            "statuses": ContactStatus.choices,
            "outcomes": ReferralOutcome.choices,
        },
        status=status,
    )


@login_required
@require_GET
def person_detail(request: HttpRequest, ref: str) -> HttpResponse:
    person = access.access_person(request.user, ref, purpose="view record")
    form = ContactForm(initial={"date": _today(request)})
    return _render_person(request, person, form)


# --- registering a newly found person ------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """Register a person found outside the roster; linked to the open campaign, if any."""
    if area_access.jurisdiction(request.user) is None and not area_access.sees_everything(
        request.user
    ):
        return _no_access(request)
    form = RegisterForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        on = _today(request)
        try:
            person = services.register_person(
                name=data["name"],
                sex=data["sex"],
                birth_date=data["birth_date"],
                id_number=data["id_number"],
                village=data["village"],
                groups=[g.code for g in data["groups"]],
                phone=data["phone"],
                household=data["household"],
                doctor=data["doctor"],
                cadre=data["cadre"],
                guardian_name=data["guardian_name"],
                guardian_relation=data["guardian_relation"],
                guardian_phone=data["guardian_phone"],
                comorbidity=data["comorbidity"],
                vaccination=data["vaccination"],
                registered_on=on,
                campaign=selectors.open_campaign(data["village"], on),
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Registered: %(name)s. Log the first contact below.") % {"name": person.name},
            )
            return redirect("keygroups:person", person.ref)
    return render(
        request,
        "keygroups/register.html",
        {"form": form, "nav": "register", "pickers": PICKERS},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def register_options(request: HttpRequest, field: str) -> HttpResponse:
    """The ``<option>``s of a picker of the register form for a search (htmx): villages of
    the jurisdiction, or the doctors or cadres serving the chosen village."""
    if field not in PICKERS:
        raise Http404(_("No such list."))
    choices = picker_choices(
        request.user,
        field,
        request.GET.get(f"{field}_q", ""),
        village=request.GET.get("village", "") if field != "village" else "",
        chosen=request.GET.get(field, ""),
    )
    response = render(
        request,
        "keygroups/_options.html",
        {"choices": choices, "chosen": request.GET.get(field, "")},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _add_service_errors(form: RegisterForm, exc: ValidationError) -> None:
    fields = {_(msgid): field for msgid, field in _FIELD_OF_MESSAGE.items()}
    for message in dict.fromkeys(exc.messages):  # each once
        field = fields.get(message)
        if message not in form.errors.get(field or "__all__", []):
            form.add_error(field, message)


# --- township and county -------------------------------------------------------------------


def _area_context(data: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    query = f"?date={request.GET['date']}" if "date" in request.GET else ""
    audit = [
        {"kind": k, "label": selectors.AUDIT_LABELS[k], "n": n} for k, n in data["audit"].items()
    ]
    exports = {
        table: {
            fmt: _url_with(request, page=None, format=fmt, table=table) for fmt in export.FORMATS
        }
        for table in AREA_TABLES
    }
    return {
        "d": data,
        "area": data["area"],
        "audit": audit,
        "q": query,
        "nav": "area",
        "exports": exports,
    }


#: The area page's tables that export (``?format=xlsx&table=…``).
AREA_TABLES = ("children", "persons", "responsibles", "campaigns")


def _responsible_columns() -> list[export.Column]:
    return [
        export.Column("code", _("Code")),
        export.Column("name", _("Doctor")),
        export.Column("area", _("Area code")),
        export.Column("area_name", _("Area")),
        export.Column("active", _("Persons")),
        export.Column("due", _("Due")),
        export.Column("overdue", _("Overdue")),
    ]


def _area_export(request: HttpRequest, data: dict[str, Any], table: str) -> HttpResponse:
    """One of the area page's tables, whole: child areas, (village) persons due or overdue,
    or the campaigns' progress by area."""
    area = data["area"]
    stem = f"{area.name}-{data['date']:%Y-%m-%d}"
    if table == "campaigns":
        rows = [{"campaign": c["campaign"].name, **r} for c in data["campaigns"] for r in c["rows"]]
        columns = [
            export.Column("campaign", _("Re-survey campaign")),
            export.Column("area", _("Area code")),
            export.Column("name", _("Area")),
            export.Column("done", _("Villages done")),
            export.Column("total", _("Villages")),
            export.Column("surveyed", _("Households surveyed")),
            export.Column("found", _("Newly found")),
        ]
        return _export(request, rows, columns, _("Re-survey campaigns") + f"-{stem}")
    if table == "persons":
        services.log_list_access(
            request.user,
            len(data["village_rows"]),
            "key-group village list export",
            area_code=area.code,
        )
        rows = _person_export_rows(data["village_rows"])
        return _export(request, rows, _person_columns(), _("Due or overdue") + f"-{stem}")
    columns = [
        export.Column("code", _("Code")),
        export.Column("name", _("Name")),
        export.Column("registered", _("Registered")),
        export.Column("red", _("Red")),
        export.Column("due", _("Due")),
        export.Column("overdue", _("Overdue")),
        export.Column("coverage", _("Coverage"), number_format="0.0%"),
        export.Column("no_doctor", _("No doctor")),
    ]
    return _export(request, data["children"], columns, _("Key groups") + f"-{stem}")


@login_required
@require_GET
def area_detail(request: HttpRequest, code: str) -> HttpResponse:
    """Coverage by tier, group and child area; the audit; campaign progress (drill-down)."""
    area = area_access.access_area_by_code(request.user, code)
    table = request.GET.get("table")
    exporting = export.is_export(request.GET.get("format")) and table in AREA_TABLES
    if exporting and table == "responsibles":
        on = _page_date(request)
        rows = selectors.responsible_loads(area, on)
        return _export(
            request, rows, _responsible_columns(), _("Doctors") + f"-{area.name}-{on:%Y-%m-%d}"
        )
    found = selectors.area_keygroups(
        area,
        _page_date(request),
        persons=access.scope_persons(request.user),
        within=area_access.jurisdiction(request.user),
    )
    if exporting:
        return _area_export(request, found, str(table))
    if found["village_rows"]:
        services.log_list_access(
            request.user, len(found["village_rows"]), "key-group village list", area_code=area.code
        )
    # Drill-down links are boosted (htmx swaps the whole page body, so the language switch
    # and the title follow); a request aimed at the content area alone gets the fragment.
    htmx: Any = getattr(request, "htmx", None)
    fragment = bool(htmx) and not htmx.boosted and htmx.target == "kg-content"
    template = "keygroups/_area.html" if fragment else "keygroups/area.html"
    response = render(request, template, _area_context(found, request))
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@login_required
@require_GET
def audit_detail(request: HttpRequest, code: str, kind: str) -> HttpResponse:
    """The findings of one kind of the "no omissions" audit under an area."""
    if kind not in selectors.AUDIT_LABELS:
        raise Http404(_("No such audit finding."))
    area = area_access.access_area_by_code(request.user, code)
    on = _page_date(request)
    exporting = export.is_export(request.GET.get("format"))
    number = _page_number(request)
    data = selectors.audit_list(
        area,
        on,
        kind,
        persons=access.scope_persons(request.user),
        within=_jurisdiction_path(request.user),
        limit=None if exporting else PAGE_SIZE,
        offset=0 if exporting else (number - 1) * PAGE_SIZE,
    )
    pager = _pager(request, data["total"], number)
    if not exporting and data["total"] and pager["number"] != number:
        # Past the last page: the last page (its findings were not read above).
        return redirect(_url_with(request, page=pager["number"]))
    if data["n_persons"]:
        purpose = f"audit list {kind}" + (" export" if exporting else "")
        services.log_list_access(request.user, data["n_persons"], purpose, area_code=area.code)
    label = selectors.AUDIT_LABELS[kind]
    if exporting:
        columns, rows = _audit_export(data)
        return _export(request, rows, columns, f"{label}-{area.name}-{on:%Y-%m-%d}")
    return render(
        request,
        "keygroups/audit.html",
        {"d": data, "area": area, "on": on, "label": label, "nav": "area", "pager": pager},
    )


def _audit_export(data: dict[str, Any]) -> tuple[list[export.Column], list[dict[str, Any]]]:
    """The columns and rows of an audit list's export: what the page's table shows, with
    codes beside names."""
    columns = [export.Column("area", _("Village code")), export.Column("area_name", _("Village"))]
    if data["kind"] == "unregistered_expected":
        groups = {g.code: localized(g, "name") for g in data["groups"]}
        columns += [
            export.Column("group", _("Key group")),
            export.Column("expected", _("Expected")),
            export.Column("registered", _("Registered")),
        ]
        rows = [{**f, "group": groups.get(f["group"], f["group"])} for f in data["rows"]]
        return columns, rows
    columns += [
        export.Column("person", _("Record number")),
        export.Column("name", _("Person")),
        export.Column("tier", _("Tier")),
        export.Column("last_contact", _("Last contact")),
    ]
    if data["kind"] == "duplicate_person":
        columns.append(export.Column("others", _("Also registered in")))
    rows = []
    for f in data["rows"]:
        info = f["info"] or {}
        others = ", ".join(f.get("other_names", []))
        if f.get("elsewhere"):
            others = "; ".join(x for x in (others, _("also outside your jurisdiction")) if x)
        rows.append(
            {
                "area": f["area"],
                "area_name": f["area_name"],
                "person": f["person"],
                "name": info.get("name", ""),
                "tier": _tier_label(info.get("tier")),
                "last_contact": info.get("last_contact"),
                "others": others,
            }
        )
    return columns, rows
