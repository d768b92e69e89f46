"""Code columns compared in byte order (``core.fields.CodeField``): ``COLLATE "C"`` on
PostgreSQL for every column that holds an area's or an indicator's code, the fact tables'
foreign keys included; no collation on SQLite, whose default already compares bytes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection, models

from ruralwatch.areas.models import Area
from ruralwatch.core.fields import BYTE_ORDER, CodeField


def _code_columns() -> list[tuple[str, str]]:
    """(table, column) of every concrete field that is a CodeField or points to one."""
    found = []
    for model in apps.get_models():
        if not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.local_concrete_fields:
            target = field.target_field if isinstance(field, models.ForeignKey) else field
            if isinstance(target, CodeField):
                found.append((model._meta.db_table, field.column))
    return found


def test_collation_only_on_postgresql() -> None:
    field = CodeField(max_length=12)
    field.set_attributes_from_name("code")
    shared = {"ops": connection.ops, "features": connection.features}
    postgres = SimpleNamespace(vendor="postgresql", **shared)
    sqlite = SimpleNamespace(vendor="sqlite", **shared)
    # db_type is the vendor's own; only the collation differs.
    postgres.data_types = sqlite.data_types = {"CharField": "varchar(%(max_length)s)"}
    postgres.data_type_check_constraints = sqlite.data_type_check_constraints = {}
    assert field.db_parameters(postgres)["collation"] == BYTE_ORDER
    assert field.db_parameters(sqlite).get("collation") is None
    # An explicit collation is the caller's.
    named = CodeField(max_length=12, db_collation="und-x-icu")
    named.set_attributes_from_name("code")
    assert named.db_parameters(postgres)["collation"] == "und-x-icu"


def test_the_fact_tables_point_to_codes() -> None:
    columns = set(_code_columns())
    for expected in [
        ("areas_area", "code"),
        ("areas_area", "parent_id"),
        ("areas_area", "path"),
        ("reporting_reportvalue", "area_id"),
        ("reporting_reportvalue", "indicator_id"),
        ("reporting_aggregatevalue", "area_id"),
        ("assessments_judgement", "area_id"),
        ("reporting_submission", "area_id"),
    ]:
        assert expected in columns


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's collations")
def test_every_code_column_is_in_byte_order() -> None:
    """The migrations leave no code column in the database's collation: a table made by hand
    (raw SQL, a partition) or a foreign key added later would show here."""
    columns = _code_columns()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
        collation = {(t, c): name for t, c, name in cur.fetchall()}
        # The partitions of the values carry their parent's columns.
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'reporting_reportvalue'"
        )
        partitions = [row[0] for row in cur.fetchall()]
    assert partitions
    columns += [(p, c) for p in partitions for c in ("area_id", "indicator_id")]
    wrong = {col: collation.get(col) for col in columns if collation.get(col) != BYTE_ORDER}
    assert not wrong
    assert len(columns) > 30


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's collations")
def test_a_code_column_meets_the_database_collation() -> None:
    """A code compared with a text of the database's collation (a parameter, a staging
    table's column) takes the code's collation instead of failing on a conflict. The areas
    hold both codes, so the join and the range compare a code column with each of them."""
    for code in ("410102001001", "410102001002"):
        Area.objects.create(code=code, name=code, level=5, path=f"/{code}/")
    with connection.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE staged (code varchar(12))")
        cur.execute("INSERT INTO staged VALUES ('410102001001'), ('410102001002')")
        cur.execute(
            "SELECT count(*) FROM staged s JOIN areas_area a ON a.code = s.code "
            "WHERE a.code > %s AND a.code >= s.code",
            ["410102001001"],
        )
        assert cur.fetchone() == (1,)
