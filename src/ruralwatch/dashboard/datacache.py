"""The dashboard's cache: the expensive parts of an area page (the page's own fragment, the
map's GeoJSON, the resources and key-area panels, the latest date with data), kept in
Django's cache framework and keyed by a **data version** that changes with every write to
the data they read.

The data version
----------------
Database triggers, not the writers, mark a change: every table of RuralWatch's apps (except
the few in :data:`UNTRACKED`, which no page shows and which reads and logins write) carries
one, so no writer can forget it — the importers' ``INSERT … SELECT`` and COPY, the daily
cycle, the admin, a script in ``psql``. The mark is part of the writer's transaction, so
the new version becomes visible together with the data, never before it; a rolled-back
import leaves the version as it was.

- PostgreSQL: a statement-level trigger (``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``)
  counts the statement in the writing transaction's own row of ``rw_data_change`` (inserted
  by its first write: concurrent writers take no common lock, so 200 village uploads at once
  do not queue behind one counter). The version is the number of recorded transactions, the
  highest id and the number of statements (plus what was pruned, in ``rw_data_pruned``):
  every commit raises the first, ids are never reused even after a rollback, and the last
  moves with every write of the reader's own transaction (a test, a command that writes
  and then reads). About every thousandth transaction prunes the old rows, adding what they
  counted to ``rw_data_pruned`` in the same transaction, so the table stays small and the
  version does not go back.
- SQLite: row-level triggers (SQLite has no others) write a random stamp into the one row
  of ``rw_data_version``.

Tables and triggers are created by :func:`install`, run after every ``migrate`` (the
``post_migrate`` signal, :mod:`ruralwatch.dashboard.apps`): a table added or rebuilt by a
later migration (SQLite rebuilds a table to alter it, dropping its triggers) gets its
triggers again. The tables are not Django models, so a test database's flush leaves them
and the version never returns to an earlier value.

Reading the version costs one small query per request (:func:`data_version`). Where the
version cannot be read (tables not installed), nothing is cached.

The cache
---------
:func:`cached` keys a part by its name, the data version and what the part depends on
(area, day, indicator, language, the user's jurisdiction where the part shows it…). The
parts hold only what every user who may open the area sees: views check access before they
look in the cache, and user-specific bits (the user's name, CSRF tokens, the inbox badge)
are rendered around the cached part on every request. The backend is the ``default``
cache (``RURALWATCH_CACHE``, :mod:`ruralwatch.config.settings`): by default a local-memory
cache per server process, so each process computes a part once per data version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from django.apps import apps
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from ruralwatch.reporting import selectors as reporting

T = TypeVar("T")

#: Tables no dashboard part reads and that reads or logins write: a write there does not
#: change the data version (the key-group access log is written by every read of a person).
UNTRACKED: Final = frozenset(
    {
        "keygroups_accesslog",
        "accounts_accountevent",
        "accounts_loginfailure",
        "api_apitoken",
        "cycle_jobrun",
    }
)
CHANGE_TABLE: Final = "rw_data_change"
PRUNED_TABLE: Final = "rw_data_pruned"
STAMP_TABLE: Final = "rw_data_version"
TRIGGER: Final = "rw_data_changed"
#: Every this many recorded transactions (on average), old rows are pruned (PostgreSQL).
PRUNE_EVERY: Final = 1000
#: Seconds a part stays in the cache at most (a new data version replaces it anyway).
TIMEOUT: Final = 3600
_MISSING: Final = object()
_VERSION_ATTR: Final = "_ruralwatch_data_version"
#: Striped locks: one thread per process computes a part while the others wait for it.
_LOCKS: Final = tuple(threading.Lock() for _ in range(64))


def tracked_tables() -> list[str]:
    """The database tables of RuralWatch's apps whose writes change the data version."""
    tables = set()
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not model.__module__.startswith("ruralwatch.") and not (
            meta.auto_created and meta.app_config.name.startswith("ruralwatch.")
        ):
            continue
        if meta.managed and not meta.proxy and meta.db_table not in UNTRACKED:
            tables.add(meta.db_table)
    return sorted(tables)


_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    new_n bigint;
BEGIN
    INSERT INTO {CHANGE_TABLE} AS c (xid, n) VALUES (txid_current(), 1)
    ON CONFLICT (xid) DO UPDATE SET n = c.n + 1
    RETURNING id, n INTO new_id, new_n;
    IF new_n = 1 AND new_id % {PRUNE_EVERY} = 0 THEN
        WITH gone AS (DELETE FROM {CHANGE_TABLE} WHERE id < new_id - 100 RETURNING n)
        UPDATE {PRUNED_TABLE}
        SET rows = rows + (SELECT count(*) FROM gone),
            statements = statements + (SELECT coalesce(sum(n), 0) FROM gone)
        WHERE id = 1;
    END IF;
    RETURN NULL;
END
$$
"""


def _install_postgresql(cursor: Any, tables: list[str]) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {CHANGE_TABLE} "
        "(id bigserial PRIMARY KEY, xid bigint NOT NULL UNIQUE, n bigint NOT NULL)"
    )
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {PRUNED_TABLE} "
        "(id integer PRIMARY KEY, rows bigint NOT NULL, statements bigint NOT NULL)"
    )
    cursor.execute(
        f"INSERT INTO {PRUNED_TABLE} (id, rows, statements) VALUES (1, 0, 0) ON CONFLICT DO NOTHING"
    )
    cursor.execute(_PG_FUNCTION)
    # Only where it is missing: creating a trigger locks its table, and a migrate with
    # nothing to do must not wait for a running cycle's locks.
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = %s AND pg_table_is_visible(c.oid)",
        [TRIGGER],
    )
    present = {r[0] for r in cursor.fetchall()}
    for table in tables:
        if table in present:
            continue
        cursor.execute(
            f'CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
        )
    # The installation is a change too: data written by migrations before the triggers
    # existed is not the data of an earlier version.
    cursor.execute(
        f"INSERT INTO {CHANGE_TABLE} AS c (xid, n) VALUES (txid_current(), 1) "
        "ON CONFLICT (xid) DO UPDATE SET n = c.n + 1"
    )


def _install_sqlite(cursor: Any, tables: list[str]) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {STAMP_TABLE} (id integer PRIMARY KEY, stamp text NOT NULL)"
    )
    cursor.execute(
        f"INSERT OR REPLACE INTO {STAMP_TABLE} (id, stamp) VALUES (1, hex(randomblob(8)))"
    )
    bump = f"UPDATE {STAMP_TABLE} SET stamp = hex(randomblob(8)) WHERE id = 1;"
    for table in tables:
        for event in ("INSERT", "UPDATE", "DELETE"):
            name = f"{TRIGGER}_{event.lower()}_{table}"
            cursor.execute(
                f'CREATE TRIGGER IF NOT EXISTS "{name}" AFTER {event} ON "{table}" '
                f"FOR EACH ROW BEGIN {bump} END"
            )


def install(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create the version's tables and a trigger on every tracked table that exists
    (idempotent); returns the tables that got one."""
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    tables = [t for t in tracked_tables() if t in existing]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _install_postgresql(cursor, tables)
        elif connection.vendor == "sqlite":
            _install_sqlite(cursor, tables)
        else:  # pragma: no cover - the two supported databases
            return []
    return tables


def install_after_migrate(
    app_config: Any = None, using: str = DEFAULT_DB_ALIAS, **_kwargs: Any
) -> None:
    """``post_migrate`` receiver. Django sends the signal once per app that has models (the
    dashboard has none), so this installs after the last one, when every table exists."""
    last = [a for a in apps.get_app_configs() if a.models_module is not None][-1]
    if app_config is last:
        install(using)


def data_version(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The current data version (one query), or ``None`` if it cannot be read."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        # One snapshot: the transactions recorded, the highest id, the statements counted
        # (the last moves with every write of the reader's own transaction too).
        sql = (
            f"SELECT p.rows + c.rows, c.top, p.statements + c.statements FROM"
            f" (SELECT count(*) AS rows, coalesce(max(id), 0) AS top,"
            f" coalesce(sum(n), 0) AS statements FROM {CHANGE_TABLE}) AS c,"
            f" (SELECT coalesce(max(rows), 0) AS rows, coalesce(max(statements), 0)"
            f" AS statements FROM {PRUNED_TABLE} WHERE id = 1) AS p"
        )
    elif connection.vendor == "sqlite":
        sql = f"SELECT stamp, '', '' FROM {STAMP_TABLE} WHERE id = 1"
    else:  # pragma: no cover
        return None
    try:
        # No savepoint: requests run in autocommit, where a failed read breaks nothing; the
        # tables exist wherever migrate has run.
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return None if row is None else f"{row[0]}.{row[1]}.{row[2]}"


def key(part: str, version: str, *parts: object) -> str:
    digest = hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]
    return f"rw:dashboard:{part}:{version}:{digest}"


def cached(
    part: str, version: str | None, parts: tuple[object, ...], compute: Callable[[], T]
) -> T:
    """``compute()``, kept under ``part``, the data ``version`` and ``parts`` (everything the
    result depends on besides the data). Without a version, computed every time. While one
    thread computes a part, the others of the process that need it wait for its result."""
    if version is None:
        return compute()
    name = key(part, version, *parts)
    hit = cache.get(name, _MISSING)
    if hit is not _MISSING:
        return hit[0]  # type: ignore[no-any-return]
    with _LOCKS[hash(name) % len(_LOCKS)]:
        hit = cache.get(name, _MISSING)
        if hit is not _MISSING:
            return hit[0]  # type: ignore[no-any-return]
        value = compute()
        cache.set(name, (value,), TIMEOUT)  # in a tuple: a cached None is a hit
        return value


def request_version(request: Any) -> str | None:
    """The data version, read once per request."""
    if not hasattr(request, _VERSION_ATTR):
        setattr(request, _VERSION_ATTR, data_version())
    version: str | None = getattr(request, _VERSION_ATTR)
    return version


def latest_finder(request: Any) -> Callable[[], dt.date | None]:
    """How :mod:`ruralwatch.core.asof` finds the latest date with data for ``request``
    (:func:`ruralwatch.reporting.selectors.latest_date`): kept per data version."""
    version = request_version(request)
    return lambda: cached("latest", version, (), reporting.latest_date)
