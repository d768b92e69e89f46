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
from ruralwatch.core import asof
from ruralwatch.keygroups import access, selectors, services
from ruralwatch.keygroups.forms import ContactForm, RegisterForm
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
    day = selectors.today_list(persons, on)
    services.log_list_access(request.user, day["n"], "today's contact list", area_code=area_code)
    return {"day": day, "on": on, "own": own, "nav": "today"}


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """The user's own persons (doctor or cadre) due or overdue today, and those done today.

    A village account without a doctor or cadre row sees its whole village.
    """
    return render(request, "keygroups/today.html", _today_context(request))


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
        {"form": form, "nav": "register"},
        status=400 if form.errors else 200,
    )


def _add_service_errors(form: RegisterForm, exc: ValidationError) -> None:
    fields = {_(msgid): field for msgid, field in _FIELD_OF_MESSAGE.items()}
    for message in exc.messages:
        form.add_error(fields.get(message), message)


# --- township and county -------------------------------------------------------------------


def _area_context(data: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    query = f"?date={request.GET['date']}" if "date" in request.GET else ""
    audit = [
        {"kind": k, "label": selectors.AUDIT_LABELS[k], "n": n} for k, n in data["audit"].items()
    ]
    return {"d": data, "area": data["area"], "audit": audit, "q": query, "nav": "area"}


@login_required
@require_GET
def area_detail(request: HttpRequest, code: str) -> HttpResponse:
    """Coverage by tier, group and child area; the audit; campaign progress (drill-down)."""
    area = area_access.access_area_by_code(request.user, code)
    found = selectors.area_keygroups(
        area,
        _page_date(request),
        persons=access.scope_persons(request.user),
        within=area_access.jurisdiction(request.user),
    )
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
    data = selectors.audit_list(
        area,
        on,
        kind,
        persons=access.scope_persons(request.user),
        within=_jurisdiction_path(request.user),
    )
    if data["n_persons"]:
        services.log_list_access(
            request.user, data["n_persons"], f"audit list {kind}", area_code=area.code
        )
    return render(
        request,
        "keygroups/audit.html",
        {"d": data, "area": area, "on": on, "label": selectors.AUDIT_LABELS[kind], "nav": "area"},
    )
