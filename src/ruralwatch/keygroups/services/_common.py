"""Shared plumbing of the key-group writes: table names, the database's now, scope SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from django.db import connection
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import (
    Contact,
    Membership,
    Person,
    Referral,
    Responsible,
)

Progress = Callable[[str, int, int], None]

P = Person._meta.db_table
A = Area._meta.db_table
M = Membership._meta.db_table
C = Contact._meta.db_table
R = Referral._meta.db_table
RESP = Responsible._meta.db_table


def now_db() -> Any:
    """The current time as the database stores it (for raw ``INSERT … SELECT``)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def scope_sql(root_path: str | None, col: str = "village_id") -> tuple[str, list[Any]]:
    if not root_path:
        return "", []
    return f" AND {col} IN (SELECT code FROM {A} WHERE path LIKE %s)", [root_path + "%"]


def encrypt_series(values: pl.Series) -> pl.Series:
    f = crypto.fernet()
    out = [f.encrypt(v.encode()).decode() if v else "" for v in values.to_list()]
    return pl.Series(values.name, out, dtype=pl.String)


def mask_expr(id_number: pl.Expr) -> pl.Expr:
    """:func:`crypto.mask_id` for a column of normalised 18-character ID numbers."""
    head, tail = crypto.MASK_HEAD, crypto.MASK_TAIL
    return (
        id_number.str.slice(0, head)
        + pl.lit("*" * (18 - head - tail))
        + id_number.str.slice(18 - tail, tail)
    )


def hash_series(values: pl.Series) -> pl.Series:
    key = crypto.hash_key()
    return pl.Series([crypto.keyed_hash(v, key) for v in values.to_list()], dtype=pl.String)


#: The staging columns of a person, shared by the roster importer and the synthetic loader
#: (each adds its own around them).
PERSON_COLUMNS: list[tuple[str, str]] = [
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
]
