"""Reads of the key-group registry: rules, overdue lists, coverage, the audit, campaigns.

Everything that grows with the number of people is one SQL statement (a scan or a GROUP BY
over ``Person`` joined to ``Area``); nothing loops over persons in Python except to format
the rows of one short list. Callers pass areas they already obtained through the access
helpers (:mod:`ruralwatch.accounts.access`, :mod:`ruralwatch.keygroups.access`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    Campaign,
    CampaignVillage,
    Contact,
    ExpectedCount,
    Membership,
    Person,
    PersonStatus,
    Referral,
    ReferralOutcome,
    Responsible,
    TierRuleSet,
)
from ruralwatch.keygroups.rules import DEFAULT_RULES, Rules, due_status_sql, parse_rules

P = Person._meta.db_table
A = Area._meta.db_table
M = Membership._meta.db_table
C = Contact._meta.db_table
R = Referral._meta.db_table
E = ExpectedCount._meta.db_table

AUDIT_KINDS = (
    "no_responsible_doctor",
    "no_pairing_cadre",
    "contact_overdue",
    "duplicate_person",
    "stale_moved",
    "stale_deceased",
    "unregistered_expected",
)
#: What each audit finding is called on pages and in briefings.
AUDIT_LABELS: dict[str, Any] = {
    "no_responsible_doctor": gettext_lazy("No responsible doctor"),
    "no_pairing_cadre": gettext_lazy("No pairing cadre"),
    "contact_overdue": gettext_lazy("Contact overdue"),
    "duplicate_person": gettext_lazy("Registered in more than one village"),
    "stale_moved": gettext_lazy("Moved away but still on the list"),
    "stale_deceased": gettext_lazy("Deceased but still on the list"),
    "unregistered_expected": gettext_lazy("Fewer registered than expected"),
}


def active_rules() -> Rules:
    """The active rule set (the published default when none is active)."""
    params = TierRuleSet.objects.filter(active=True).values_list("params", flat=True).first()
    return parse_rules(params if params is not None else DEFAULT_RULES)


def _subtree(path: str | None, alias: str = "a") -> tuple[str, list[Any]]:
    if not path:
        return "", []
    return f" AND {alias}.path LIKE %s", [path + "%"]


# --- lists -------------------------------------------------------------------------------------


def annotate_due(qs: QuerySet[Person], on: dt.date, rules: Rules | None = None) -> QuerySet[Person]:
    """``qs`` with ``due_status`` ('overdue', 'due', 'ok') on ``on`` computed in SQL."""
    sql, params = due_status_sql(rules or active_rules(), on, alias=P)
    return qs.annotate(due_status=RawSQL(sql, params))


def contact_list(
    qs: QuerySet[Person],
    on: dt.date,
    *,
    include_ok: bool = False,
    rules: Rules | None = None,
) -> QuerySet[Person]:
    """Active persons of ``qs`` due or overdue on ``on`` (reddest and longest waiting first).

    ``qs`` is a scoped queryset (``access.scope_persons``), optionally narrowed to one
    doctor (``doctor=…``), cadre or village. One indexed query.
    """
    qs = annotate_due(qs.filter(status=PersonStatus.ACTIVE), on, rules)
    if not include_ok:
        qs = qs.filter(due_status__in=["overdue", "due"])  # type: ignore[misc]
    tier_order = RawSQL(f"CASE {P}.tier WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END", [])
    return (
        qs.annotate(tier_order=tier_order)
        .select_related("village", "doctor", "cadre")
        .order_by("tier_order", "last_contact", "ref")
    )


def doctor_list(responsible: Responsible, on: dt.date) -> QuerySet[Person]:
    """One doctor's (or cadre's) list for ``on``: persons due or overdue."""
    field = "doctor" if responsible.kind == "doctor" else "cadre"
    return contact_list(Person.objects.filter(**{field: responsible}), on)


def overdue_by_responsible(
    root_path: str, on: dt.date, kind: str = "doctor"
) -> list[dict[str, Any]]:
    """Per responsible person under ``root_path``: active, due today, overdue (one GROUP BY)."""
    rules = active_rules()
    due, params = due_status_sql(rules, on, alias="p")
    col = "doctor_id" if kind == "doctor" else "cadre_id"
    rt = Responsible._meta.db_table
    sql = (
        f"SELECT r.code, r.name, r.area_id, COUNT(*) AS n_active, "
        f"SUM(CASE WHEN {due} = 'due' THEN 1 ELSE 0 END) AS n_due, "
        f"SUM(CASE WHEN {due} = 'overdue' THEN 1 ELSE 0 END) AS n_overdue "
        f"FROM {P} p JOIN {rt} r ON r.id = p.{col} JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND a.path LIKE %s "
        f"GROUP BY r.code, r.name, r.area_id ORDER BY 6 DESC, r.code"
    )
    frame = bulk.fetch_frame(sql, [*params, *params, root_path + "%"])
    return [
        {"code": c, "name": n, "area": a, "active": int(t), "due": int(d), "overdue": int(o)}
        for c, n, a, t, d, o in frame.iter_rows()
    ]


def coverage(root_path: str, on: dt.date, level: int) -> list[dict[str, Any]]:
    """Per area at ``level`` under ``root_path``: registered, red, due, overdue, covered.

    ``covered`` = active persons contacted within their tier's interval; ``coverage`` is
    covered / registered. One scan and GROUP BY on the area's ancestor column.
    """
    if level not in (1, 2, 3, 4, 5):
        raise ValueError("level must be 1–5")
    rules = active_rules()
    due, params = due_status_sql(rules, on, alias="p")
    col = f"a.l{level}"
    sql = (
        f"SELECT {col} AS area, COUNT(*) AS n_registered, "
        f"SUM(CASE WHEN p.tier = 'red' THEN 1 ELSE 0 END) AS n_red, "
        f"SUM(CASE WHEN {due} = 'due' THEN 1 ELSE 0 END) AS n_due, "
        f"SUM(CASE WHEN {due} = 'overdue' THEN 1 ELSE 0 END) AS n_overdue, "
        f"SUM(CASE WHEN p.doctor_id IS NULL THEN 1 ELSE 0 END) AS n_no_doctor "
        f"FROM {P} p JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND a.path LIKE %s AND {col} <> '' "
        f"GROUP BY {col} ORDER BY {col}"
    )
    frame = bulk.fetch_frame(sql, [*params, *params, root_path + "%"])
    out = []
    for code, reg, red, d, o, nodoc in frame.iter_rows():
        reg, o = int(reg), int(o)
        out.append(
            {
                "area": code,
                "registered": reg,
                "red": int(red),
                "due": int(d),
                "overdue": o,
                "no_doctor": int(nodoc),
                "covered": reg - o,
                "coverage": round((reg - o) / reg, 4) if reg else None,
            }
        )
    return out


def responsible_loads(area: Area, on: dt.date, kind: str = "doctor") -> list[dict[str, Any]]:
    """Every doctor (or cadre) with persons under ``area``: :func:`overdue_by_responsible`
    (most overdue first) with ``area_name`` (one more query per 900 areas), for an export."""
    rows = overdue_by_responsible(area.path, on, kind)
    codes = sorted({r["area"] for r in rows})
    names: dict[str, str] = {}
    for start in range(0, len(codes), 900):
        names.update(
            Area.objects.filter(code__in=codes[start : start + 900]).values_list("code", "name")
        )
    for r in rows:
        r["area_name"] = names.get(r["area"], r["area"])
    return rows


def tier_counts(root_path: str) -> dict[str, int]:
    sql = (
        f"SELECT p.tier, COUNT(*) AS n FROM {P} p JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND a.path LIKE %s GROUP BY p.tier"
    )
    frame = bulk.fetch_frame(sql, [root_path + "%"])
    counts = {"red": 0, "yellow": 0, "green": 0}
    counts.update({t: int(n) for t, n in frame.iter_rows()})
    return counts


def group_counts(root_path: str) -> dict[str, int]:
    sql = (
        f"SELECT m.group_id, COUNT(*) AS n FROM {M} m JOIN {P} p ON p.id = m.person_id "
        f"JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND m.until IS NULL AND a.path LIKE %s GROUP BY m.group_id"
    )
    return {g: int(n) for g, n in bulk.fetch_frame(sql, [root_path + "%"]).iter_rows()}


def open_referrals(qs: QuerySet[Person]) -> QuerySet[Referral]:
    """Pending referrals of the persons in ``qs`` (a scoped queryset), oldest first."""
    return (
        Referral.objects.filter(person__in=qs, outcome=ReferralOutcome.PENDING)
        .select_related("person", "person__village")
        .order_by("date", "id")
    )


# --- one person --------------------------------------------------------------------------------


def person_detail(person: Person) -> dict[str, Any]:
    """A person's record with personal fields decrypted (caller obtained it via access)."""
    return {
        "ref": person.ref,
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "id_number": crypto.decrypt(person.id_enc),
        "phone": crypto.decrypt(person.phone_enc),
        "village": person.village_id,
        "household": person.household,
        "status": person.status,
        "doctor": person.doctor.name if person.doctor_id and person.doctor else None,
        "cadre": person.cadre.name if person.cadre_id and person.cadre else None,
        "guardian": person.guardian_name,
        "guardian_relation": person.guardian_relation,
        "guardian_phone": crypto.decrypt(person.guardian_phone_enc),
        "groups": list(
            person.memberships.filter(until__isnull=True).values_list("group_id", flat=True)
        ),
        "tier": person.tier,
        "tier_score": person.tier_score,
        "tier_reason": person.tier_reason,
        "last_contact": person.last_contact.isoformat() if person.last_contact else None,
        "last_status": person.last_status,
    }


def person_history(person: Person, limit: int = 60) -> dict[str, list[Any]]:
    contacts = list(
        person.contacts.order_by("-date", "-id").values(
            "id", "date", "method", "status", "spo2", "note"
        )[:limit]
    )
    referrals = list(
        person.referrals.order_by("-date", "-id").values(
            "id", "date", "destination", "reason", "outcome", "outcome_date"
        )
    )
    return {"contacts": contacts, "referrals": referrals}


# --- the "no omissions" audit ------------------------------------------------------------------


def audit(
    area: Area,
    on: dt.date,
    kinds: tuple[str, ...] = AUDIT_KINDS,
    *,
    within: str | None = None,
) -> list[dict[str, Any]]:
    """Every finding of the "no omissions" audit for ``area``'s subtree on ``on``.

    Each finding: ``id`` (``kind:area:date:person-or-group``), ``kind``, ``person`` (the
    person's ``ref``, or ``None`` for area findings), ``area`` (village code), ``date``, and
    per kind: ``group``/``expected``/``registered``, ``other_areas``, ``elsewhere``,
    ``last_contact``. Same kinds and ids as :mod:`ruralwatch.synth.persons`' truth.

    ``within`` is the path of the reader's jurisdiction (``None``: the whole tree). A duplicate
    registered outside it is still flagged, but ``other_areas`` names only the villages inside
    it; ``elsewhere`` says that the person is also registered outside, without saying where.
    """
    path = area.path
    on_s = on.isoformat()
    found: list[dict[str, Any]] = []

    def person_rows(kind: str, where: str, params: list[Any], extra: str = "") -> None:
        sql = (
            f"SELECT p.ref, p.village_id{extra} FROM {P} p JOIN {A} a ON a.code = p.village_id "
            f"WHERE a.path LIKE %s AND {where} ORDER BY p.village_id, p.ref"
        )
        frame = bulk.fetch_frame(sql, [path + "%", *params])
        for row in frame.iter_rows():
            ref, village = row[0], row[1]
            item: dict[str, Any] = {
                "id": f"{kind}:{village}:{on_s}:{ref}",
                "kind": kind,
                "person": ref,
                "area": village,
                "date": on_s,
            }
            if kind == "contact_overdue":
                item["last_contact"] = str(row[2])[:10] if row[2] else None
                item["tier"] = row[3]
            found.append(item)

    active = "p.status = 'active'"
    if "no_responsible_doctor" in kinds:
        person_rows("no_responsible_doctor", f"{active} AND p.doctor_id IS NULL", [])
    if "no_pairing_cadre" in kinds:
        person_rows("no_pairing_cadre", f"{active} AND p.cadre_id IS NULL", [])
    if "contact_overdue" in kinds:
        due, params = due_status_sql(active_rules(), on, alias="p")
        person_rows(
            "contact_overdue",
            f"{active} AND {due} = 'overdue'",
            params,
            extra=", p.last_contact, p.tier",
        )
    if "duplicate_person" in kinds:
        sql = (
            f"SELECT p.ref, p.village_id, p.id_hash FROM {P} p JOIN {A} a ON a.code = p.village_id "
            # Another active row with the same hash: an index probe per person of the
            # subtree, not a GROUP BY over the whole registry.
            f"WHERE a.path LIKE %s AND {active} AND EXISTS ("
            f"SELECT 1 FROM {P} d WHERE d.id_hash = p.id_hash AND d.status = 'active' "
            f"AND d.id <> p.id) ORDER BY p.village_id, p.ref"
        )
        frame = bulk.fetch_frame(sql, [path + "%"])
        hashes = list(set(frame["id_hash"].to_list())) if frame.height else []
        others: dict[str, list[str]] = {}
        for start in range(0, len(hashes), 900):
            for h, v in Person.objects.filter(
                id_hash__in=hashes[start : start + 900], status=PersonStatus.ACTIVE
            ).values_list("id_hash", "village_id"):
                others.setdefault(h, []).append(v)
        seen = _inside(
            {v for vs in others.values() for v in vs}, within if within is not None else "/"
        )
        for ref, village, h in frame.iter_rows():
            twins = [v for v in others.get(h, []) if v != village]
            found.append(
                {
                    "id": f"duplicate_person:{village}:{on_s}:{ref}",
                    "kind": "duplicate_person",
                    "person": ref,
                    "area": village,
                    "date": on_s,
                    "other_areas": sorted(v for v in twins if v in seen),
                    "elsewhere": any(v not in seen for v in twins),
                }
            )
    for kind, gone_status, contact_status in (
        ("stale_deceased", "deceased", "died"),
        ("stale_moved", "moved", "moved_away"),
    ):
        if kind not in kinds:
            continue
        open_membership = (
            f"EXISTS (SELECT 1 FROM {M} m WHERE m.person_id = p.id AND m.until IS NULL)"
        )
        person_rows(
            kind,
            f"(({active} AND p.last_status = %s) OR (p.status = %s AND p.status_date <= %s "
            f"AND ({open_membership} OR p.doctor_id IS NOT NULL)))",
            [contact_status, gone_status, on_s],
        )
    if "unregistered_expected" in kinds:
        found.extend(_unregistered(path, on_s))
    return found


def _inside(codes: set[str], path: str) -> set[str]:
    """Those of ``codes`` whose area lies under ``path`` (one query per 900 codes)."""
    if path == "/":
        return set(codes)
    listed = sorted(codes)
    inside: set[str] = set()
    for start in range(0, len(listed), 900):
        inside.update(
            Area.objects.filter(
                code__in=listed[start : start + 900], path__startswith=path
            ).values_list("code", flat=True)
        )
    return inside


def _unregistered(path: str, on_s: str) -> list[dict[str, Any]]:
    """Villages registering fewer people of a group than an outside source expects."""
    sql = (
        f"WITH expected AS ("
        f" SELECT a.code AS area, 'age65' AS grp, a.population_65plus AS n FROM {A} a "
        f" WHERE a.level = 5 AND a.path LIKE %s AND a.population_65plus IS NOT NULL "
        f" UNION ALL "
        f" SELECT e.area_id, e.group_id, MAX(e.count) FROM {E} e JOIN {A} a ON a.code = e.area_id "
        f" WHERE a.path LIKE %s GROUP BY e.area_id, e.group_id), "
        f"registered AS ("
        f" SELECT p.village_id AS area, m.group_id AS grp, COUNT(*) AS n FROM {M} m "
        f" JOIN {P} p ON p.id = m.person_id JOIN {A} a ON a.code = p.village_id "
        f" WHERE a.path LIKE %s AND p.status = 'active' AND m.until IS NULL "
        f" GROUP BY p.village_id, m.group_id) "
        f"SELECT x.area, x.grp, x.n AS expected, COALESCE(r.n, 0) AS registered FROM expected x "
        f"LEFT JOIN registered r ON r.area = x.area AND r.grp = x.grp "
        f"WHERE COALESCE(r.n, 0) < x.n ORDER BY x.area, x.grp"
    )
    frame = bulk.fetch_frame(sql, [path + "%"] * 3)
    return [
        {
            "id": f"unregistered_expected:{area}:{on_s}:{grp}",
            "kind": "unregistered_expected",
            "person": None,
            "area": area,
            "date": on_s,
            "group": grp,
            "expected": int(exp),
            "registered": int(reg),
        }
        for area, grp, exp, reg in frame.iter_rows()
    ]


def audit_summary(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(AUDIT_KINDS, 0)
    for f in findings:
        counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    return counts


# --- campaigns ---------------------------------------------------------------------------------


def campaign_progress(campaign: Campaign, *, within: str | None = None) -> dict[str, Any]:
    """Per-village completion and newly found people of a re-survey campaign.

    ``within`` (the path of the reader's jurisdiction; ``None``: the whole tree) limits the
    villages, and the totals, to those the reader may see.
    """
    cv = CampaignVillage._meta.db_table
    sql = (
        f"SELECT v.village_id, a.name, v.completed_on, v.surveyed, "
        f"(SELECT COUNT(*) AS n FROM {P} p WHERE p.campaign_id = v.campaign_id "
        f"AND p.village_id = v.village_id) AS n_found "
        f"FROM {cv} v JOIN {A} a ON a.code = v.village_id WHERE v.campaign_id = %s "
        f"AND a.path LIKE %s ORDER BY v.village_id"
    )
    frame = bulk.fetch_frame(sql, [campaign.pk, (within or "/") + "%"])
    villages = [
        {
            "village": code,
            "name": name,
            "completed_on": str(done) if done else None,
            "surveyed": int(surveyed),
            "found": int(n_found),
        }
        for code, name, done, surveyed, n_found in frame.iter_rows()
    ]
    done = sum(1 for v in villages if v["completed_on"])
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "area": campaign.area_id,
        "start": campaign.start.isoformat(),
        "deadline": campaign.deadline.isoformat(),
        "villages": villages,
        "completed": done,
        "total": len(villages),
        "completion": round(done / len(villages), 4) if villages else None,
        "found": sum(v["found"] for v in villages),
    }


# --- exports -----------------------------------------------------------------------------------


def export_persons(qs: QuerySet[Person], on: dt.date, *, identified: bool) -> list[dict[str, Any]]:
    """Person-level rows of a scoped queryset for export.

    Pseudonymised unless ``identified`` (see ``access.may_export_identified``): the reference
    becomes a keyed pseudonym, the name its first character, the ID number and phone are
    left out and only the birth year is kept. Decryption happens only when identified.
    """
    rows = []
    key = crypto.hash_key()
    rows_qs: Any = annotate_due(qs, on)
    for p in rows_qs.values(
        "ref",
        "name",
        "sex",
        "birth_month",
        "birth_date_enc",
        "id_enc",
        "phone_enc",
        "village_id",
        "status",
        "tier",
        "last_contact",
        "due_status",
    ).order_by("village_id", "ref"):
        if identified:
            rows.append(
                {
                    "ref": p["ref"],
                    "name": p["name"],
                    "sex": p["sex"],
                    "birth_date": crypto.decrypt(p["birth_date_enc"]) or str(p["birth_month"]),
                    "id_number": crypto.decrypt(p["id_enc"]),
                    "phone": crypto.decrypt(p["phone_enc"]),
                    "village": p["village_id"],
                    "status": p["status"],
                    "tier": p["tier"],
                    "last_contact": str(p["last_contact"] or ""),
                    "due_status": p["due_status"],
                }
            )
        else:
            rows.append(
                {
                    "pseudonym": crypto.pseudonym(p["ref"], key),
                    "name": crypto.mask_name(p["name"]),
                    "sex": p["sex"],
                    "birth_year": p["birth_month"].year,
                    "village": p["village_id"],
                    "status": p["status"],
                    "tier": p["tier"],
                    "last_contact": str(p["last_contact"] or ""),
                    "due_status": p["due_status"],
                }
            )
    return rows


# --- the key-group web pages -------------------------------------------------------------------
# Read-only compositions of the selectors above for the pages in ``keygroups/views.py``. Each
# runs a fixed number of queries, whatever the number of persons shown.


@dataclass
class ListRow:
    """One person in a contact list, with what a list row shows."""

    person: Person
    due_status: str
    groups: list[Any]
    age: int
    days_since: int | None
    phone: str = ""


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def list_rows(
    qs: QuerySet[Person], on: dt.date, *, listed_only: bool = False, with_phone: bool = False
) -> list[ListRow]:
    """Active persons of a scoped queryset as list rows (three queries in all).

    With ``listed_only``, only persons due or overdue on ``on`` or contacted on ``on``
    (the day's list); otherwise every active person of ``qs``. ``with_phone`` decrypts
    each person's phone (for a tap-to-call link on the doctor's own list).
    """
    from django.db.models import Q

    rows: Any = contact_list(qs, on, include_ok=True)
    if listed_only:
        rows = rows.filter(Q(due_status__in=["overdue", "due"]) | Q(last_contact=on))
    return _as_rows(rows, on, with_phone=with_phone)


def _as_rows(rows: Any, on: dt.date, *, with_phone: bool) -> list[ListRow]:
    """Persons of an annotated queryset (``due_status``) as list rows (two more queries)."""
    from django.db.models import Prefetch

    from ruralwatch.keygroups.models import KeyGroup

    open_memberships = Membership.objects.filter(until__isnull=True).order_by("group_id")
    rows = rows.prefetch_related(
        Prefetch("memberships", queryset=open_memberships, to_attr="open_memberships")
    )
    groups = {g.code: g for g in KeyGroup.objects.all()}
    out = []
    for p in rows:
        codes = [m.group_id for m in p.open_memberships]
        out.append(
            ListRow(
                person=p,
                due_status=p.due_status,
                groups=sorted(
                    (groups[c] for c in codes if c in groups), key=lambda g: g.sort_order
                ),
                age=_age(p.birth_date, on),
                days_since=(on - p.last_contact).days if p.last_contact else None,
                phone=crypto.decrypt(p.phone_enc) if with_phone else "",
            )
        )
    return out


def today_list(qs: QuerySet[Person], on: dt.date) -> dict[str, Any]:
    """A doctor's (or cadre's) day: overdue first, then due, then those contacted on ``on``.

    ``qs`` is scoped (``access.scope_persons``) and narrowed to the user's own persons.
    """
    rows = list_rows(qs, on, listed_only=True, with_phone=True)
    overdue = [r for r in rows if r.due_status == "overdue"]
    due = [r for r in rows if r.due_status == "due"]
    done = [r for r in rows if r.due_status == "ok"]
    return {"overdue": overdue, "due": due, "done": done, "n": len(rows)}


#: The sections of the day's list, in the order the page shows them.
TODAY_SECTIONS = ("overdue", "due", "ok")


def today_page(
    qs: QuerySet[Person], on: dt.date, *, page: int = 1, size: int | None = None
) -> dict[str, Any]:
    """One page of a day's list (overdue, then due, then done on ``on``), and the counts of
    the whole list by section, so that a village account's 1,000 persons are not one page.

    Like :func:`today_list` (same sections, same order inside a section) but ordered and
    sliced in SQL: only the persons of the page are loaded and have their phone decrypted.
    ``size`` rows from page ``page`` (counted from 1; past the last page: the last page;
    ``size=None``: every row). ``counts`` has ``overdue``, ``due``, ``done`` and ``n`` (the
    whole list; one aggregate query, skipped when the first page holds the whole list);
    ``page`` is the page shown.
    """
    from django.db.models import Case, Count, IntegerField, Q, Value, When

    listed: Any = contact_list(qs, on, include_ok=True).filter(
        Q(due_status__in=["overdue", "due"]) | Q(last_contact=on)
    )
    section_order = Case(
        *(When(due_status=s, then=Value(i)) for i, s in enumerate(TODAY_SECTIONS)),
        default=Value(len(TODAY_SECTIONS)),
        output_field=IntegerField(),
    )
    ordered = listed.annotate(section_order=section_order).order_by(
        "section_order", "tier_order", "last_contact", "ref"
    )

    def count() -> dict[str, int]:
        found = listed.order_by().aggregate(
            **{
                ("done" if s == "ok" else s): Count("pk", filter=Q(due_status=s))
                for s in TODAY_SECTIONS
            }
        )
        return {k: int(v or 0) for k, v in found.items()}

    page = max(1, page) if size is not None else 1
    rows = _as_rows(
        ordered if size is None else ordered[(page - 1) * size : page * size],
        on,
        with_phone=True,
    )
    counts: dict[str, int] | None = None
    if size is None or (page == 1 and len(rows) < size):
        counts = {
            "overdue": sum(r.due_status == "overdue" for r in rows),
            "due": sum(r.due_status == "due" for r in rows),
            "done": sum(r.due_status == "ok" for r in rows),
        }
    else:
        counts = count()
        last = max(1, -(-sum(counts.values()) // size))
        if page > last:  # past the end: the last page
            page = last
            rows = _as_rows(ordered[(page - 1) * size : page * size], on, with_phone=True)
    counts["n"] = counts["overdue"] + counts["due"] + counts["done"]
    return {
        "overdue": [r for r in rows if r.due_status == "overdue"],
        "due": [r for r in rows if r.due_status == "due"],
        "done": [r for r in rows if r.due_status == "ok"],
        "n": len(rows),
        "counts": counts,
        "page": page,
    }


def person_page(person: Person, on: dt.date) -> dict[str, Any]:
    """One person's record, groups, due status and history (caller obtained it via access)."""
    row = list_rows(Person.objects.filter(pk=person.pk), on)
    return {
        "detail": person_detail(person),
        "history": person_history(person),
        "row": row[0] if row else None,
        "rules": active_rules(),
    }


def open_campaign(village: Area, on: dt.date) -> Campaign | None:
    """The latest open (not closed, started) campaign covering ``village``, if any."""
    ancestors = [getattr(village, f"l{k}") for k in range(1, 6)]
    return (
        Campaign.objects.filter(
            closed=False, start__lte=on, area_id__in=[a for a in ancestors if a]
        )
        .order_by("-start", "-id")
        .first()
    )


def coverage_breakdown(root_path: str, on: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Registered, due, overdue and coverage under ``root_path`` by tier and by key group."""
    due, params = due_status_sql(active_rules(), on, alias="p")
    counts = (
        f"COUNT(*) AS n, SUM(CASE WHEN {due} = 'due' THEN 1 ELSE 0 END) AS n_due, "
        f"SUM(CASE WHEN {due} = 'overdue' THEN 1 ELSE 0 END) AS n_overdue"
    )
    by_tier = bulk.fetch_frame(
        f"SELECT p.tier, {counts} FROM {P} p JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND a.path LIKE %s GROUP BY p.tier",
        [*params, *params, root_path + "%"],
    )
    by_group = bulk.fetch_frame(
        f"SELECT m.group_id, {counts} FROM {M} m JOIN {P} p ON p.id = m.person_id "
        f"JOIN {A} a ON a.code = p.village_id "
        f"WHERE p.status = 'active' AND m.until IS NULL AND a.path LIKE %s GROUP BY m.group_id",
        [*params, *params, root_path + "%"],
    )

    def rows(frame: Any) -> dict[str, dict[str, Any]]:
        out = {}
        for key, n, d, o in frame.iter_rows():
            n, o = int(n), int(o or 0)
            out[key] = {
                "registered": n,
                "due": int(d or 0),
                "overdue": o,
                "covered": n - o,
                "coverage": round((n - o) / n, 4) if n else None,
            }
        return out

    from ruralwatch.keygroups.models import KeyGroup

    tiers = rows(by_tier)
    groups = rows(by_group)
    empty = {"registered": 0, "due": 0, "overdue": 0, "covered": 0, "coverage": None}
    return {
        "tiers": [{"tier": t, **tiers.get(t, empty)} for t in ("red", "yellow", "green")],
        "groups": [
            {"group": g, **groups[g.code]} for g in KeyGroup.objects.all() if g.code in groups
        ],
    }


def area_campaigns(area: Area, level: int) -> list[dict[str, Any]]:
    """Open campaigns touching ``area``: progress of its villages per area at ``level``.

    Only villages inside ``area``'s subtree count (three queries).
    """
    from django.db.models import Count, Q, Sum

    ancestors = [c for c in (getattr(area, f"l{k}") for k in range(1, 6)) if c]
    campaigns = list(
        Campaign.objects.filter(closed=False)
        .filter(Q(area_id__in=ancestors) | Q(area__path__startswith=area.path))
        .order_by("-start", "-id")[:5]
    )
    if not campaigns:
        return []
    col = f"village__l{level}"
    villages = (
        CampaignVillage.objects.filter(campaign__in=campaigns, village__path__startswith=area.path)
        .values("campaign_id", col)
        .annotate(total=Count("id"), done=Count("completed_on"), surveyed=Sum("surveyed"))
    )
    found = (
        Person.objects.filter(campaign__in=campaigns, village__path__startswith=area.path)
        .values("campaign_id", col)
        .annotate(n=Count("id"))
    )
    n_found = {(f["campaign_id"], f[col]): f["n"] for f in found}
    parts: dict[int, list[dict[str, Any]]] = {c.pk: [] for c in campaigns}
    for v in villages:
        parts[v["campaign_id"]].append(
            {
                "area": v[col],
                "total": v["total"],
                "done": v["done"],
                "surveyed": v["surveyed"] or 0,
                "found": n_found.get((v["campaign_id"], v[col]), 0),
            }
        )
    out = []
    for c in campaigns:
        rows = sorted(parts[c.pk], key=lambda r: r["area"])
        total = sum(r["total"] for r in rows)
        done = sum(r["done"] for r in rows)
        out.append(
            {
                "campaign": c,
                "rows": rows,
                "total": total,
                "done": done,
                "completion": round(done / total, 4) if total else None,
                "found": sum(r["found"] for r in rows),
            }
        )
    return out


def area_keygroups(
    area: Area, on: dt.date, *, persons: QuerySet[Person], within: Area | None = None
) -> dict[str, Any]:
    """Everything the key-group area page shows for ``area`` on ``on`` (bounded queries).

    ``persons`` is the user's scoped queryset (``access.scope_persons``); at village level
    the page lists that village's persons due or overdue. ``within`` (the user's
    jurisdiction) cuts the breadcrumb.
    """
    ancestors = [c for c in (getattr(area, f"l{k}") for k in range(1, area.level)) if c]
    crumbs = Area.objects.filter(code__in=ancestors)
    if within is not None:
        crumbs = crumbs.filter(path__startswith=within.path)
    child_level = area.level + 1
    children: list[dict[str, Any]] = []
    if child_level <= 5:
        cov = {r["area"]: r for r in coverage(area.path, on, child_level)}
        for code, name in Area.objects.filter(parent=area).values_list("code", "name"):
            children.append({"code": code, "name": name, **cov.get(code, {"registered": 0})})
    own = coverage(area.path, on, area.level)
    findings = audit(area, on)
    village_rows: list[ListRow] = []
    if area.level == 5:
        village_rows = [
            r
            for r in list_rows(persons.filter(village=area), on, listed_only=True)
            if r.due_status != "ok"
        ]
    responsibles = overdue_by_responsible(area.path, on)[:10]
    names = {c["code"]: c["name"] for c in children}
    names[area.code] = area.name
    missing = {r["area"] for r in responsibles} - names.keys()
    names.update(Area.objects.filter(code__in=missing).values_list("code", "name"))
    for r in responsibles:
        r["area_name"] = names.get(r["area"], r["area"])
    campaigns = area_campaigns(area, min(child_level, 5))
    for c in campaigns:
        for r in c["rows"]:
            r["name"] = names.get(r["area"], r["area"])
    return {
        "area": area,
        "date": on,
        "breadcrumb": list(crumbs.order_by("level")),
        "totals": own[0] if own else None,
        "open_referrals": Referral.objects.filter(
            outcome=ReferralOutcome.PENDING,
            person__status=PersonStatus.ACTIVE,
            person__village__path__startswith=area.path,
        ).count(),
        "breakdown": coverage_breakdown(area.path, on),
        "children": children,
        "responsibles": responsibles,
        "audit": audit_summary(findings),
        "audit_total": len(findings),
        "campaigns": campaigns,
        "village_rows": village_rows,
    }


def audit_list(
    area: Area,
    on: dt.date,
    kind: str,
    *,
    persons: QuerySet[Person],
    within: str | None = None,
    limit: int | None = 200,
    offset: int = 0,
) -> dict[str, Any]:
    """The audit findings of one kind under ``area`` (``limit`` of them from ``offset``;
    ``limit=None``: all, for an export), with names.

    Names, tiers and last contacts come from ``persons`` (scoped) in one query per 900
    persons; village names likewise. ``within`` is the reader's jurisdiction path (see
    :func:`audit`).
    """
    if kind not in AUDIT_KINDS:
        raise ValueError(kind)
    findings = audit(area, on, kinds=(kind,), within=within)
    shown = findings[offset:] if limit is None else findings[offset : offset + limit]
    refs = [f["person"] for f in shown if f["person"]]
    info: dict[str, dict[str, Any]] = {}
    for start in range(0, len(refs), 900):  # SQLite's bound on parameters
        info.update(
            (p["ref"], dict(p))
            for p in persons.filter(ref__in=refs[start : start + 900]).values(
                "ref", "name", "tier", "last_contact"
            )
        )
    codes = sorted(
        {f["area"] for f in shown} | {a for f in shown for a in f.get("other_areas", [])}
    )
    village_names: dict[str, str] = {}
    for start in range(0, len(codes), 900):
        village_names.update(
            Area.objects.filter(code__in=codes[start : start + 900]).values_list("code", "name")
        )
    rows = []
    for f in shown:
        rows.append(
            {
                **f,
                "info": info.get(f["person"]) if f["person"] else None,
                "area_name": village_names.get(f["area"], f["area"]),
                "other_names": [village_names.get(a, a) for a in f.get("other_areas", [])],
            }
        )
    from ruralwatch.keygroups.models import KeyGroup

    groups = list(KeyGroup.objects.all()) if kind == "unregistered_expected" else []
    return {
        "kind": kind,
        "rows": rows,
        "total": len(findings),
        "offset": offset,
        "n_persons": len(info),
        "groups": groups,
    }


def person_list(qs: QuerySet[Person], on: dt.date, due: str | None = None) -> QuerySet[Person]:
    """Active persons of a scoped queryset with their ``due_status`` on ``on``: every one
    (``due=None``) or only those ``'overdue'`` or ``'due'``; reddest and longest waiting first."""
    listed = contact_list(qs, on, include_ok=due is None)
    if due is not None:
        listed = listed.filter(due_status=due)  # type: ignore[misc]
    return listed


def campaign_for_village(campaign_id: int, village: Area) -> Campaign | None:
    """The campaign ``campaign_id`` if ``village`` is one of its villages, else ``None``."""
    return Campaign.objects.filter(pk=campaign_id, villages__village=village).first()
