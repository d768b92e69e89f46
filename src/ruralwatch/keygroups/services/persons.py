"""Writes about one person (pages and API): registration, contacts, status, responsible,
referral outcomes; each checked and in a transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core.tabular import (
    max_length,
)
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    Campaign,
    Contact,
    ContactStatus,
    Destination,
    KeyGroup,
    Membership,
    Person,
    PersonStatus,
    Referral,
    ReferralOutcome,
    ReferralReason,
    Responsible,
    Tier,
    TierReason,
)
from ruralwatch.keygroups.selectors import active_rules
from ruralwatch.keygroups.services.tiers import retier

#: Plausible dates for a person: born on or after 1900-01-01 (nobody registered today is
#: older than 126), not in the future; registered on or after 2000-01-01 (before any key-group
#: registry existed), not in the future, not before birth.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_REGISTRATION = dt.date(2000, 1, 1)


def id_number_problems(id_number: str, sex: str | None, birth: dt.date | None) -> list[str]:
    """What is wrong with a (normalised) resident ID number, alone (``sex`` and ``birth``
    ``None``) or against the sex and birth date entered with it; the form shows these
    beside the other fields' errors, and :func:`register_person` refuses them."""
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
    errors = id_number_problems(id_number, sex, birth_date)
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
