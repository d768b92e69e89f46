"""Writes to the key-group registry. Set-based wherever the number of people grows.

- one person: :func:`register_person`, :func:`record_contact`, :func:`set_person_status`,
  :func:`assign_responsible`, :func:`record_referral_outcome` (pages and API);
- many people: :func:`import_roster` (files), :func:`load_persons` (synthetic data),
  :func:`retier`, :func:`escalate_from_contacts`, :func:`refresh_last_contact`,
  :func:`write_indicators` — each a handful of ``INSERT … SELECT`` / ``UPDATE`` statements;
- campaigns: :func:`create_campaign`, :func:`complete_campaign_village`;
- the demo: :func:`load_demo_keygroups`, :func:`demo_keygroups_summary`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import (
    ROW,
    canonical_columns,
    date_span_problems,
    file_sha256,
    length_problems,
    max_length,
    parse_date,
    problems_where,
    read_table,
)
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    AccessLog,
    Campaign,
    CampaignVillage,
    Contact,
    ContactStatus,
    Destination,
    ExpectedCount,
    KeyGroup,
    Membership,
    Person,
    PersonStatus,
    Referral,
    ReferralOutcome,
    ReferralReason,
    Responsible,
    RosterImport,
    Tier,
    TierReason,
)
from ruralwatch.keygroups.rules import KG_INDICATORS, Rules, due_status_sql, score_sql, tier_sql
from ruralwatch.keygroups.selectors import active_rules
from ruralwatch.reporting.models import ReportValue

Progress = Callable[[str, int, int], None]

P = Person._meta.db_table
A = Area._meta.db_table
M = Membership._meta.db_table
C = Contact._meta.db_table
R = Referral._meta.db_table
RESP = Responsible._meta.db_table


def _now_db() -> Any:
    """The current time as the database stores it (for raw ``INSERT … SELECT``)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _scope_sql(root_path: str | None, col: str = "village_id") -> tuple[str, list[Any]]:
    if not root_path:
        return "", []
    return f" AND {col} IN (SELECT code FROM {A} WHERE path LIKE %s)", [root_path + "%"]


# --- access log ----------------------------------------------------------------------------


def log_access(user: Any, persons: Iterable[int], purpose: str, *, area_code: str = "") -> None:
    """Record that ``user`` read the records of ``persons`` (ids) for ``purpose``."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    ids = list(persons)
    now = timezone.now()
    AccessLog.objects.bulk_create(
        [
            AccessLog(user_id=uid, person_id=pid, purpose=purpose[:60], area_code=area_code, at=now)
            for pid in ids
        ],
        batch_size=2000,
    )


def log_list_access(user: Any, n: int, purpose: str, *, area_code: str = "") -> None:
    """Record that ``user`` read a list of ``n`` persons (one row, no person)."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    AccessLog.objects.create(
        user_id=uid, person=None, n_persons=n, purpose=purpose[:60], area_code=area_code
    )


# --- tiers ---------------------------------------------------------------------------------


def retier(
    on: dt.date, *, root_path: str | None = None, rules: Rules | None = None, extra: str = ""
) -> int:
    """Recompute score and tier of every person whose tier comes from the score (one UPDATE).

    Persons moved to red by a positive test or a low SpO₂, or set by hand, keep their tier.
    """
    rules = rules or active_rules()
    score, sparams = score_sql(rules, on)
    tier = tier_sql(rules, "tier_score")
    where, wparams = _scope_sql(root_path)
    n = bulk.execute(
        f"UPDATE {P} SET tier_score = {score} WHERE tier_reason = 'score'{where}{extra}",
        [*sparams, *wparams],
    )
    bulk.execute(
        f"UPDATE {P} SET tier_since = CASE WHEN tier = {tier} AND tier_since IS NOT NULL "
        f"THEN tier_since ELSE %s END, tier = {tier} "
        f"WHERE tier_reason = 'score'{where}{extra}",
        [on, *wparams],
    )
    return n


def escalate_from_contacts(
    *, root_path: str | None = None, rules: Rules | None = None, create_referrals: bool = True
) -> tuple[int, int]:
    """Move to red every active person with a positive test or a low SpO₂ reading.

    Referrals are created for such contacts that have none (a positive test goes to the
    township health centre, a low reading to the county hospital). Returns (escalated,
    referrals created). Set-based.
    """
    rules = rules or active_rules()
    thr = int(rules.spo2_red_below)
    where, wparams = _scope_sql(root_path, "p.village_id")
    trigger = f"(c.status = 'positive' OR (c.spo2 IS NOT NULL AND c.spo2 < {thr}))"
    n = bulk.execute(
        f"UPDATE {P} SET tier = 'red', "
        f"tier_reason = (SELECT CASE WHEN MIN(CASE WHEN c.status = 'positive' THEN 0 ELSE 1 END)"
        f" = 0 THEN 'positive' ELSE 'low_spo2' END FROM {C} c WHERE c.person_id = {P}.id "
        f"AND {trigger}), "
        f"tier_since = (SELECT MIN(c.date) FROM {C} c WHERE c.person_id = {P}.id AND {trigger}) "
        f"WHERE status = 'active' AND tier_reason = 'score' AND id IN ("
        f"SELECT c.person_id FROM {C} c JOIN {P} p ON p.id = c.person_id "
        f"WHERE {trigger}{where})",
        wparams,
    )
    made = 0
    if create_referrals:
        made = bulk.execute(
            f"INSERT INTO {R} (person_id, contact_id, date, destination, reason, outcome, note) "
            f"SELECT c.person_id, c.id, c.date, "
            f"CASE WHEN c.spo2 IS NOT NULL AND c.spo2 < {thr} THEN 'county_hospital' "
            f"ELSE 'township_health_centre' END, "
            f"CASE WHEN c.spo2 IS NOT NULL AND c.spo2 < {thr} THEN 'low_spo2' ELSE 'positive' END, "
            f"'pending', '' FROM {C} c JOIN {P} p ON p.id = c.person_id "
            f"WHERE {trigger}{where} AND NOT EXISTS "
            f"(SELECT 1 FROM {R} r WHERE r.person_id = c.person_id AND r.date = c.date)",
            wparams,
        )
    return n, made


def refresh_last_contact(*, root_path: str | None = None) -> int:
    """Recompute ``last_contact`` and ``last_status`` from the contacts (one UPDATE)."""
    where, wparams = _scope_sql(root_path)
    latest = (
        f"(SELECT c.status FROM {C} c WHERE c.person_id = {P}.id "
        f"ORDER BY c.date DESC, c.id DESC LIMIT 1)"
    )
    return bulk.execute(
        f"UPDATE {P} SET last_contact = (SELECT MAX(c.date) FROM {C} c "
        f"WHERE c.person_id = {P}.id), last_status = COALESCE({latest}, '') "
        f"WHERE 1 = 1{where}",
        wparams,
    )


# --- one person ----------------------------------------------------------------------------


#: Plausible dates for a person: born on or after 1900-01-01 (nobody registered today is
#: older than 126), not in the future; registered on or after 2000-01-01 (before any key-group
#: registry existed), not in the future, not before birth.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_REGISTRATION = dt.date(2000, 1, 1)


def _check_id(id_number: str, sex: str | None, birth: dt.date | None) -> list[str]:
    problems = []
    if not crypto.id_number_ok(id_number):
        problems.append(_("the resident ID number is invalid (check digit)"))
        return problems
    if crypto.id_birth_date(id_number) is None:
        problems.append(
            _("the birth date %(d)s written in the resident ID number is not a calendar date")
            % {"d": id_number[6:14]}
        )
        return problems
    if sex and {"1": "M", "0": "F"}[str(int(id_number[16]) % 2)] != sex:
        problems.append(_("sex does not match the ID number"))
    if birth and id_number[6:14] != birth.strftime("%Y%m%d"):
        problems.append(_("date of birth does not match the ID number"))
    return problems


def _check_person_values(
    *,
    name: str,
    birth_date: dt.date,
    registered_on: dt.date,
    phones: dict[str, str],
    texts: dict[str, str],
) -> list[str]:
    """The checks a roster row gets, for one person entered by a form or the API."""
    errors: list[str] = []
    today = timezone.localdate()
    if not name.strip():
        errors.append(_("name is empty"))
    if not EARLIEST_BIRTH <= birth_date <= today:
        errors.append(
            _("date of birth %(d)s is outside the accepted span %(a)s … %(b)s")
            % {"d": birth_date, "a": EARLIEST_BIRTH, "b": today}
        )
    if not EARLIEST_REGISTRATION <= registered_on <= today:
        errors.append(
            _("registration date %(d)s is outside the accepted span %(a)s … %(b)s")
            % {"d": registered_on, "a": EARLIEST_REGISTRATION, "b": today}
        )
    elif registered_on < birth_date:
        errors.append(_("registered before being born"))
    for field_name, value in phones.items():
        if value.strip() and not crypto.phone_ok(value):
            errors.append(
                _("%(f)s: not a phone number: %(v)s") % {"f": field_name, "v": value[:40]}
            )
    for field_name, value in texts.items():
        limit = max_length(Person, field_name)
        if len(value.strip()) > limit:
            errors.append(
                _("%(f)s: text of %(n)d characters; this field holds at most %(m)d")
                % {"f": field_name, "n": len(value.strip()), "m": limit}
            )
    return errors


@transaction.atomic
def register_person(
    *,
    name: str,
    sex: str,
    birth_date: dt.date,
    id_number: str,
    village: Area,
    groups: Iterable[str],
    phone: str = "",
    household: str = "",
    doctor: Responsible | None = None,
    cadre: Responsible | None = None,
    guardian_name: str = "",
    guardian_relation: str = "",
    guardian_phone: str = "",
    comorbidity: int = 0,
    vaccination: int = 2,
    registered_on: dt.date | None = None,
    campaign: Campaign | None = None,
) -> Person:
    """Register one person (form or API) and compute their tier. Raises ``ValidationError``."""
    id_number = crypto.normalise_id(id_number)
    errors = _check_id(id_number, sex, birth_date)
    today = registered_on or timezone.localdate()
    errors += _check_person_values(
        name=name,
        birth_date=birth_date,
        registered_on=today,
        phones={"phone": phone, "guardian_phone": guardian_phone},
        texts={
            "name": name,
            "household": household,
            "guardian_name": guardian_name,
            "guardian_relation": guardian_relation,
        },
    )
    if village.level != 5:
        errors.append(_("a person is registered in a village"))
    group_codes = sorted(set(groups))
    known = set(KeyGroup.objects.filter(code__in=group_codes).values_list("code", flat=True))
    if not group_codes:
        errors.append(_("at least one key group is needed"))
    errors += [_("unknown key group %(g)s") % {"g": g} for g in group_codes if g not in known]
    needs_guardian = KeyGroup.objects.filter(code__in=group_codes, needs_guardian=True).exists()
    if needs_guardian and not guardian_name:
        errors.append(_("a guardian is needed for a child"))
    h = crypto.keyed_hash(id_number)
    if Person.objects.filter(id_hash=h, village=village).exists():
        errors.append(_("this person is already registered in this village"))
    if errors:
        raise ValidationError(errors)
    person = Person.objects.create(
        ref=f"{village.code}-K{h[:10]}",
        name=name.strip(),
        sex=sex,
        birth_month=birth_date.replace(day=1),
        birth_date_enc=crypto.encrypt(birth_date.isoformat()),
        id_enc=crypto.encrypt(id_number),
        id_hash=h,
        id_masked=crypto.mask_id(id_number),
        phone_enc=crypto.encrypt(phone.strip()),
        village=village,
        household=household,
        doctor=doctor,
        cadre=cadre,
        guardian_name=guardian_name,
        guardian_relation=guardian_relation,
        guardian_phone_enc=crypto.encrypt(guardian_phone.strip()),
        comorbidity=comorbidity,
        vaccination=vaccination,
        registered_on=today,
        campaign=campaign,
    )
    Membership.objects.bulk_create(
        [Membership(person=person, group_id=g, since=today) for g in group_codes]
    )
    retier(today, extra=f" AND id = {int(person.pk)}")
    person.refresh_from_db()
    return person


@transaction.atomic
def record_contact(
    person: Person,
    *,
    date: dt.date,
    method: str,
    status: str,
    spo2: int | None = None,
    note: str = "",
    responsible: Responsible | None = None,
    user: Any = None,
) -> Contact:
    """Log one contact; re-tier and refer on a positive test or a low SpO₂; record a death.

    A positive test or SpO₂ below the rule set's threshold moves the person to red and
    creates a referral (county hospital for a low reading, else the township health centre);
    "referred" opens a clinical referral to the township health centre unless one is pending.
    A contact reporting death or moving away updates the person's status.
    """
    if spo2 is not None and not 50 <= spo2 <= 100:
        raise ValidationError(_("SpO₂ must be between 50 and 100"))
    if status not in ContactStatus.values:
        raise ValidationError(_("unknown contact status"))
    if date > timezone.localdate():
        raise ValidationError(_("a contact cannot be in the future"))
    contact = Contact.objects.create(
        person=person,
        date=date,
        method=method,
        status=status,
        spo2=spo2,
        note=note,
        responsible=responsible or person.doctor,
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if person.last_contact is None or date >= person.last_contact:
        person.last_contact = date
        person.last_status = status
    rules = active_rules()
    low = spo2 is not None and spo2 < rules.spo2_red_below
    if status == ContactStatus.POSITIVE or low:
        if person.tier != Tier.RED or person.tier_reason == TierReason.SCORE:
            person.tier = Tier.RED
            person.tier_reason = TierReason.LOW_SPO2 if low else TierReason.POSITIVE
            person.tier_since = date
        Referral.objects.create(
            person=person,
            contact=contact,
            date=date,
            destination=Destination.COUNTY if low else Destination.TOWNSHIP,
            reason=ReferralReason.LOW_SPO2 if low else ReferralReason.POSITIVE,
        )
    elif (
        status == ContactStatus.REFERRED
        and not Referral.objects.filter(person=person, outcome=ReferralOutcome.PENDING).exists()
    ):
        # The doctor referred on clinical judgement (persistent high fever, dyspnoea …).
        Referral.objects.create(
            person=person,
            contact=contact,
            date=date,
            destination=Destination.TOWNSHIP,
            reason=ReferralReason.CLINICAL,
        )
    person.updated_at = timezone.now()
    person.save(
        update_fields=[
            "last_contact",
            "last_status",
            "tier",
            "tier_reason",
            "tier_since",
            "updated_at",
        ]
    )
    if status == ContactStatus.DIED:
        set_person_status(person, PersonStatus.DECEASED, date)
    elif status == ContactStatus.MOVED_AWAY:
        set_person_status(person, PersonStatus.MOVED, date)
    return contact


@transaction.atomic
def set_person_status(person: Person, status: str, on: dt.date) -> Person:
    """Mark a person moved, deceased or active again; closes or reopens their memberships."""
    if status not in PersonStatus.values:
        raise ValidationError(_("unknown status"))
    person.status = status
    person.status_date = on
    person.updated_at = timezone.now()
    person.save(update_fields=["status", "status_date", "updated_at"])
    if status == PersonStatus.ACTIVE:
        person.memberships.filter(until__isnull=False).update(until=None)
    else:
        person.memberships.filter(until__isnull=True).update(until=on)
    return person


def assign_responsible(
    persons: Iterable[int], *, doctor: Responsible | None = None, cadre: Responsible | None = None
) -> int:
    """Give persons (ids) a doctor and/or a cadre (one UPDATE per 900 ids)."""
    ids = list(persons)
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if doctor is not None:
        changes["doctor"] = doctor
    if cadre is not None:
        changes["cadre"] = cadre
    n = 0
    for start in range(0, len(ids), 900):
        n += Person.objects.filter(pk__in=ids[start : start + 900]).update(**changes)
    return n


def record_referral_outcome(
    referral: Referral, outcome: str, on: dt.date, note: str = ""
) -> Referral:
    if outcome not in ReferralOutcome.values:
        raise ValidationError(_("unknown referral outcome"))
    referral.outcome = outcome
    referral.outcome_date = None if outcome == ReferralOutcome.PENDING else on
    if note:
        referral.note = note[:200]
    referral.save(update_fields=["outcome", "outcome_date", "note"])
    return referral


# --- campaigns -----------------------------------------------------------------------------


@transaction.atomic
def create_campaign(
    *,
    name: str,
    area: Area,
    start: dt.date,
    deadline: dt.date,
    groups: Iterable[str] = (),
    user: Any = None,
) -> Campaign:
    """A re-survey over ``area``'s villages (one row per village, set-based)."""
    if deadline < start:
        raise ValidationError(_("the deadline is before the start"))
    campaign = Campaign.objects.create(
        name=name,
        area=area,
        start=start,
        deadline=deadline,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    campaign.groups.set(list(KeyGroup.objects.filter(code__in=list(groups))))
    cv = CampaignVillage._meta.db_table
    bulk.execute(
        f"INSERT INTO {cv} (campaign_id, village_id, surveyed, note) "
        f"SELECT %s, code, 0, '' FROM {A} WHERE level = 5 AND path LIKE %s",
        [campaign.pk, area.path + "%"],
    )
    return campaign


def complete_campaign_village(
    campaign: Campaign, village: Area, on: dt.date | None, surveyed: int = 0, note: str = ""
) -> int:
    """Mark a village done (``on``) or not done (``None``) in a campaign."""
    return CampaignVillage.objects.filter(campaign=campaign, village=village).update(
        completed_on=on, surveyed=surveyed, note=note[:200]
    )


# --- indicators into the report store ------------------------------------------------------


def write_indicators(on: dt.date, root: Area | None = None) -> int:
    """Write the ``kg_*`` indicators of every village for ``on`` into ``ReportValue``
    (replacing earlier values of these indicators for that date).

    Values are computed by the database (one GROUP BY over persons); the roll-up of the daily
    cycle (:func:`ruralwatch.reporting.services.roll_up`) carries them to every level, so
    dashboards rank areas by overdue contacts and registry size like any other indicator.
    """
    rules = active_rules()
    due, dparams = due_status_sql(rules, on, alias="p")
    path = root.path if root is not None else ""
    codes = [c[0] for c in KG_INDICATORS]
    rv = ReportValue._meta.db_table
    on_s = on.isoformat()
    with transaction.atomic():
        bulk.create_staging(
            "stage_kg_village",
            [("area", "varchar(12)")] + [(c, "bigint") for c in codes],
        )
        bulk.execute(
            f"INSERT INTO stage_kg_village (area, {', '.join(codes)}) "
            f"SELECT a.code, COUNT(p.id), "
            f"SUM(CASE WHEN p.tier = 'red' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {due} = 'due' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {due} = 'overdue' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN p.id IS NOT NULL AND p.doctor_id IS NULL THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN EXISTS (SELECT 1 FROM {R} r WHERE r.person_id = p.id "
            f"AND r.outcome = 'pending') THEN 1 ELSE 0 END) "
            f"FROM {A} a LEFT JOIN {P} p ON p.village_id = a.code AND p.status = 'active' "
            f"WHERE a.level = 5 AND a.path LIKE %s GROUP BY a.code",
            [*dparams, *dparams, path + "%"],
        )
        placeholders = ", ".join(["%s"] * len(codes))
        bulk.execute(
            f"DELETE FROM {rv} WHERE date = %s AND indicator_id IN ({placeholders}) "
            f"AND area_id IN (SELECT area FROM stage_kg_village)",
            [on_s, *codes],
        )
        n = 0
        now = _now_db()
        for code in codes:
            n += bulk.execute(
                f"INSERT INTO {rv} (area_id, date, indicator_id, value, reporter, submitted_at) "
                f"SELECT area, %s, %s, COALESCE({code}, 0), 'keygroups', %s FROM stage_kg_village",
                [on_s, code, now],
            )
        bulk.drop_staging("stage_kg_village")
    return n


# --- bulk loading (synthetic persons, benchmarks) -----------------------------------------


PERSON_STAGE: list[tuple[str, str]] = [
    ("ref", "varchar(40)"),
    ("name", "varchar(60)"),
    ("sex", "varchar(1)"),
    ("birth_month", "date"),
    ("birth_date_enc", "text"),
    ("id_enc", "text"),
    ("id_hash", "varchar(64)"),
    ("id_masked", "varchar(18)"),
    ("phone_enc", "text"),
    ("village", "varchar(12)"),
    ("household", "varchar(80)"),
    ("doctor", "varchar(60)"),
    ("cadre", "varchar(60)"),
    ("guardian_name", "varchar(60)"),
    ("guardian_relation", "varchar(20)"),
    ("guardian_phone_enc", "text"),
    ("comorbidity", "smallint"),
    ("vaccination", "smallint"),
    ("registered_on", "date"),
    ("last_contact", "date"),
    ("last_status", "varchar(12)"),
    ("found", "smallint"),
]


def _encrypt_series(values: pl.Series) -> pl.Series:
    f = crypto.fernet()
    out = [f.encrypt(v.encode()).decode() if v else "" for v in values.to_list()]
    return pl.Series(values.name, out, dtype=pl.String)


def _mask_expr(id_number: pl.Expr) -> pl.Expr:
    """:func:`crypto.mask_id` for a column of normalised 18-character ID numbers."""
    head, tail = crypto.MASK_HEAD, crypto.MASK_TAIL
    return (
        id_number.str.slice(0, head)
        + pl.lit("*" * (18 - head - tail))
        + id_number.str.slice(18 - tail, tail)
    )


def _hash_series(values: pl.Series) -> pl.Series:
    key = crypto.hash_key()
    return pl.Series([crypto.keyed_hash(v, key) for v in values.to_list()], dtype=pl.String)


def delete_persons_under(root_path: str) -> None:
    """Delete persons (with contacts, referrals, memberships) and responsibles of a subtree."""
    sub = f"SELECT id FROM {P} WHERE village_id IN (SELECT code FROM {A} WHERE path LIKE %s)"
    params = [root_path + "%"]
    bulk.execute(
        f"UPDATE {AccessLog._meta.db_table} SET person_id = NULL WHERE person_id IN ({sub})", params
    )
    for table in (R, C, M):
        bulk.execute(f"DELETE FROM {table} WHERE person_id IN ({sub})", params)
    bulk.execute(
        f"DELETE FROM {P} WHERE village_id IN (SELECT code FROM {A} WHERE path LIKE %s)", params
    )
    bulk.execute(
        f"DELETE FROM {RESP} WHERE area_id IN (SELECT code FROM {A} WHERE path LIKE %s)", params
    )


def load_persons(
    people: Any,
    root: Area,
    *,
    encrypt: bool = True,
    progress: Progress | None = None,
    campaign: Campaign | None = None,
) -> dict[str, int]:
    """Load a :class:`ruralwatch.synth.persons.Persons` into the database, set-based.

    Replaces every person and responsible under ``root`` (so loading twice leaves the same
    state), then computes tiers, escalations and last contacts in SQL. ``encrypt=False``
    stores a constant placeholder token instead of per-row Fernet tokens (benchmarks only).
    """
    step = progress or (lambda _s, _d, _t: None)
    persons: pl.DataFrame = people.persons
    contacts: pl.DataFrame = people.contacts
    on: dt.date = people.on
    step("encrypt", 0, persons.height)
    if encrypt:
        id_enc = _encrypt_series(persons["id_number"])
        phone_enc = _encrypt_series(persons["phone"].fill_null(""))
        g_enc = _encrypt_series(persons["guardian_phone"].fill_null(""))
        birth_enc = _encrypt_series(persons["birth_date"].cast(pl.String))
    else:
        token = crypto.encrypt("0")
        id_enc = pl.Series([token] * persons.height, dtype=pl.String)
        phone_enc = g_enc = birth_enc = id_enc
    step("encrypt", persons.height, persons.height)
    last = (
        contacts.sort("ref", "date")
        .group_by("ref")
        .agg(
            pl.col("date").last().alias("last_contact"),
            pl.col("status").last().alias("last_status"),
        )
    )
    stage = (
        persons.with_columns(
            id_enc.alias("id_enc"),
            _hash_series(persons["id_number"]).alias("id_hash"),
            _mask_expr(pl.col("id_number")).alias("id_masked"),
            phone_enc.alias("phone_enc"),
            g_enc.alias("guardian_phone_enc"),
            birth_enc.alias("birth_date_enc"),
            pl.col("found_in_resurvey").cast(pl.Int16).alias("found"),
        )
        .join(last, on="ref", how="left")
        .select(
            "ref",
            "name",
            "sex",
            pl.col("birth_date").dt.truncate("1mo").cast(pl.String).alias("birth_month"),
            "birth_date_enc",
            "id_enc",
            "id_hash",
            "id_masked",
            "phone_enc",
            "village",
            "household",
            "doctor",
            "cadre",
            pl.col("guardian_name").fill_null(""),
            pl.col("guardian_relation").fill_null(""),
            "guardian_phone_enc",
            "comorbidity",
            "vaccination",
            pl.col("registered_on").cast(pl.String),
            pl.col("last_contact").cast(pl.String),
            pl.col("last_status").fill_null(""),
            "found",
        )
    )
    now = _now_db()
    counts: dict[str, int] = {}
    rules = active_rules()
    # Score and tier are computed while inserting (what ``retier`` would write for new rows),
    # so the new rows are written once instead of being updated twice afterwards.
    score, sparams = score_sql(rules, on, alias="st")
    with transaction.atomic():
        delete_persons_under(root.path)
        resp = people.responsible.with_columns(
            phone_enc=_encrypt_series(people.responsible["phone"])
        )
        bulk.create_staging(
            "stage_kg_resp",
            [
                ("code", "varchar(60)"),
                ("kind", "varchar(10)"),
                ("name", "varchar(60)"),
                ("phone_enc", "text"),
                ("area", "varchar(12)"),
            ],
        )
        bulk.load_staging(
            "stage_kg_resp",
            resp.select("code", "kind", "name", "phone_enc", pl.col("area_code").alias("area")),
        )
        counts["responsible"] = bulk.execute(
            f"INSERT INTO {RESP} (code, kind, name, phone_enc, area_id, active) "
            f"SELECT code, kind, name, phone_enc, area, %s FROM stage_kg_resp",
            [True],
        )
        bulk.drop_staging("stage_kg_resp")
        found_campaign = (
            f"CASE WHEN s.found = 1 THEN {int(campaign.pk)} END" if campaign else "NULL"
        )
        bulk.create_staging("stage_kg_person", PERSON_STAGE)
        bulk.load_staging(
            "stage_kg_person", stage, progress=lambda n: step("persons", n, stage.height)
        )
        counts["persons"] = bulk.execute(
            f"INSERT INTO {P} (ref, name, sex, birth_month, birth_date_enc, id_enc, id_hash, "
            f"id_masked, phone_enc, "
            f"village_id, household, status, doctor_id, cadre_id, guardian_name, "
            f"guardian_relation, guardian_phone_enc, comorbidity, vaccination, tier_score, "
            f"tier, tier_since, tier_reason, last_contact, last_status, registered_on, "
            f"campaign_id, created_at, updated_at) "
            f"SELECT s.ref, s.name, s.sex, s.birth_month, s.birth_date_enc, s.id_enc, s.id_hash, "
            f"s.id_masked, "
            f"s.phone_enc, s.village, s.household, 'active', d.id, c.id, s.guardian_name, "
            f"s.guardian_relation, s.guardian_phone_enc, s.comorbidity, s.vaccination, "
            f"s.score, {tier_sql(rules, 's.score')}, %s, "
            f"'score', s.last_contact, s.last_status, s.registered_on, "
            f"{found_campaign}, %s, %s "
            f"FROM (SELECT st.*, {score} AS score FROM stage_kg_person st) s "
            f"LEFT JOIN {RESP} d ON d.code = s.doctor "
            f"LEFT JOIN {RESP} c ON c.code = s.cadre",
            [on, now, now, *sparams],
        )
        bulk.drop_staging("stage_kg_person")
        bulk.create_staging("stage_kg_mem", [("ref", "varchar(40)"), ("grp", "varchar(30)")])
        bulk.load_staging(
            "stage_kg_mem", people.memberships.select("ref", pl.col("group").alias("grp"))
        )
        counts["memberships"] = bulk.execute(
            f"INSERT INTO {M} (person_id, group_id, since) "
            f"SELECT p.id, s.grp, p.registered_on FROM stage_kg_mem s JOIN {P} p ON p.ref = s.ref"
        )
        bulk.drop_staging("stage_kg_mem")
        bulk.create_staging(
            "stage_kg_contact",
            [
                ("ref", "varchar(40)"),
                ("date", "date"),
                ("method", "varchar(10)"),
                ("status", "varchar(12)"),
                ("spo2", "smallint"),
                ("resp", "varchar(60)"),
            ],
        )
        bulk.load_staging(
            "stage_kg_contact",
            contacts.select(
                "ref",
                pl.col("date").cast(pl.String),
                "method",
                "status",
                "spo2",
                pl.col("responsible").alias("resp"),
            ),
            progress=lambda n: step("contacts", n, contacts.height),
        )
        counts["contacts"] = bulk.execute(
            f"INSERT INTO {C} (person_id, date, method, status, spo2, note, responsible_id, "
            f"created_at) SELECT p.id, s.date, s.method, s.status, s.spo2, '', r.id, %s "
            f"FROM stage_kg_contact s JOIN {P} p ON p.ref = s.ref "
            f"LEFT JOIN {RESP} r ON r.code = s.resp",
            [now],
        )
        bulk.drop_staging("stage_kg_contact")
        bulk.create_staging(
            "stage_kg_ref",
            [
                ("ref", "varchar(40)"),
                ("date", "date"),
                ("destination", "varchar(24)"),
                ("reason", "varchar(10)"),
                ("outcome", "varchar(12)"),
                ("outcome_date", "date"),
            ],
        )
        bulk.load_staging(
            "stage_kg_ref",
            people.referrals.select(
                "ref",
                pl.col("date").cast(pl.String),
                "destination",
                "reason",
                "outcome",
                pl.col("outcome_date").cast(pl.String),
            ),
        )
        counts["referrals"] = bulk.execute(
            f"INSERT INTO {R} (person_id, contact_id, date, destination, reason, outcome, "
            f"outcome_date, note) SELECT p.id, (SELECT MIN(c.id) FROM {C} c WHERE "
            f"c.person_id = p.id AND c.date = s.date), s.date, s.destination, s.reason, "
            f"s.outcome, s.outcome_date, '' FROM stage_kg_ref s JOIN {P} p ON p.ref = s.ref"
        )
        bulk.drop_staging("stage_kg_ref")
        ex = people.expected
        ExpectedCount.objects.filter(area__path__startswith=root.path).delete()
        ExpectedCount.objects.bulk_create(
            [
                ExpectedCount(area_id=a, group_id=g, source=s, count=int(n), as_of=on)
                for a, g, s, n in ex.select("area_code", "group", "source", "count").iter_rows()
            ],
            batch_size=2000,
        )
        counts["escalated"], counts["referrals_created"] = escalate_from_contacts(
            root_path=root.path, rules=rules
        )
        bulk.analyze(P, C, R)
    return counts


def load_demo_keygroups(
    demo: Any, cycle_date: dt.date, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Build the demo's synthetic key groups into the database (after the areas are loaded).

    Generates persons for ``demo.region`` with contacts up to ``cycle_date``, loads them
    set-based, opens the post-festival re-survey campaign, writes the ``kg_*`` indicators for
    ``cycle_date`` and returns ``{"counts": …, "truth": [...]}`` (the truth list is what
    ``ruralwatch keygroups audit`` must find; write it next to the report truth).
    """
    from ruralwatch.synth.persons import RESURVEY_START, build_persons

    region = demo.region
    people = build_persons(region, region.seed, on=cycle_date)
    county_code = region.areas.filter(pl.col("level") == 3)["code"][0]
    root = Area.objects.get(code=region.areas.filter(pl.col("level") == 1)["code"][0])
    county = Area.objects.get(code=county_code)
    with transaction.atomic():
        Campaign.objects.filter(area__path__startswith=root.path).delete()
        campaign = create_campaign(
            name="春节后重点人群重新摸排",
            area=county,
            start=RESURVEY_START,
            deadline=cycle_date + dt.timedelta(days=5),
            groups=["age65", "living_alone", "left_behind_child"],
        )
        counts = load_persons(people, root, progress=progress, campaign=campaign)
        _demo_campaign_progress(campaign, cycle_date)
        write_indicators(cycle_date, root)
    return {"counts": counts, "truth": people.truth, "campaign": campaign.pk}


def _demo_campaign_progress(campaign: Campaign, on: dt.date) -> None:
    """Most villages report their re-survey done; a deterministic few lag (set-based)."""
    cv = CampaignVillage._meta.db_table
    # Villages with a registered person found in the campaign, or whose code's last digit is
    # not 7, are done; surveyed households are a fixed share of their persons.
    bulk.execute(
        f"UPDATE {cv} SET completed_on = %s, surveyed = (SELECT COUNT(*) FROM {P} p "
        f"WHERE p.village_id = {cv}.village_id) / 2 "
        f"WHERE campaign_id = %s AND village_id NOT LIKE %s",
        [on.isoformat(), campaign.pk, "%7"],
    )


def demo_keygroups_summary(county: Area, cycle_date: dt.date) -> dict[str, Any]:
    """The demo summary block: registry size, tiers, groups, overdue, audit counts, campaign."""
    from ruralwatch.keygroups.selectors import (
        audit,
        audit_summary,
        campaign_progress,
        coverage,
        group_counts,
        tier_counts,
    )

    cov = coverage(county.path, cycle_date, county.level)
    row = cov[0] if cov else {}
    campaign = Campaign.objects.filter(area=county).order_by("-pk").first()
    prog = campaign_progress(campaign) if campaign else None
    return {
        "date": cycle_date.isoformat(),
        "registered": row.get("registered", 0),
        "tiers": tier_counts(county.path),
        "groups": group_counts(county.path),
        "due": row.get("due", 0),
        "overdue": row.get("overdue", 0),
        "coverage": row.get("coverage"),
        "no_doctor": row.get("no_doctor", 0),
        "open_referrals": Referral.objects.filter(
            outcome=ReferralOutcome.PENDING, person__village__path__startswith=county.path
        ).count(),
        "audit": audit_summary(audit(county, cycle_date)),
        "campaign": None
        if prog is None
        else {k: prog[k] for k in ("name", "completed", "total", "completion", "found")},
    }


# --- roster import -------------------------------------------------------------------------

ROSTER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字"),
    "sex": ("性别", "gender"),
    "birth_date": ("出生日期", "出生年月日", "生日", "birth"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "证件号码", "id", "id_no"),
    "phone": ("联系电话", "电话", "手机", "手机号", "手机号码"),
    "village": ("村代码", "所在村", "村", "村名", "村（居）", "区划代码", "village_code"),
    "household": ("户号", "家庭住址", "住址", "地址", "address"),
    "groups": ("重点人群类别", "人群类别", "重点人群", "类别", "group", "key_groups"),
    "doctor": ("责任医生", "签约医生", "村医", "responsible_doctor"),
    "cadre": ("包保干部", "包保责任人", "联系干部", "pairing_cadre"),
    "guardian_name": ("监护人", "监护人姓名", "guardian"),
    "guardian_relation": ("与监护人关系", "监护关系", "relation"),
    "guardian_phone": ("监护人电话", "监护人联系电话"),
    "comorbidity": ("基础疾病", "基础病", "合并症"),
    "vaccination": ("疫苗接种", "疫苗接种情况", "接种情况", "vaccinated"),
    "status": ("状态", "人员状态"),
    "registered_on": ("登记日期", "摸排日期", "registered"),
}
_SEX = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F", "1": "M", "2": "F"}
_COMORB = {
    "无": 0,
    "none": 0,
    "0": 0,
    "稳定": 1,
    "stable": 1,
    "1": 1,
    "不稳定": 2,
    "unstable": 2,
    "2": 2,
    "有": 1,
}
_VACC = {
    "全程": 0,
    "已全程": 0,
    "加强": 0,
    "complete": 0,
    "0": 0,
    "未全程": 1,
    "部分": 1,
    "incomplete": 1,
    "1": 1,
    "未接种": 2,
    "无": 2,
    "none": 2,
    "2": 2,
}
_STATUS = {
    "在册": "active",
    "正常": "active",
    "active": "active",
    "迁出": "moved",
    "外出": "moved",
    "moved": "moved",
    "死亡": "deceased",
    "已故": "deceased",
    "deceased": "deceased",
}

ROSTER_STAGE = [
    ("row_no", "bigint"),
    ("ref", "varchar(40)"),
    ("name", "varchar(60)"),
    ("sex", "varchar(1)"),
    ("birth_month", "date"),
    ("birth_date_enc", "text"),
    ("id_enc", "text"),
    ("id_hash", "varchar(64)"),
    ("id_masked", "varchar(18)"),
    ("phone_enc", "text"),
    ("village", "varchar(12)"),
    ("household", "varchar(80)"),
    ("doctor", "varchar(60)"),
    ("cadre", "varchar(60)"),
    ("guardian_name", "varchar(60)"),
    ("guardian_relation", "varchar(20)"),
    ("guardian_phone_enc", "text"),
    ("comorbidity", "smallint"),
    ("vaccination", "smallint"),
    ("status", "varchar(10)"),
    ("registered_on", "date"),
]


@dataclass
class RosterImportSummary(ImportSummary):
    inserted: int = 0
    memberships_added: int = 0
    responsible_created: int = 0
    villages: list[str] = field(default_factory=list)


def _group_lookup() -> tuple[dict[str, str], set[str]]:
    lookup: dict[str, str] = {}
    guardian: set[str] = set()
    for code, zh, en, aliases, needs in KeyGroup.objects.values_list(
        "code", "name_zh", "name_en", "aliases", "needs_guardian"
    ):
        for key in (code, zh, en, *aliases.split(",")):
            if key.strip():
                lookup[key.strip().lower()] = code
        if needs:
            guardian.add(code)
    return lookup, guardian


def _village_lookup(values: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """Village text → code: 12-digit codes of level-5 areas, or unique village names."""
    codes = [v for v in values if v.isdigit()]
    names = [v for v in values if not v.isdigit()]
    found: dict[str, str] = {}
    ambiguous: dict[str, int] = {}
    for start in range(0, len(codes), 900):
        for code in Area.objects.filter(code__in=codes[start : start + 900], level=5).values_list(
            "code", flat=True
        ):
            found[code] = code
    for start in range(0, len(names), 900):
        by_name: dict[str, list[str]] = {}
        for code, name in Area.objects.filter(
            name__in=names[start : start + 900], level=5
        ).values_list("code", "name"):
            by_name.setdefault(name, []).append(code)
        for name, cs in by_name.items():
            if len(cs) == 1:
                found[name] = cs[0]
            else:
                ambiguous[name] = len(cs)
    return found, ambiguous


_ROSTER_TEXTS = ("name", "household", "guardian_name", "guardian_relation")


def crypto_mask(id_number: pl.Expr) -> pl.Expr:
    """An ID number as it may appear in an error message: masked like the stored mask."""
    return (
        pl.when(id_number.str.len_chars() == 18)
        .then(_mask_expr(id_number))
        .otherwise(pl.lit("*" * 6))
    )


def _text(col: str) -> pl.Expr:
    return pl.col(col).fill_null("")


def _parse_roster(
    frame: pl.DataFrame, file: str, today: dt.date
) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    for col in ROSTER_ALIASES:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
    frame = frame.with_columns(
        pl.col("id_number").str.to_uppercase().str.replace_all(r"\s", ""),
        pl.col("sex").str.to_lowercase().replace_strict(_SEX, default=None).alias("sex_code"),
        pl.col("comorbidity")
        .str.to_lowercase()
        .replace_strict(_COMORB, default=None)
        .cast(pl.Int16)
        .alias("comorb"),
        pl.col("vaccination")
        .str.to_lowercase()
        .replace_strict(_VACC, default=None)
        .cast(pl.Int16)
        .alias("vacc"),
        pl.col("status")
        .str.to_lowercase()
        .replace_strict(_STATUS, default=None)
        .alias("status_code"),
    )
    ids = frame["id_number"].fill_null("").to_list()
    ok = [crypto.id_number_ok(v) for v in ids]
    frame = frame.with_columns(pl.Series("id_ok", ok, dtype=pl.Boolean))
    birth = parse_date(pl.col("birth_date").str.replace_all(r"[年月]", "-").str.replace("日$", ""))
    id_birth = parse_date(pl.col("id_number").str.slice(6, 8))
    frame = frame.with_columns(
        birth.alias("birth_parsed"),
        pl.when(pl.col("id_ok")).then(id_birth).alias("id_birth"),
        pl.when(pl.col("id_ok"))
        .then(
            pl.when(pl.col("id_number").str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        )
        .alias("id_sex"),
        parse_date(pl.col("registered_on")).alias("reg_parsed"),
    )
    problems += problems_where(frame, pl.col("name").is_null(), file, "name", _("name is empty"))
    problems += problems_where(
        frame, pl.col("id_number").is_null(), file, "id_number", _("resident ID number is empty")
    )
    problems += problems_where(
        frame,
        pl.col("id_number").is_not_null() & ~pl.col("id_ok"),
        file,
        "id_number",
        pl.format(
            _("invalid resident ID number {} (18 characters with a correct check digit)"),
            crypto_mask(pl.col("id_number")),
        ),
    )
    problems += problems_where(
        frame,
        pl.col("id_ok") & pl.col("id_birth").is_null(),
        file,
        "id_number",
        pl.format(
            _("the birth date {} written in the resident ID number is not a calendar date"),
            pl.col("id_number").str.slice(6, 8),
        ),
    )
    problems += date_span_problems(frame, "id_birth", file, "id_number", EARLIEST_BIRTH, today)
    problems += problems_where(
        frame,
        pl.col("sex").is_not_null() & pl.col("sex_code").is_null(),
        file,
        "sex",
        pl.format(_("unknown sex {} (男/女)"), pl.col("sex")),
    )
    problems += problems_where(
        frame,
        pl.col("sex_code").is_not_null()
        & pl.col("id_sex").is_not_null()
        & (pl.col("sex_code") != pl.col("id_sex")),
        file,
        "sex",
        _("sex does not match the ID number"),
    )
    problems += problems_where(
        frame,
        pl.col("birth_date").is_not_null() & pl.col("birth_parsed").is_null(),
        file,
        "birth_date",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("birth_date")),
    )
    problems += problems_where(
        frame,
        pl.col("birth_parsed").is_not_null()
        & pl.col("id_birth").is_not_null()
        & (pl.col("birth_parsed") != pl.col("id_birth")),
        file,
        "birth_date",
        _("date of birth does not match the ID number"),
    )
    problems += date_span_problems(frame, "birth_parsed", file, "birth_date", EARLIEST_BIRTH, today)
    for col in ("phone", "guardian_phone"):
        ok = [crypto.phone_ok(v) if v is not None else True for v in frame[col].to_list()]
        problems += problems_where(
            frame.with_columns(pl.Series("__phone_ok__", ok, dtype=pl.Boolean)),
            ~pl.col("__phone_ok__"),
            file,
            col,
            pl.format(
                _("not a phone number: {} (7 to 15 digits, optionally + and dashes)"),
                pl.col(col).str.slice(0, 40),
            ),
        )
    for col, mapped, hint in (
        ("comorbidity", "comorb", "无/稳定/不稳定"),
        ("vaccination", "vacc", "全程/未全程/未接种"),
        ("status", "status_code", "在册/迁出/死亡"),
    ):
        problems += problems_where(
            frame,
            pl.col(col).is_not_null() & pl.col(mapped).is_null(),
            file,
            col,
            pl.format(_("unknown value {} (use {})"), pl.col(col), pl.lit(hint)),
        )
    problems += problems_where(
        frame,
        pl.col("registered_on").is_not_null() & pl.col("reg_parsed").is_null(),
        file,
        "registered_on",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("registered_on")),
    )
    problems += date_span_problems(
        frame, "reg_parsed", file, "registered_on", EARLIEST_REGISTRATION, today
    )
    problems += problems_where(
        frame,
        pl.col("reg_parsed") < pl.coalesce("birth_parsed", "id_birth"),
        file,
        "registered_on",
        pl.format(
            _("registered on {}, before the date of birth {}"),
            pl.col("reg_parsed").cast(pl.String),
            pl.coalesce("birth_parsed", "id_birth").cast(pl.String),
        ),
    )
    problems += length_problems(
        frame,
        file,
        {
            **{c: max_length(Person, c) for c in _ROSTER_TEXTS},
            "doctor": max_length(Responsible, "name"),
            "cadre": max_length(Responsible, "name"),
        },
    )
    problems += problems_where(
        frame, pl.col("village").is_null(), file, "village", _("village is empty")
    )
    problems += problems_where(
        frame, pl.col("groups").is_null(), file, "groups", _("key-group category is empty")
    )
    return frame, problems


def import_roster(
    path: str | Path, *, today: dt.date | None = None, progress: Progress | None = None
) -> RosterImportSummary:
    """Import a roster of key-group persons from CSV/XLSX with Chinese or English headers.

    All-or-nothing: every problem (bad ID check digit, unknown village, duplicate ID in the
    file, unknown group, missing guardian …) is reported with file, row, column and reason,
    and nothing is written. Idempotent: a person is keyed by (keyed hash of the ID number,
    village); re-importing the same file changes nothing. A person registered in another
    village is added again (the audit reports the duplicate). Doctors and cadres named in
    the file are matched by code or by name inside the village, and created if missing.
    """
    today = today or timezone.localdate()
    file = Path(path).name
    frame = read_table(path)
    frame = canonical_columns(
        frame, ROSTER_ALIASES, ["name", "id_number", "village", "groups"], file
    )
    frame, problems = _parse_roster(frame, file, today)
    # Villages.
    vtexts = sorted(set(frame["village"].drop_nulls().to_list()))
    vmap, ambiguous = _village_lookup(vtexts)
    frame = frame.with_columns(
        pl.col("village").replace_strict(vmap, default=None).alias("village_code")
    )
    problems += problems_where(
        frame,
        pl.col("village").is_not_null()
        & pl.col("village_code").is_null()
        & ~pl.col("village").is_in(list(ambiguous)),
        file,
        "village",
        pl.format(_("unknown village {} (a village code or name)"), pl.col("village")),
    )
    problems += problems_where(
        frame,
        pl.col("village").is_in(list(ambiguous)),
        file,
        "village",
        pl.format(_("village name {} is not unique: use the village code"), pl.col("village")),
    )
    # Groups.
    glookup, guardian_groups = _group_lookup()
    groups = (
        frame.select(ROW, "groups")
        .with_columns(pl.col("groups").str.replace_all(r"[、，,;；/|]", ",").str.split(","))
        .explode("groups")
        .with_columns(pl.col("groups").str.strip_chars())
        .filter(pl.col("groups").is_not_null() & (pl.col("groups") != ""))
        .with_columns(
            pl.col("groups").str.to_lowercase().replace_strict(glookup, default=None).alias("grp")
        )
    )
    problems += problems_where(
        groups,
        pl.col("grp").is_null(),
        file,
        "groups",
        pl.format(_("unknown key group {}"), pl.col("groups")),
    )
    needs = groups.filter(pl.col("grp").is_in(list(guardian_groups)))[ROW].unique().to_list()
    problems += problems_where(
        frame,
        pl.col(ROW).is_in(needs) & pl.col("guardian_name").is_null(),
        file,
        "guardian_name",
        _("a guardian is needed for a child"),
    )
    # Duplicate IDs in the file (same village or not: one person, one row).
    first = pl.col(ROW).min().over("id_number")
    problems += problems_where(
        frame,
        pl.col("id_ok") & (pl.col(ROW) != first),
        file,
        "id_number",
        pl.format(_("duplicate of row {} (same resident ID number)"), first),
    )
    if problems:
        raise ImportRejected(problems)

    key = crypto.hash_key()
    id_list = frame["id_number"].to_list()
    hashes = [crypto.keyed_hash(v, key) for v in id_list]
    frame = frame.with_columns(
        pl.Series("id_hash", hashes, dtype=pl.String),
        pl.coalesce("birth_parsed", "id_birth").cast(pl.String).alias("birth"),
        pl.coalesce("sex_code", "id_sex").alias("sex_final"),
        pl.col("reg_parsed").fill_null(today).cast(pl.String).alias("reg"),
    )
    with transaction.atomic():
        # Concurrent imports of the same rows: the second reads the stored tokens and
        # counts after the first committed.
        bulk.import_lock("roster", P)
        # Keep the stored tokens of unchanged personal fields, so re-imports change nothing.
        existing = _existing_tokens(frame)
        f = crypto.fernet()

        def tokens(col: str, enc_col: str) -> pl.Series:
            out = []
            for h, v, value in zip(
                frame["id_hash"].to_list(),
                frame["village_code"].to_list(),
                frame[col].fill_null("").to_list(),
                strict=True,
            ):
                old = existing.get((h, v), {}).get(enc_col)
                if old is not None and crypto.decrypt(old) == value:
                    out.append(old)
                else:
                    out.append(f.encrypt(value.encode()).decode() if value else "")
            return pl.Series(enc_col, out, dtype=pl.String)

        frame = frame.with_columns(
            tokens("id_number", "id_enc"),
            tokens("phone", "phone_enc"),
            tokens("guardian_phone", "guardian_phone_enc"),
            tokens("birth", "birth_date_enc"),
        )
        frame, created_resp = _resolve_responsible(frame)
        stage = frame.select(
            pl.col(ROW).alias("row_no"),
            (pl.col("village_code") + "-K" + pl.col("id_hash").str.slice(0, 10)).alias("ref"),
            "name",
            pl.col("sex_final").alias("sex"),
            pl.col("birth").str.slice(0, 8).add(pl.lit("01")).alias("birth_month"),
            "birth_date_enc",
            "id_enc",
            "id_hash",
            _mask_expr(pl.col("id_number")).alias("id_masked"),
            "phone_enc",
            pl.col("village_code").alias("village"),
            _text("household").alias("household"),
            pl.col("doctor_code").alias("doctor"),
            pl.col("cadre_code").alias("cadre"),
            _text("guardian_name").alias("guardian_name"),
            _text("guardian_relation").alias("guardian_relation"),
            "guardian_phone_enc",
            pl.col("comorb").fill_null(0).alias("comorbidity"),
            pl.col("vacc").fill_null(2).alias("vaccination"),
            pl.col("status_code").fill_null("active").alias("status"),
            pl.col("reg").alias("registered_on"),
        )
        mem = (
            groups.join(frame.select(ROW, "id_hash", "village_code"), on=ROW)
            .select("id_hash", pl.col("village_code").alias("village"), "grp")
            .unique()
        )
        summary = RosterImportSummary(
            file=file,
            rows=stage.height,
            villages=sorted(stage["village"].unique().to_list()),
            responsible_created=created_resp,
        )
        batch = RosterImport.objects.create(source=file, sha256=file_sha256(path))
        _create_responsible(frame)
        bulk.create_staging("stage_kg_roster", ROSTER_STAGE)
        bulk.load_staging(
            "stage_kg_roster",
            stage,
            progress=(lambda n: progress("load", n, stage.height)) if progress else None,
        )
        summary.inserted, summary.updated, summary.unchanged = _upsert_roster(batch.pk, today)
        bulk.create_staging(
            "stage_kg_rmem",
            [("id_hash", "varchar(64)"), ("village", "varchar(12)"), ("grp", "varchar(30)")],
        )
        bulk.load_staging("stage_kg_rmem", mem)
        summary.memberships_added = bulk.execute(
            f"INSERT INTO {M} (person_id, group_id, since) "
            f"SELECT p.id, s.grp, %s FROM stage_kg_rmem s JOIN {P} p "
            f"ON p.id_hash = s.id_hash AND p.village_id = s.village "
            f"WHERE NOT EXISTS (SELECT 1 FROM {M} m WHERE m.person_id = p.id "
            f"AND m.group_id = s.grp)",
            [today.isoformat()],
        )
        bulk.execute(
            f"UPDATE {M} SET until = %s WHERE until IS NULL AND person_id IN "
            f"(SELECT id FROM {P} WHERE batch_id = %s AND status <> 'active')",
            [today.isoformat(), batch.pk],
        )
        retier(today, extra=f" AND batch_id = {int(batch.pk)}")
        batch.rows, batch.inserted, batch.updated, batch.unchanged = (
            summary.rows,
            summary.inserted,
            summary.updated,
            summary.unchanged,
        )
        batch.save(update_fields=["rows", "inserted", "updated", "unchanged"])
        for name in ("stage_kg_roster", "stage_kg_rmem", "stage_kg_newresp"):
            bulk.drop_staging(name)
    return summary


def _existing_tokens(frame: pl.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    hashes = frame["id_hash"].to_list()
    for start in range(0, len(hashes), 900):
        for h, v, i, ph, g, b in Person.objects.filter(
            id_hash__in=hashes[start : start + 900]
        ).values_list(
            "id_hash", "village_id", "id_enc", "phone_enc", "guardian_phone_enc", "birth_date_enc"
        ):
            out[(h, v)] = {
                "id_enc": i,
                "phone_enc": ph,
                "guardian_phone_enc": g,
                "birth_date_enc": b,
            }
    return out


def _resolve_responsible(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Doctor/cadre text → responsible code: an existing code, a name in the village, or a
    new code ``D<village>-<name>`` / ``C<village>-<name>`` (created on import)."""
    villages = frame["village_code"].unique().to_list()
    known: dict[tuple[str, str, str], str] = {}
    codes: set[str] = set()
    for start in range(0, len(villages), 900):
        for code, kind, name, area in Responsible.objects.filter(
            area_id__in=villages[start : start + 900]
        ).values_list("code", "kind", "name", "area_id"):
            known[(kind, area, name)] = code
            codes.add(code)
    new = 0
    out = {}
    for col, kind, prefix in (("doctor", "doctor", "D"), ("cadre", "cadre", "C")):
        values: list[str | None] = []
        for text, village in zip(
            frame[col].to_list(), frame["village_code"].to_list(), strict=True
        ):
            if not text:
                values.append(None)
            elif text in codes:
                values.append(text)
            elif (kind, village, text) in known:
                values.append(known[(kind, village, text)])
            else:
                code = f"{prefix}{village}-{text}"[:60]
                known[(kind, village, text)] = code
                new += 1
                values.append(code)
        out[f"{col}_code"] = pl.Series(values, dtype=pl.String)
    return frame.with_columns(**out), new


def _create_responsible(frame: pl.DataFrame) -> None:
    rows = []
    for col, kind in (("doctor", "doctor"), ("cadre", "cadre")):
        part = frame.filter(pl.col(f"{col}_code").is_not_null()).select(
            pl.col(f"{col}_code").alias("code"),
            pl.lit(kind).alias("kind"),
            pl.col(col).alias("name"),
            pl.col("village_code").alias("area"),
        )
        rows.append(part)
    resp = pl.concat(rows).unique(subset=["code"], keep="first")
    bulk.create_staging(
        "stage_kg_newresp",
        [
            ("code", "varchar(60)"),
            ("kind", "varchar(10)"),
            ("name", "varchar(60)"),
            ("area", "varchar(12)"),
        ],
    )
    bulk.load_staging("stage_kg_newresp", resp)
    bulk.execute(
        f"INSERT INTO {RESP} (code, kind, name, phone_enc, area_id, active) "
        f"SELECT s.code, s.kind, s.name, '', s.area, %s FROM stage_kg_newresp s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {RESP} r WHERE r.code = s.code)",
        [True],
    )


_ROSTER_COLUMNS = (
    "ref",
    "name",
    "sex",
    "birth_month",
    "birth_date_enc",
    "id_enc",
    "id_masked",
    "phone_enc",
    "household",
    "guardian_name",
    "guardian_relation",
    "guardian_phone_enc",
    "comorbidity",
    "vaccination",
    "status",
)


def _upsert_roster(batch_id: int, today: dt.date) -> tuple[int, int, int]:
    join = (
        f"FROM stage_kg_roster s JOIN {P} p ON p.id_hash = s.id_hash AND p.village_id = s.village"
    )
    doctor = f"(SELECT r.id FROM {RESP} r WHERE r.code = s.doctor)"
    cadre = f"(SELECT r.id FROM {RESP} r WHERE r.code = s.cadre)"
    differs = " OR ".join(
        [f"p.{c} <> s.{c}" for c in _ROSTER_COLUMNS if c != "ref"]
        + [
            f"COALESCE(p.doctor_id, 0) <> COALESCE({doctor}, 0)",
            f"COALESCE(p.cadre_id, 0) <> COALESCE({cadre}, 0)",
        ]
    )
    total = bulk.scalar("SELECT COUNT(*) FROM stage_kg_roster")
    existing = bulk.scalar(f"SELECT COUNT(*) {join}")
    changed = bulk.scalar(f"SELECT COUNT(*) {join} WHERE {differs}")
    now = _now_db()
    cols = ", ".join(_ROSTER_COLUMNS)
    scols = ", ".join(f"s.{c}" for c in _ROSTER_COLUMNS)
    # Updates first (only rows that differ), then inserts of new keys: both set-based.
    sets = ", ".join(
        f"{c} = (SELECT s.{c} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id)"
        for c in _ROSTER_COLUMNS
        if c != "ref"
    )
    match = (
        f"SELECT 1 FROM stage_kg_roster s "
        f"WHERE s.id_hash = {P}.id_hash AND s.village = {P}.village_id"
    )
    bulk.execute(
        f"UPDATE {P} SET {sets}, "
        f"doctor_id = (SELECT {doctor} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id), "
        f"cadre_id = (SELECT {cadre} FROM stage_kg_roster s WHERE s.id_hash = {P}.id_hash "
        f"AND s.village = {P}.village_id), "
        f"status_date = CASE WHEN status <> (SELECT s.status FROM stage_kg_roster s WHERE "
        f"s.id_hash = {P}.id_hash AND s.village = {P}.village_id) THEN %s ELSE status_date END, "
        f"batch_id = %s, updated_at = %s "
        f"WHERE EXISTS ({match} AND (" + differs.replace("p.", f"{P}.") + "))",
        [today.isoformat(), batch_id, now],
    )
    bulk.execute(
        f"INSERT INTO {P} ({cols}, id_hash, village_id, doctor_id, cadre_id, tier, tier_reason, "
        f"last_status, registered_on, status_date, batch_id, created_at, updated_at) "
        f"SELECT {scols}, s.id_hash, s.village, {doctor}, {cadre}, 'green', 'score', '', "
        f"s.registered_on, CASE WHEN s.status <> 'active' THEN s.registered_on END, %s, %s, %s "
        f"FROM stage_kg_roster s WHERE NOT EXISTS (SELECT 1 FROM {P} p "
        f"WHERE p.id_hash = s.id_hash AND p.village_id = s.village)",
        [batch_id, now, now],
    )
    return total - existing, changed, existing - changed
