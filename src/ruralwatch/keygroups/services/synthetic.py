"""Bulk loading of synthetic persons (demo, benchmarks), set-based, and deleting a subtree's
persons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from django.db import transaction

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    AccessLog,
    Campaign,
    ExpectedCount,
)
from ruralwatch.keygroups.rules import score_sql, tier_sql
from ruralwatch.keygroups.selectors import active_rules
from ruralwatch.keygroups.services._common import (
    PERSON_COLUMNS,
    RESP,
    A,
    C,
    M,
    P,
    Progress,
    R,
    encrypt_series,
    hash_series,
    mask_expr,
    now_db,
)
from ruralwatch.keygroups.services.tiers import escalate_from_contacts

PERSON_STAGE: list[tuple[str, str]] = [
    *PERSON_COLUMNS,
    ("registered_on", "date"),
    ("last_contact", "date"),
    ("last_status", "varchar(12)"),
    ("found", "smallint"),
]


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
        id_enc = encrypt_series(persons["id_number"])
        phone_enc = encrypt_series(persons["phone"].fill_null(""))
        g_enc = encrypt_series(persons["guardian_phone"].fill_null(""))
        birth_enc = encrypt_series(persons["birth_date"].cast(pl.String))
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
            hash_series(persons["id_number"]).alias("id_hash"),
            mask_expr(pl.col("id_number")).alias("id_masked"),
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
    now = now_db()
    counts: dict[str, int] = {}
    rules = active_rules()
    # Score and tier are computed while inserting (what ``retier`` would write for new rows),
    # so the new rows are written once instead of being updated twice afterwards.
    score, sparams = score_sql(rules, on, alias="st")
    with transaction.atomic():
        delete_persons_under(root.path)
        resp = people.responsible.with_columns(
            phone_enc=encrypt_series(people.responsible["phone"])
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
