"""Intake pages: the village daily form (a Progressive Web App that works offline), who has
not reported, and sign-off up the levels.

Views parse the request, call one service or selector and render. Every area named in a URL
goes through :func:`ruralwatch.accounts.access.access_area_by_code` (one 404 for missing and
forbidden). The form answers the phone's queue in JSON: 201 stored, 200 already stored (the
same idempotency key), 400 rejected with every bad field, 403/409 refused with the reason;
the queue keeps a sending only on a network error or a 5xx, and shows any other answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ruralwatch.accounts import access
from ruralwatch.accounts.models import ROLE_LEVEL, Profile, Role
from ruralwatch.areas.models import Area, Level
from ruralwatch.core.dates import request_day
from ruralwatch.core.problems import ImportRejected
from ruralwatch.intake import hooks
from ruralwatch.intake import services as rules_service
from ruralwatch.intake.forms import parse_sending, parse_signoff, wants_json
from ruralwatch.reporting import signoff
from ruralwatch.reporting.daily_form import check_values as check_form_values
from ruralwatch.reporting.daily_form import day_form, submit_day
from ruralwatch.reporting.selectors import missing_villages

#: Roles that file a village's daily form (the village's own people, and the township or
#: county desk entering a report taken by phone). The county leader reads without acting.
FILING_ROLES = frozenset({Role.VILLAGE_DOCTOR, Role.VILLAGE_CADRE, Role.TOWNSHIP, Role.COUNTY})
#: Roles that sign off or unlock a level's day, and that send reminders.
ACTING_ROLES = frozenset(
    {Role.TOWNSHIP, Role.COUNTY, Role.PREFECTURE, Role.PROVINCE, Role.NATIONAL}
)


def _role(user: Any) -> str | None:
    # accounts.access loads the profile once per request and keeps it on the user (every
    # view here has asked it for the area already); read from there, else ask.
    access.jurisdiction(user)
    profile = getattr(user, "_ruralwatch_profile", None)
    if profile is not None:
        return str(profile.role)
    if not hasattr(user, "_intake_role"):
        user._intake_role = (
            Profile.objects.filter(user_id=user.pk).values_list("role", flat=True).first()
        )
    role: str | None = user._intake_role
    return role


def _may_file(user: Any) -> bool:
    return bool(user.is_superuser or _role(user) in FILING_ROLES)


def _may_approve(user: Any, area: Area) -> bool:
    """A township's user approves its township, a county's its county (superusers too)."""
    if user.is_superuser:
        return True
    role = _role(user)
    return role in ACTING_ROLES and ROLE_LEVEL.get(role or "", -9) == area.level


def _may_unlock(user: Any, area: Area) -> bool:
    """Only a level above the approving area unlocks it."""
    if user.is_superuser:
        return True
    role = _role(user)
    return role in ACTING_ROLES and ROLE_LEVEL.get(role or "", 99) < area.level


def _day(request: HttpRequest, default: dt.date) -> dt.date:
    return request_day(request.GET.get("date", "")) or default


def _today() -> dt.date:
    return timezone.localdate()


def _reporter_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())[:64]


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """A village user goes to their village's form; the levels above to who has not reported."""
    root = access.jurisdiction(request.user)
    if root is None and not access.sees_everything(request.user):
        return render(request, "dashboard/no_access.html", status=403)
    if root is not None and root.level == Level.VILLAGE:
        return redirect("intake:report", code=root.code)
    if root is None:
        return render(request, "dashboard/no_access.html", status=403)
    return redirect("intake:missing", code=root.code)


# --- the daily form ---------------------------------------------------------------------------


def _form_context(request: HttpRequest, village: Area, day: dt.date) -> dict[str, Any]:
    form = day_form(village, day)
    return {
        "form": form,
        "village": village,
        "day": day,
        "today": _today(),
        "yesterday": day - dt.timedelta(days=1),
        "may_file": _may_file(request.user),
        "reporter": form.reporter or _reporter_name(request.user),
        "submit_url": reverse("intake:report", kwargs={"code": village.code}),
        "check_url": reverse("intake:check", kwargs={"code": village.code}),
        # Without JavaScript the page's own key makes a reload-and-resend store one report;
        # the phone's script replaces it with one of its own.
        "key": uuid.uuid4().hex,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def report(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the village's form for ``?date=`` (default today). POST: one sending."""
    village = access.access_area_by_code(request.user, code)
    if village.level != Level.VILLAGE:
        raise Http404(_("No such area."))
    if request.method == "POST":
        return _submit(request, village)
    day = min(_day(request, _today()), _today())
    return render(request, "intake/report.html", _form_context(request, village, day))


def _answer(request: HttpRequest, village: Area, status: int, body: dict[str, Any]) -> HttpResponse:
    if wants_json(request):
        return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    if status in (200, 201):
        messages.success(request, body["message"])
        url = reverse("intake:report", kwargs={"code": village.code})
        return redirect(f"{url}?date={body['date']}")
    day = request_day(request.POST.get("date", "")) or _today()
    context = _form_context(request, village, min(day, _today()))
    context["refused"] = body
    return render(request, "intake/report.html", context, status=status)


def _submit(request: HttpRequest, village: Area) -> HttpResponse:
    if not _may_file(request.user):
        reason = _("Your role does not file daily reports.")
        return _answer(request, village, 403, {"status": "refused", "reason": reason})
    try:
        sending = parse_sending(request)
        outcome = submit_day(
            village,
            sending.date,
            sending.values,
            key=sending.key,
            user=request.user,
            reporter=sending.reporter or _reporter_name(request.user),
            comment=sending.comment,
            reason=sending.reason,
        )
    except ImportRejected as exc:
        problems = [{"field": p.column or "", "reason": p.reason} for p in exc.problems]
        return _answer(
            request,
            village,
            400,
            {"status": "rejected", "reason": exc.render(), "problems": problems},
        )
    except signoff.Refused as exc:
        return _answer(request, village, 409, {"status": "refused", "reason": exc.reason})
    if outcome.status == "stored":
        message = _("Report of %(village)s for %(date)s stored.") % {
            "village": village.name,
            "date": sending.date.isoformat(),
        }
    else:
        message = _("This report was already stored; nothing was stored twice.")
    return _answer(
        request,
        village,
        201 if outcome.status == "stored" else 200,
        {
            "status": outcome.status,
            "form": outcome.form_id,
            "changed": outcome.changed,
            "date": sending.date.isoformat(),
            "message": message,
        },
    )


@never_cache
@require_http_methods(["POST"])
@login_required
def check(request: HttpRequest, code: str) -> HttpResponse:
    """The validation rules a sending would fail (the form shows them before sending and the
    reporter confirms): ``{"warnings": [{rule, severity, message}]}``; 400 with the problems
    of values that are not even numbers."""
    village = access.access_area_by_code(request.user, code)
    if village.level != Level.VILLAGE:
        raise Http404(_("No such area."))
    try:
        sending = parse_sending(request)
        numbers = check_form_values(village, sending.date, sending.values, now=timezone.now())
    except ImportRejected as exc:
        problems = [{"field": p.column or "", "reason": p.reason} for p in exc.problems]
        return JsonResponse(
            {"status": "rejected", "reason": exc.render(), "problems": problems},
            status=400,
            json_dumps_params={"ensure_ascii": False},
        )
    warnings = [
        {"rule": w["rule"], "severity": w["severity"], "message": w["message"]}
        for w in rules_service.check_values(village, sending.date, numbers)
    ]
    return JsonResponse({"warnings": warnings}, json_dumps_params={"ensure_ascii": False})


# --- who has not reported ---------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def missing(request: HttpRequest, code: str) -> HttpResponse:
    """The villages under ``code`` whose report of ``?date=`` has not arrived, their
    reporters and phones (the read is logged); POST sends them a reminder."""
    area = access.access_area_by_code(request.user, code)
    if request.method == "POST":
        day = request_day(request.POST.get("date", "")) or _today()
    else:
        day = _day(request, _today())
    rows = missing_villages(area, day)
    codes = [r["code"] for r in rows]
    if request.method == "POST":
        if _role(request.user) not in ACTING_ROLES and not request.user.is_superuser:
            messages.error(request, _("Your role does not send reminders."))
        elif not codes:
            messages.info(request, _("Every village has reported: nobody to remind."))
        else:
            sent = hooks.send_reminders(request.user, codes, day)
            if sent is None:
                messages.error(request, _("No notification channel is connected."))
            else:
                per = ", ".join(f"{k}: {v}" for k, v in sorted(sent.items())) or "0"
                messages.success(
                    request,
                    _("Reminders sent for %(n)d village(s) (%(per)s).")
                    % {"n": len(codes), "per": per},
                )
        url = reverse("intake:missing", kwargs={"code": area.code})
        return redirect(f"{url}?date={day.isoformat()}")
    contacts = hooks.village_contacts(
        request.user, codes, purpose=f"missing reports {area.code} {day.isoformat()}"
    )
    bound = _village_users(codes)
    for r in rows:
        r["contacts"] = contacts.get(r["code"], [])
        r["users"] = bound.get(r["code"], [])
    return render(
        request,
        "intake/missing.html",
        {
            "area": area,
            "day": day,
            "rows": rows,
            "may_remind": bool(rows)
            and (request.user.is_superuser or _role(request.user) in ACTING_ROLES),
            "overview": signoff.overview(area, day) if area.level < Level.VILLAGE else None,
        },
    )


def _village_users(codes: list[str]) -> dict[str, list[str]]:
    """The names of the active village doctors and cadres bound to each village."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(codes), 900):
        for area, first, last, username in (
            Profile.objects.filter(
                jurisdiction_id__in=codes[i : i + 900],
                role__in=[Role.VILLAGE_DOCTOR, Role.VILLAGE_CADRE],
                user__is_active=True,
            )
            .order_by("jurisdiction_id", "user__username")
            .values_list("jurisdiction_id", "user__first_name", "user__last_name", "user__username")
        ):
            out.setdefault(area, []).append(f"{last}{first}".strip() or username)
    return out


# --- sign-off ---------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def signoff_page(request: HttpRequest, code: str) -> HttpResponse:
    """The day of ``code``'s children (reports received, approved or not); POST approves or
    unlocks ``code``'s day."""
    area = access.access_area_by_code(request.user, code)
    if request.method == "POST":
        return _signoff_post(request, area)
    day = min(_day(request, _today()), _today())
    return render(
        request,
        "intake/signoff.html",
        {
            "area": area,
            "day": day,
            "overview": signoff.overview(area, day),
            "signing": area.level in signoff.SIGNING_LEVELS,
            "may_approve": area.level in signoff.SIGNING_LEVELS
            and _may_approve(request.user, area),
            "may_unlock": area.level in signoff.SIGNING_LEVELS and _may_unlock(request.user, area),
        },
    )


def _signoff_post(request: HttpRequest, area: Area) -> HttpResponse:
    url = reverse("intake:signoff", kwargs={"code": area.code})
    try:
        act = parse_signoff(request)
    except ImportRejected as exc:
        messages.error(request, exc.render())
        return redirect(url)
    role = _role(request.user) or ""
    try:
        if act.action == "approve":
            if not _may_approve(request.user, area):
                raise signoff.Refused(
                    _("Only the %(level)s's own desk approves its day.")
                    % {"level": Level(area.level).label if area.level in Level.values else ""}
                )
            if act.date > _today():
                raise signoff.Refused(_("A day still to come cannot be approved."))
            signoff.approve_day(area, act.date, user=request.user, role=role)
            messages.success(
                request,
                _("%(area)s: %(date)s approved; its reports are locked.")
                % {"area": area.name, "date": act.date.isoformat()},
            )
        else:
            if not _may_unlock(request.user, area):
                raise signoff.Refused(_("Only the level above unlocks an approved day."))
            signoff.unlock_day(area, act.date, user=request.user, reason=act.reason, role=role)
            messages.success(
                request,
                _("%(area)s: %(date)s unlocked; the reason is kept in the trace.")
                % {"area": area.name, "date": act.date.isoformat()},
            )
    except signoff.Refused as exc:
        messages.error(request, exc.reason)
    return redirect(f"{url}?date={act.date.isoformat()}")


# --- the Progressive Web App's files ------------------------------------------------------------


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /intake/ so that its scope covers the form pages."""
    body = render_to_string("intake/sw.js", {}, request=request)
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = reverse("intake:home")
    return response


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest: installable, opening on the daily form (in the reader's language)."""
    home = reverse("intake:home")
    body = {
        "name": _("RuralWatch village daily report"),
        "short_name": _("Daily report"),
        "start_url": home,
        "scope": home,
        "display": "standalone",
        "background_color": "#f5f7fa",
        "theme_color": "#b8322a",
        "icons": [{"src": static("intake/icon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    return JsonResponse(
        body,
        content_type="application/manifest+json; charset=utf-8",
        json_dumps_params={"ensure_ascii": False},
    )
