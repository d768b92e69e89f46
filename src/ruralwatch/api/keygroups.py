"""Key groups: pseudonymised lists, one person's record (logged), contacts, registration,
overdue contacts per doctor or cadre, coverage, the "no omissions" audit and exports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.errors import HttpError

from ruralwatch.accounts import access as area_access
from ruralwatch.api.common import (
    page_fields,
    paginate,
    require_area,
    root_path,
    scope_root,
    user_of,
)
from ruralwatch.api.schemas import (
    AuditFilters,
    AuditPage,
    CampaignOut,
    CampaignVillageIn,
    Code,
    ContactCreated,
    ContactIn,
    CoverageFilters,
    CoveragePage,
    ErrorOut,
    ExportPage,
    Id,
    InvalidOut,
    KgFilters,
    OverdueFilters,
    OverduePage,
    PersonCreated,
    PersonDetail,
    PersonFilters,
    PersonIn,
    PersonPage,
    ReferralOut,
    ReferralOutcomeIn,
)
from ruralwatch.areas.models import Area
from ruralwatch.keygroups import access, selectors, services
from ruralwatch.keygroups.models import Person

router = Router(tags=["key groups"])

ERRORS: dict[int, Any] = {401: ErrorOut, 404: ErrorOut, 422: InvalidOut}
#: Writes also answer 403 to a session without its CSRF token.
WRITE_ERRORS: dict[int, Any] = {**ERRORS, 403: ErrorOut}
#: ``AccessLog.purpose`` of API reads.
PURPOSE = "api"


def _on(date: dt.date | None) -> dt.date:
    return date or timezone.localdate()


def _within(user: Any) -> str | None:
    """The path of the user's jurisdiction, which bounds what answers may name."""
    root = area_access.jurisdiction(user)
    return root.path if root is not None else None


def _code(area: Area | None) -> str:
    return area.code if area is not None else ""


@router.get("/persons", response={200: PersonPage, **ERRORS}, summary="Persons (pseudonymised)")
def list_persons(request: HttpRequest, filters: Query[PersonFilters]) -> dict[str, Any]:
    """Active key-group persons of ``area`` (default: your jurisdiction) with their contact
    status on ``date``; ``due=overdue`` or ``due=due`` narrows to today's contact list.
    Pseudonymised (masked name, birth year, no ID number or phone); the read is logged."""
    user = user_of(request)
    root = scope_root(user, filters.area)
    on = _on(filters.date)
    scoped = access.scope_persons(user).filter(village__path__startswith=root_path(root))
    if filters.tier:
        scoped = scoped.filter(tier=filters.tier)
    items, count = paginate(selectors.person_list(scoped, on, filters.due), filters)
    services.log_list_access(user, len(items), PURPOSE, area_code=_code(root))
    return {**page_fields(filters, count), "date": on, "items": items}


@router.get("/persons/{ref}", response={200: PersonDetail, **ERRORS}, summary="One person")
def person_detail(request: HttpRequest, ref: Code) -> dict[str, Any]:
    """A person's full record with contacts and referrals. Every read is logged."""
    person = access.access_person(user_of(request), ref, purpose=PURPOSE)
    return {**selectors.person_detail(person), **selectors.person_history(person)}


@router.post(
    "/persons/{ref}/contacts",
    response={201: ContactCreated, **WRITE_ERRORS},
    summary="Record a contact",
)
def record_contact(request: HttpRequest, ref: Code, body: ContactIn) -> Status[dict[str, Any]]:
    """Log a phone call, visit or message. A positive test or a low SpO₂ moves the person to
    red and creates a referral; a death or a move updates the person's status."""
    user = user_of(request)
    person = access.access_person(user, ref, purpose=f"{PURPOSE}_contact")
    contact = services.record_contact(
        person,
        date=body.date,
        method=body.method,
        status=body.status,
        spo2=body.spo2,
        note=body.note,
        user=user,
    )
    return Status(
        201,
        {
            "id": contact.pk,
            "person": person.ref,
            "date": contact.date,
            "method": contact.method,
            "status": contact.status,
            "spo2": contact.spo2,
            "tier": person.tier,
            "referral": contact.referrals.first(),
        },
    )


@router.post(
    "/referrals/{referral_id}/outcome",
    response={200: ReferralOut, **WRITE_ERRORS},
    summary="Record a referral's outcome",
)
def referral_outcome(request: HttpRequest, referral_id: Id, body: ReferralOutcomeIn) -> Any:
    """Close (or reopen) a referral to the township health centre or county hospital with its
    outcome: treated at home, outpatient, admitted …"""
    referral = access.access_referral(user_of(request), referral_id)
    return services.record_referral_outcome(referral, body.outcome, body.date, body.note)


@router.get("/campaigns/{campaign_id}", response={200: CampaignOut, **ERRORS}, summary="Campaign")
def campaign(request: HttpRequest, campaign_id: Id) -> Any:
    """A re-survey campaign (摸排): deadline, per-village completion and the people it found.
    For users whose jurisdiction covers the campaign's area."""
    user = user_of(request)
    return selectors.campaign_progress(
        access.access_campaign(user, campaign_id), within=_within(user)
    )


@router.post(
    "/campaigns/{campaign_id}/villages/{code}",
    response={200: CampaignOut, **WRITE_ERRORS},
    summary="Report a village's re-survey",
)
def campaign_village(
    request: HttpRequest, campaign_id: Id, code: Code, body: CampaignVillageIn
) -> Any:
    """Mark a village of your jurisdiction done (or not done) in a campaign that covers it."""
    village = area_access.access_area_by_code(user_of(request), code)
    found = selectors.campaign_for_village(campaign_id, village)
    if found is None:
        raise HttpError(404, _("No such campaign."))
    services.complete_campaign_village(
        found, village, body.completed_on, surveyed=body.surveyed, note=body.note
    )
    return selectors.campaign_progress(found, within=_within(user_of(request)))


@router.post("/persons", response={201: PersonCreated, **WRITE_ERRORS}, summary="Register a person")
def register_person(request: HttpRequest, body: PersonIn) -> Status[Person]:
    """Register a person in a village of your jurisdiction; the risk tier is computed at once.
    The resident ID number is checked (check digit, sex, birth date) and stored encrypted."""
    user = user_of(request)
    village = area_access.access_area_by_code(user, body.village)
    doctor = access.access_responsible(user, body.doctor) if body.doctor else None
    cadre = access.access_responsible(user, body.cadre) if body.cadre else None
    person = services.register_person(
        name=body.name,
        sex=body.sex,
        birth_date=body.birth_date,
        id_number=body.id_number,
        village=village,
        groups=body.groups,
        phone=body.phone,
        household=body.household,
        doctor=doctor,
        cadre=cadre,
        guardian_name=body.guardian_name,
        guardian_relation=body.guardian_relation,
        guardian_phone=body.guardian_phone,
        comorbidity=int(body.comorbidity),
        vaccination=int(body.vaccination),
    )
    return Status(201, person)


@router.get(
    "/overdue", response={200: OverduePage, **ERRORS}, summary="Overdue contacts per responsible"
)
def overdue(request: HttpRequest, filters: Query[OverdueFilters]) -> dict[str, Any]:
    """For each village doctor (or pairing cadre, ``kind=cadre``) in the area: active persons,
    contacts due on ``date`` and overdue; most overdue first."""
    root = scope_root(user_of(request), filters.area)
    on = _on(filters.date)
    rows = selectors.overdue_by_responsible(root_path(root), on, filters.kind)
    items, count = paginate(rows, filters)
    return {**page_fields(filters, count), "date": on, "kind": filters.kind, "items": items}


@router.get("/coverage", response={200: CoveragePage, **ERRORS}, summary="Monitoring coverage")
def coverage(request: HttpRequest, filters: Query[CoverageFilters]) -> dict[str, Any]:
    """Per area one level below ``area`` (or at ``level``): registered, red, due, overdue,
    without a doctor, covered (contacted within their tier's interval) and the share."""
    root = scope_root(user_of(request), filters.area)
    on = _on(filters.date)
    level = filters.level or (min(root.level + 1, 5) if root is not None else 1)
    items, count = paginate(selectors.coverage(root_path(root), on, level), filters)
    return {**page_fields(filters, count), "date": on, "level": level, "items": items}


@router.get("/audit", response={200: AuditPage, **ERRORS}, summary='The "no omissions" audit')
def audit(request: HttpRequest, filters: Query[AuditFilters]) -> dict[str, Any]:
    """Every finding for the area on ``date``: persons without a doctor or cadre, overdue
    contacts, duplicates, stale records, and villages registering fewer people than expected.
    Findings name persons by reference only; the read is logged."""
    user = user_of(request)
    area = require_area(scope_root(user, filters.area))
    on = _on(filters.date)
    kinds = (str(filters.kind),) if filters.kind else selectors.AUDIT_KINDS
    findings = selectors.audit(area, on, kinds, within=_within(user))
    items, count = paginate(findings, filters)
    services.log_list_access(
        user, sum(1 for f in items if f["person"]), f"{PURPOSE}_audit", area_code=area.code
    )
    return {
        **page_fields(filters, count),
        "area": area.code,
        "date": on,
        "summary": selectors.audit_summary(findings),
        "items": items,
    }


@router.get("/export", response={200: ExportPage, **ERRORS}, summary="Person-level export")
def export(request: HttpRequest, filters: Query[KgFilters]) -> dict[str, Any]:
    """Person-level rows of the area, pseudonymised unless your role may export identified
    data (``identified`` says which). Identified reads are logged per person."""
    user = user_of(request)
    root = scope_root(user, filters.area)
    on = _on(filters.date)
    scoped = access.scope_persons(user).filter(village__path__startswith=root_path(root))
    ids, count = paginate(
        scoped.order_by("village_id", "ref").values_list("pk", flat=True), filters
    )
    identified = access.may_export_identified(user)
    rows = selectors.export_persons(Person.objects.filter(pk__in=ids), on, identified=identified)
    if identified:
        services.log_access(user, ids, f"{PURPOSE}_export", area_code=_code(root))
    else:
        services.log_list_access(user, len(ids), f"{PURPOSE}_export", area_code=_code(root))
    return {**page_fields(filters, count), "identified": identified, "date": on, "items": rows}
