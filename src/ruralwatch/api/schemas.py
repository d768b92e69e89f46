"""Request and response schemas of the API (pydantic models through django-ninja).

Schemas only serialise: masking a name or reading a label is formatting, never a decision
about who may see what (that is the access helpers' job, before a schema sees an object).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ruralwatch.core.dates import EARLIEST_DATE, LATEST_DATE, in_span, iso_day
from ruralwatch.epi.detect import METHODS
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.forms import PHONE_MESSAGE, PHONE_PATTERN, normalise_phone
from ruralwatch.keygroups.models import (
    Comorbidity,
    ContactMethod,
    ContactStatus,
    ReferralOutcome,
    Sex,
    Vaccination,
)
from ruralwatch.keygroups.selectors import AUDIT_KINDS

# --- shared --------------------------------------------------------------------------------------

#: The OpenAPI's statement of ``core.dates``' span (with ``format: date``, which rules out 02-30).
DATE_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def parse_day(value: object) -> dt.date:
    """An ISO date (``YYYY-MM-DD``) within ``core.dates``' span (1900-01-01 … 2099-12-31).

    Stricter than pydantic's date: no Unix timestamps (``0`` is not 1970-01-01), no
    datetimes, no years before 1900 (whose date arithmetic overflows near year 1).
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day: dt.date | None = value
    elif isinstance(value, str):
        day = iso_day(value)
        if day is None and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise PydanticCustomError(
                "date_invalid", _("There is no such day: {value}."), {"value": value}
            )
    else:
        day = None
    if day is None:
        raise PydanticCustomError("date_format", _("Give a date as YYYY-MM-DD."))
    if not in_span(day):
        raise PydanticCustomError(
            "date_range",
            _("The date must lie between {earliest} and {latest}."),
            {"earliest": EARLIEST_DATE.isoformat(), "latest": LATEST_DATE.isoformat()},
        )
    return day


#: A date parameter or field: ISO ``YYYY-MM-DD`` between 1900-01-01 and 2099-12-31.
Day = Annotated[
    dt.date,
    PlainValidator(parse_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]

#: Free text: no control characters, C0 or C1 (a NUL byte is refused by PostgreSQL, a line
#: break breaks exports and logs). Spelled out rather than with ``\s``, whose meaning differs
#: between regex engines (the OpenAPI's readers and pydantic's).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: Text that must say something: as ``TEXT_PATTERN``, with at least one character that is not
#: a space (ASCII, no-break or ideographic).
FILLED_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^ \x00-\x1f\x7f-\xa0\u3000][^\x00-\x1f\x7f-\x9f]*$"
#: A code naming an area, a doctor or a person: no spaces, no control characters.
CODE_PATTERN = r"^[^ \x00-\x1f\x7f-\xa0\u3000]+$"
#: Area codes, person references and doctors' codes are at most this long in the database.
CODE_MAX = 60
#: The largest database id the API accepts in a path (a larger one is a 422, not a 500).
ID_MAX = 2**31 - 1

#: A code parameter (path or query).
Code = Annotated[str, Field(min_length=1, max_length=CODE_MAX, pattern=CODE_PATTERN)]
#: A key-group code (``KeyGroup.code``); which codes exist is data (a 422 names unknown ones).
KeyGroupCode = Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_.-]+$")]
#: A resident ID number's shape (the check digit and the birth date are the registry's rules).
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"
#: A database id in a path.
Id = Annotated[int, Field(ge=1, le=ID_MAX)]


#: Spaces around a phone number, which the form strips too.
_AROUND = " \t\r\n"


def _phone(value: object) -> str:
    """The registration form's phone rule (``keygroups.forms.normalise_phone``), stated in the
    OpenAPI as a pattern; stored as the form stores it (no spaces or dashes)."""
    if not isinstance(value, str) or not PHONE_OR_EMPTY.fullmatch(value.strip(_AROUND)):
        raise PydanticCustomError("phone", str(PHONE_MESSAGE))
    return normalise_phone(value.strip(_AROUND))


#: A phone number as the registration form takes it: empty, or 7–20 digits with optional
#: ``+``, spaces and dashes inside; stored without spaces and dashes.
Phone = Annotated[
    str,
    PlainValidator(_phone),
    WithJsonSchema(
        {"type": "string", "pattern": rf"^[ \t\r\n]*({PHONE_PATTERN[1:-1]})?[ \t\r\n]*$"}
    ),
]
PHONE_OR_EMPTY = re.compile(f"({PHONE_PATTERN[1:-1]})?")


#: Detection methods by their registered names (``ruralwatch.epi.detect.METHODS``).
DetectionMethod = enum.StrEnum(  # type: ignore[misc]
    "DetectionMethod", {name: name for name in METHODS}
)
#: Kinds of finding of the "no omissions" audit (``keygroups.selectors.AUDIT_KINDS``).
AuditKind = enum.StrEnum("AuditKind", {k: k for k in AUDIT_KINDS})  # type: ignore[misc]


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
    area: Code | None = Field(None, description="Area code; default: your jurisdiction.")
    start: Day | None = Field(None, description="Default: 6 days before ``end``.")
    end: Day | None = Field(None, description="Default: the latest reported date.")
    method: DetectionMethod | None = Field(None, description="Only signals of this method.")


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
    area: Code | None = Field(None, description="Area code; default: your jurisdiction.")
    due: Literal["overdue", "due"] | None = Field(
        None, description="Only persons overdue or due on ``date``; default: every active one."
    )
    tier: Literal["red", "yellow", "green"] | None = Field(
        None, description="Only persons of this risk tier."
    )
    date: Day | None = Field(None, description="Default: today.")


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
    date: Day = Field(description="Not after today.")
    method: ContactMethod
    status: ContactStatus
    spo2: int | None = Field(None, ge=50, le=100, description="SpO₂ in %, 50–100.")
    note: str = Field("", max_length=200, pattern=TEXT_PATTERN)


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
    completed_on: Day | None = Field(description="The day the village finished; null reopens it.")
    surveyed: int = Field(0, ge=0, le=1_000_000, description="People surveyed in the village.")
    note: str = Field("", max_length=200, pattern=TEXT_PATTERN)


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
    date: Day
    note: str = Field("", max_length=200, pattern=TEXT_PATTERN)


class PersonIn(Schema):
    """A newly found person. Checked as the registration page checks it: the same phone rule;
    the resident ID's check digit, sex and birth date; known key groups; a guardian for a
    child; no second registration in the same village (a 422 names each problem)."""

    name: str = Field(min_length=1, max_length=60, pattern=FILLED_PATTERN)
    sex: Sex
    birth_date: Day
    id_number: str = Field(
        pattern=ID_NUMBER_PATTERN,
        description="18 characters: 17 digits and a check character (digit or X).",
    )
    village: Code = Field(description="Village code (level 5) inside your jurisdiction.")
    groups: list[KeyGroupCode] = Field(
        min_length=1, max_length=20, description="Key-group codes, e.g. age65."
    )
    phone: Phone = ""
    household: str = Field("", max_length=80, pattern=TEXT_PATTERN)
    doctor: Code | None = Field(None, description="Code of the responsible village doctor.")
    cadre: Code | None = Field(None, description="Code of the pairing cadre.")
    guardian_name: str = Field("", max_length=60, pattern=TEXT_PATTERN)
    guardian_relation: str = Field("", max_length=20, pattern=TEXT_PATTERN)
    guardian_phone: Phone = ""
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
    area: Code | None = Field(None, description="Area code; default: your jurisdiction.")
    date: Day | None = Field(None, description="Default: today.")


class OverdueFilters(KgFilters):
    kind: Literal["doctor", "cadre"] = "doctor"


class CoverageFilters(KgFilters):
    level: int | None = Field(
        None, ge=1, le=5, description="Level to group by; default: the area's children."
    )


class AuditFilters(KgFilters):
    kind: AuditKind | None = Field(None, description="Only findings of this kind.")


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
    other_areas: list[str] | None = Field(
        None, description="Other villages (inside your jurisdiction) registering the person."
    )
    elsewhere: bool | None = Field(
        None, description="Also registered outside your jurisdiction (where is not said)."
    )
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
    name: str = Field(min_length=1, max_length=80, pattern=FILLED_PATTERN)
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
