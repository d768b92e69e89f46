"""Key-area pages: the panel of a jurisdiction, one area (tags, pairing, support requests),
the tag import and the default derivation.

Views parse the request, call one selector or service and render. Areas go through
:func:`ruralwatch.accounts.access.access_area_by_code` (one 404 for missing and forbidden);
requests through :func:`ruralwatch.keyareas.selectors.access_request_by_id`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ruralwatch.accounts import access
from ruralwatch.areas.models import Area
from ruralwatch.core import asof
from ruralwatch.core.problems import ImportRejected
from ruralwatch.keyareas import selectors, services
from ruralwatch.keyareas.forms import (
    AnswerForm,
    ImportForm,
    PairingForm,
    RequestForm,
    TagsForm,
    WithdrawForm,
)
from ruralwatch.reporting.selectors import latest_date

#: Problems shown on the import page (the rest are counted).
PROBLEMS_SHOWN = 200


def _root(request: HttpRequest) -> Area | None:
    """``?area=`` (scoped), else the user's jurisdiction; ``None`` for a user who sees the
    whole tree and named no area (they pick a province)."""
    code = request.GET.get("area", "").strip()
    if code:
        return access.access_area_by_code(request.user, code)
    root = access.jurisdiction(request.user)
    if root is None and not access.sees_everything(request.user):
        raise Http404(_("No such area."))
    return root


def _errors(form: Any) -> str:
    """Every error of a form, each after its field's label."""
    out = []
    for name, errs in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else name
        out += [f"{label}: {e}" for e in errs]
    return " ".join(out)


@login_required
@require_GET
def panel(request: HttpRequest) -> HttpResponse:
    root = _root(request)
    day = asof.page_date(request, latest_date)
    if root is None:
        provinces = Area.objects.filter(level=1).order_by("code")
        return render(request, "keyareas/roots.html", {"provinces": provinces, "date": day})
    data = selectors.panel(root, day)
    return render(
        request,
        "keyareas/panel.html",
        {
            **data,
            "statuses": [(s, selectors.status_label(s)) for s in data["by_status"]],
            "may_import": access.manages_from(request.user) is not None,
        },
    )


@login_required
@require_GET
def area_detail(request: HttpRequest, code: str) -> HttpResponse:
    area = access.access_area_by_code(request.user, code)
    day = asof.page_date(request, latest_date)
    rows, params = selectors.watch_rows(area.path, day)
    own = next((r for r in rows if r.code == area.code), None)
    pairing = selectors.pairing_of(area)
    return render(
        request,
        "keyareas/area.html",
        {
            "area": area,
            "date": day,
            "row": own,
            "params": params,
            "pairing": pairing,
            "requests": selectors.requests_of(area),
            "may_set": services.may_set_tags(request.user, area),
            "tags_form": TagsForm(initial={"tags": area.key_area_list}),
            "pairing_form": PairingForm(
                initial={"support_unit": pairing.support_unit_id if pairing else ""}
            ),
            "request_form": RequestForm(),
            "tag_labels": selectors.tag_labels(area.key_areas),
        },
    )


def _back(area: Area) -> HttpResponse:
    return redirect(reverse("keyareas:area", args=[area.code]))


def _refused(request: HttpRequest, area: Area | None, text: str) -> HttpResponse:
    """An action that was not done (bad input, or not the user's to do; nothing was
    written): back to the page it came from, which shows why."""
    messages.error(request, text)
    if area is not None:
        return _back(area)
    return redirect(reverse("keyareas:panel"))


@login_required
@require_POST
def set_tags(request: HttpRequest, code: str) -> HttpResponse:
    area = access.access_area_by_code(request.user, code)
    form = TagsForm(request.POST)
    if not form.is_valid():
        return _refused(request, area, _errors(form))
    try:
        services.set_tags(request.user, area, form.cleaned_data["tags"])
    except PermissionDenied as exc:
        return _refused(request, area, str(exc))
    messages.success(request, _("Key-area tags saved."))
    return _back(area)


@login_required
@require_POST
def set_pairing(request: HttpRequest, code: str) -> HttpResponse:
    area = access.access_area_by_code(request.user, code)
    form = PairingForm(request.POST)
    if not form.is_valid():
        return _refused(request, area, _errors(form))
    try:
        services.set_pairing(request.user, area, form.cleaned_data["support_unit"])
    except PermissionDenied as exc:
        return _refused(request, area, str(exc))
    except ValidationError as exc:
        return _refused(request, area, " ".join(exc.messages))
    messages.success(request, _("Support unit saved."))
    return _back(area)


@login_required
@require_POST
def file_request(request: HttpRequest, code: str) -> HttpResponse:
    area = access.access_area_by_code(request.user, code)
    form = RequestForm(request.POST)
    if not form.is_valid():
        return _refused(request, area, _errors(form))
    d = form.cleaned_data
    try:
        services.file_request(
            request.user,
            area,
            d["need"],
            quantity=d["quantity"],
            note=d["note"] or "",
            hours=d["hours"],
        )
    except PermissionDenied as exc:
        return _refused(request, area, str(exc))
    except ValidationError as exc:
        return _refused(request, area, " ".join(exc.messages))
    messages.success(request, _("Support request sent to the paired unit."))
    return _back(area)


@login_required
@require_POST
def answer(request: HttpRequest) -> HttpResponse:
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _refused(request, None, _errors(form))
    found = selectors.access_request_by_id(request.user, form.cleaned_data["request"])
    if found is None:
        raise Http404(_("No such request."))
    try:
        services.answer_request(request.user, found, form.cleaned_data["answer"])
    except PermissionDenied as exc:
        return _refused(request, None, str(exc))
    except ValidationError as exc:
        return _refused(request, None, " ".join(exc.messages))
    messages.success(request, _("Answer recorded."))
    return redirect(reverse("keyareas:panel"))


@login_required
@require_POST
def withdraw(request: HttpRequest) -> HttpResponse:
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return _refused(request, None, _errors(form))
    found = selectors.access_request_by_id(request.user, form.cleaned_data["request"])
    if found is None:
        raise Http404(_("No such request."))
    try:
        services.withdraw_request(request.user, found)
    except PermissionDenied as exc:
        return _refused(request, None, str(exc))
    except ValidationError as exc:
        return _refused(request, None, " ".join(exc.messages))
    messages.success(request, _("Request withdrawn."))
    return redirect(reverse("keyareas:panel"))


def _save_upload(upload: Any, folder: str) -> Path:
    name = Path(str(upload.name or "upload.csv")).name or "upload.csv"
    target = Path(folder) / name
    with target.open("wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return target


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    root = access.jurisdiction(request.user)
    may = access.manages_from(request.user) is not None
    context: dict[str, Any] = {
        "form": ImportForm(),
        "may": may,
        "derived": services.derive_tags(root)[:PROBLEMS_SHOWN] if may else [],
    }
    if request.method == "POST":
        if not may:  # the page itself says so
            return render(request, "keyareas/import.html", context)
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():  # no file: the form says what is missing
            context["form"] = form
            return render(request, "keyareas/import.html", context)
        with tempfile.TemporaryDirectory() as folder:
            path = _save_upload(form.cleaned_data["file"], folder)
            try:
                context["summary"] = services.import_tags(path, user=request.user)
            except ImportRejected as exc:
                context["problems"] = exc.problems[:PROBLEMS_SHOWN]
                context["more"] = max(len(exc.problems) - PROBLEMS_SHOWN, 0)
                return render(request, "keyareas/import.html", context, status=400)
            except PermissionDenied as exc:
                messages.error(request, str(exc))
    return render(request, "keyareas/import.html", context)


@login_required
@require_POST
def derive(request: HttpRequest) -> HttpResponse:
    if access.manages_from(request.user) is None:
        messages.error(request, _("Only the level above may set key-area tags."))
        return redirect(reverse("keyareas:import"))
    n = services.apply_derivation(access.jurisdiction(request.user), user=request.user)
    messages.success(request, _("%(n)d area(s) tagged by the default derivation.") % {"n": n})
    return redirect(reverse("keyareas:import"))
