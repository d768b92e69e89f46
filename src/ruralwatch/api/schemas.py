"""Request and response schemas of the API (pydantic models through django-ninja).

Schemas only serialise: masking a name or reading a label is formatting, never a decision
about who may see what (that is the access helpers' job, before a schema sees an object).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    Comorbidity,
    ContactMethod,
    ContactStatus,
    ReferralOutcome,
    Sex,
    Vaccination,
)

# --- shared --------------------------------------------------------------------------------------


class ErrorOut(Schema):
    """Every error: a human-readable, translated message."""

    detail: str


class InvalidOut(Schema):
    """A request that does not parse or a write the service refused: what is wrong."""

    detail: str
    errors: list[Any] = []


class ProblemOut(Schema):
    file: str
    row: int | None
    column: str | None
    reason: str


class ProblemsOut(Schema):
    """An import rejected as a whole: nothing was stored; every problem with its place."""

    detail: str
    problems: list[ProblemOut]


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=500, description="Items per page (at most 500).")
    offset: int = Field(0, ge=0, le=10_000_000, description="Items to skip.")


class AreaRef(Schema):
    code: str
    name: str
    level: int


# --- areas ---------------------------------------------------------------------------------------


class ChildSummary(Schema):
    code: str
    name: str
    level: int
    population: int | None
    lon: float | None
    lat: float | None
    cases: float | None = Field(description="Sum over the window; null if nothing reported.")
    days_reported: int
    incidence: float | None = Field(description="Cases per 100,000 over the window.")
    expected: int
    received: int
    on_time: int
    completeness: float | None


class AreaOut(Schema):
    code: str
    name: str
    level: int
    level_label: str
    population: int | None
    population_65plus: int | None
    key_areas: list[str]
    lon: float | None
    lat: float | None
    breadcrumb: list[AreaRef] = Field(description="Ancestors inside the caller's jurisdiction.")
    date: dt.date | None = Field(description="Last day of the children's window.")
    indicator: str
    window_days: int
    children: list[ChildSummary]


class SeriesPoint(Schema):
    date: dt.date
    value: float | None = Field(description="null: nothing reported that day (not a zero).")


class SeriesOut(Schema):
    area: str
    indicator: str
    start: dt.date
    end: dt.date
    values: list[SeriesPoint]


class LevelCompleteness(Schema):
    level: int
    level_label: str
    units: int
    complete_units: int
    expected: int
    received: int
    on_time: int
    completeness: float | None
    timeliness: float | None


class CompletenessOut(Schema):
    area: str
    date: dt.date | None
    levels: list[LevelCompleteness]


# --- reports -------------------------------------------------------------------------------------


class ImportSummaryOut(Schema):
    file: str
    rows: int
    values: int
    imported: int
    updated: int
    unchanged: int
    areas: int
    dates: list[str]


# --- signals -------------------------------------------------------------------------------------


class SignalOut(Schema):
    id: int
    area: str
    area_name: str
    area_level: int
    indicator: str
    date: dt.date
    method: str
    observed: float
    expected: float | None
    threshold: float | None
    score: float | None
    params: dict[str, Any]

    @staticmethod
    def resolve_area(obj: Any) -> str:
        return str(obj.area_id)

    @staticmethod
    def resolve_area_name(obj: Any) -> str:
        return str(obj.area.name)

    @staticmethod
    def resolve_area_level(obj: Any) -> int:
        return int(obj.area.level)

    @staticmethod
    def resolve_indicator(obj: Any) -> str:
        return str(obj.indicator_id)


class SignalFilters(PageParams):
    area: str | None = Field(None, description="Area code; default: your jurisdiction.")
    start: dt.date | None = Field(None, description="Default: 6 days before ``end``.")
    end: dt.date | None = Field(None, description="Default: the latest reported date.")
    method: str | None = Field(None, max_length=40)


class SignalPage(Schema):
    count: int
    limit: int
    offset: int
    start: dt.date
    end: dt.date
    items: list[SignalOut]


# --- judgements ----------------------------------------------------------------------------------


class JudgementOut(Schema):
    area: str
    indicator: str
    date: dt.date
    level: str
    level_label: str
    phase: str
    phase_label: str
    rebound: dict[str, Any] = Field(description="Post-event rebound watch: detected, event, …")
    pooled: bool
    text: str = Field(description="The sentence in the request's language.")
    text_zh: str
    text_en: str
    evidence: dict[str, Any]


# --- key groups ----------------------------------------------------------------------------------


class PersonFilters(PageParams):
    area: str | None = Field(None, description="Area code; default: your jurisdiction.")
    due: Literal["overdue", "due"] | None = Field(
        None, description="Only persons overdue or due on ``date``; default: every active one."
    )
    date: dt.date | None = Field(None, description="Default: today.")


class PersonListItem(Schema):
    """Pseudonymised: masked name and birth year; no ID number, phone or guardian."""

    ref: str
    name: str
    sex: str
    birth_year: int
    village: str
    tier: str
    due_status: str
    last_contact: dt.date | None
    last_status: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return crypto.mask_name(obj.name)

    @staticmethod
    def resolve_birth_year(obj: Any) -> int:
        return int(obj.birth_date.year)

    @staticmethod
    def resolve_village(obj: Any) -> str:
        return str(obj.village_id)


class PersonPage(Schema):
    date: dt.date
    count: int
    limit: int
    offset: int
    items: list[PersonListItem]


class ContactOut(Schema):
    id: int
    date: dt.date
    method: str
    status: str
    spo2: int | None
    note: str


class ReferralOut(Schema):
    id: int
    date: dt.date
    destination: str
    reason: str
    outcome: str
    outcome_date: dt.date | None


class PersonDetail(Schema):
    ref: str
    name: str
    sex: str
    birth_date: str
    id_number: str
    phone: str
    village: str
    household: str
    status: str
    doctor: str | None
    cadre: str | None
    guardian: str
    guardian_relation: str
    guardian_phone: str
    groups: list[str]
    tier: str
    tier_score: int | None
    tier_reason: str
    last_contact: str | None
    last_status: str
    contacts: list[ContactOut]
    referrals: list[ReferralOut]


class ContactIn(Schema):
    date: dt.date
    method: ContactMethod
    status: ContactStatus
    spo2: int | None = Field(None, description="SpO₂ in %, 50–100.")
    note: str = Field("", max_length=200)


class ContactCreated(Schema):
    id: int
    person: str
    date: dt.date
    method: str
    status: str
    spo2: int | None
    tier: str = Field(description="The person's tier after this contact.")
    referral: ReferralOut | None = Field(description="Created for a positive test or low SpO₂.")


class CampaignVillageIn(Schema):
    completed_on: dt.date | None = Field(
        description="The day the village finished; null reopens it."
    )
    surveyed: int = Field(0, ge=0, description="People surveyed in the village.")
    note: str = Field("", max_length=200)


class CampaignVillageOut(Schema):
    village: str
    name: str
    completed_on: str | None
    surveyed: int
    found: int = Field(description="People newly registered through this campaign.")


class CampaignOut(Schema):
    id: int
    name: str
    area: str
    start: str
    deadline: str
    completed: int
    total: int
    villages: list[CampaignVillageOut]


class ReferralOutcomeIn(Schema):
    outcome: ReferralOutcome
    date: dt.date
    note: str = Field("", max_length=200)


class PersonIn(Schema):
    name: str = Field(min_length=1, max_length=60)
    sex: Sex
    birth_date: dt.date
    id_number: str = Field(min_length=1, max_length=18)
    village: str = Field(description="Village code (level 5) inside your jurisdiction.")
    groups: list[str] = Field(min_length=1, description="Key-group codes, e.g. age65.")
    phone: str = Field("", max_length=20)
    household: str = Field("", max_length=80)
    doctor: str | None = Field(None, description="Code of the responsible village doctor.")
    cadre: str | None = Field(None, description="Code of the pairing cadre.")
    guardian_name: str = Field("", max_length=60)
    guardian_relation: str = Field("", max_length=20)
    guardian_phone: str = Field("", max_length=20)
    comorbidity: Comorbidity = Comorbidity.NONE
    vaccination: Vaccination = Vaccination.NONE


class PersonCreated(Schema):
    ref: str
    village: str
    tier: str
    tier_score: int | None
    tier_reason: str

    @staticmethod
    def resolve_village(obj: Any) -> str:
        return str(obj.village_id)


class KgFilters(PageParams):
    area: str | None = Field(None, description="Area code; default: your jurisdiction.")
    date: dt.date | None = Field(None, description="Default: today.")


class OverdueFilters(KgFilters):
    kind: Literal["doctor", "cadre"] = "doctor"


class CoverageFilters(KgFilters):
    level: int | None = Field(
        None, ge=1, le=5, description="Level to group by; default: the area's children."
    )


class AuditFilters(KgFilters):
    kind: str | None = Field(None, max_length=40, description="Only findings of this kind.")


class ResponsibleLoad(Schema):
    code: str
    name: str
    area: str
    active: int
    due: int
    overdue: int


class OverduePage(Schema):
    date: dt.date
    kind: str
    count: int
    limit: int
    offset: int
    items: list[ResponsibleLoad]


class CoverageRow(Schema):
    area: str
    registered: int
    red: int
    due: int
    overdue: int
    no_doctor: int
    covered: int
    coverage: float | None


class CoveragePage(Schema):
    date: dt.date
    level: int
    count: int
    limit: int
    offset: int
    items: list[CoverageRow]


class Finding(Schema):
    id: str
    kind: str
    person: str | None
    area: str
    date: str
    tier: str | None = None
    last_contact: str | None = None
    other_areas: list[str] | None = None
    group: str | None = None
    expected: int | None = None
    registered: int | None = None


class AuditPage(Schema):
    area: str
    date: dt.date
    summary: dict[str, int]
    count: int
    limit: int
    offset: int
    items: list[Finding]


class ExportRow(Schema):
    """Identified rows carry ``ref``, name, birth date, ID number and phone; pseudonymised
    rows carry ``pseudonym``, a masked name and the birth year only."""

    ref: str | None = None
    pseudonym: str | None = None
    name: str
    sex: str
    birth_date: str | None = None
    birth_year: int | None = None
    id_number: str | None = None
    phone: str | None = None
    village: str
    status: str
    tier: str
    last_contact: str
    due_status: str


class ExportPage(Schema):
    identified: bool
    date: dt.date
    count: int
    limit: int
    offset: int
    items: list[ExportRow]


# --- auth ----------------------------------------------------------------------------------------


class MeOut(Schema):
    username: str
    role: str | None
    role_label: str | None
    jurisdiction: AreaRef | None
    sees_everything: bool
    may_export_identified: bool


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=80)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its digest is stored.")
