"""Set-based loading: a polars frame into a temporary staging table, then SQL does the rest.

PostgreSQL gets ``COPY … FROM STDIN``; SQLite gets ``executemany`` inside the caller's
transaction. Either way, callers then run ``INSERT … SELECT`` statements that are the same on
both databases.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import polars as pl
from django.db import connection

CHUNK = 200_000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def create_staging(name: str, columns: Sequence[tuple[str, str]]) -> None:
    """(Re)create a temporary table ``name`` with ``(column, sql type)`` pairs."""
    cols = ", ".join(f"{c} {t}" for c, t in columns)
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TEMPORARY TABLE {name} ({cols})")


def load_staging(
    name: str,
    frame: pl.DataFrame,
    progress: Callable[[int], None] | None = None,
    *,
    analyze: bool = True,
) -> None:
    """Append every row of ``frame`` (columns in table order) to staging table ``name``.

    On PostgreSQL the table is then analyzed (``analyze``), so that joins of a big load are
    planned with its real size; a caller whose statements do not need it (no join, or one
    driven by an index of the other side) saves the ANALYZE's sampling, 10-20 ms a load of
    10,000 rows."""
    cols = frame.columns
    if is_postgres():
        _copy_csv(name, frame, progress)
        if analyze:
            with connection.cursor() as cur:
                cur.execute(f"ANALYZE {name}")
    else:
        placeholders = ", ".join(["%s"] * len(cols))
        sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({placeholders})"
        with connection.cursor() as cur:
            for start in range(0, frame.height, CHUNK):
                part = frame.slice(start, CHUNK)
                cur.executemany(sql, part.rows())
                if progress:
                    progress(part.height)


#: What the thread of :func:`_copy_csv` hands over: a piece, its error, or the end.
_Made = queue.Queue[tuple[int, bytes] | BaseException | None]


def _csv_pieces(frame: pl.DataFrame) -> Iterator[tuple[int, bytes]]:
    for start in range(0, frame.height, CHUNK):
        part = frame.slice(start, CHUNK)
        buf = io.BytesIO()
        part.write_csv(buf, include_header=False, null_value="\\N")
        yield part.height, buf.getvalue()


def _copy_csv(table: str, frame: pl.DataFrame, progress: Callable[[int], None] | None) -> None:
    """One ``COPY`` of ``frame``'s rows into ``table``, as CSV pieces of ``CHUNK`` rows. Over
    one piece, a thread makes each piece while the server takes the one before, instead of
    the server waiting for each to be made (four provinces' new day, a million values: 0.18 s
    of the import's CPU). Django's error classes (an IntegrityError for a duplicate key) as for
    ``execute``: the driver's own COPY raises the driver's. An error of the thread is raised
    here, and the COPY with it."""
    sql = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv, NULL '\\N')"
    pieces: Iterator[tuple[int, bytes]] = _csv_pieces(frame)
    maker: threading.Thread | None = None
    stop = threading.Event()
    if frame.height > CHUNK:
        made: _Made = queue.Queue(maxsize=2)

        def make(out: _Made) -> None:
            def hand(item: tuple[int, bytes] | BaseException | None) -> bool:
                """Put ``item`` for the writer; False once the writer has stopped."""
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        return True
                    except queue.Full:
                        continue
                return False

            try:
                for piece in _csv_pieces(frame):
                    if not hand(piece):
                        return
                hand(None)
            except BaseException as exc:  # handed to the writer, which raises it
                hand(exc)

        maker = threading.Thread(target=make, args=(made,), name="copy-pieces", daemon=True)
        maker.start()
        pieces = _taken(made)
    try:
        with (
            connection.cursor() as cur,
            connection.wrap_database_errors,
            cur.cursor.copy(sql) as copy,
        ):
            for rows, data in pieces:
                copy.write(data)
                if progress:
                    progress(rows)
    finally:
        if maker is not None:
            stop.set()
            maker.join()


def _taken(made: _Made) -> Iterator[tuple[int, bytes]]:
    while (piece := made.get()) is not None:
        if isinstance(piece, BaseException):
            raise piece
        yield piece


def append(table: str, frame: pl.DataFrame, progress: Callable[[int], None] | None = None) -> None:
    """Insert every row of ``frame`` (columns named as the table's) into the real table
    ``table``, inside the caller's transaction: ``COPY`` straight into it on PostgreSQL; on
    SQLite through a temporary table and one ``INSERT … SELECT``. Rows inserted by
    ``executemany`` are one statement each, each firing the tables' data-change trigger
    (``dashboard.datacache``) as its own statement: inside an enclosing transaction the
    demo's 67 days of values (151,398) took 3.5 s that way and 1.5 s through a temporary
    table (``python -m bench.rebuild``)."""
    if is_postgres():
        load_staging(table, frame, progress, analyze=False)
        return
    with _through_temporary(table, frame.columns) as stage:
        load_staging(stage, frame, progress)


def append_text(table: str, frame: pl.DataFrame) -> None:
    """:func:`append` for rows of long texts (JSON evidence): on PostgreSQL by ``COPY`` in its
    text format, written by polars. :func:`append`'s CSV doubles every quote of a JSON text,
    and the server's CSV parser took 0.15 s more of its CPU than the text format for 河南's
    53,412 judgements (1.35 against 1.2 s); a row at a time through the driver
    (:func:`insert_rows`) costs as much again, in making and formatting the tuples. The text
    format escapes only backslash, tab, newline and carriage return, which the texts hardly
    ever hold: they are escaped when some value does."""
    if not is_postgres():
        append(table, frame)
        return
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    special = frame.select(
        pl.any_horizontal(pl.col(texts).str.contains(r"[\\\t\n\r]")).any()
    ).item()
    if special:
        frame = frame.with_columns(
            pl.col(texts)
            .str.replace_all("\\", "\\\\", literal=True)
            .str.replace_all("\t", "\\t", literal=True)
            .str.replace_all("\n", "\\n", literal=True)
            .str.replace_all("\r", "\\r", literal=True)
        )
    buf = io.BytesIO()
    frame.write_csv(
        buf, include_header=False, separator="\t", quote_style="never", null_value="\\N"
    )
    with (
        connection.cursor() as cur,
        connection.wrap_database_errors,
        cur.cursor.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN") as copy,
    ):
        copy.write(buf.getvalue())


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in ``columns`` order) into ``table``, inside the caller's
    transaction: ``COPY … FROM STDIN`` row by row on PostgreSQL (the driver escapes), one
    ``executemany`` into a temporary table and one ``INSERT … SELECT`` on SQLite. For many
    wide rows (e.g. JSON evidence) COPY is several times faster than a batch of INSERTs."""
    cols = ", ".join(columns)
    if is_postgres():
        with (
            connection.cursor() as cur,
            connection.wrap_database_errors,
            cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as cp,
        ):
            for values in rows:
                cp.write_row(values)
        return
    placeholders = ", ".join(["%s"] * len(columns))
    with _through_temporary(table, columns) as stage, connection.cursor() as cur:
        cur.executemany(f"INSERT INTO {stage} ({cols}) VALUES ({placeholders})", rows)


@contextlib.contextmanager
def _through_temporary(table: str, columns: Sequence[str]) -> Iterator[str]:
    """SQLite: a temporary table of ``columns`` for the block to fill, then copied into
    ``table`` by one ``INSERT … SELECT`` (see ``append``) and dropped."""
    create_staging("stage_rows", [(c, "") for c in columns])
    yield "stage_rows"
    cols = ", ".join(columns)
    execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM stage_rows")
    drop_staging("stage_rows")


def drop_staging(name: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")


def scalar(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return int(row[0] or 0) if row else 0


def row(sql: str, params: Sequence[Any] = ()) -> tuple[int, ...]:
    """The first row of a query of counts, with NULL read as 0."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchone()
    return tuple(int(x or 0) for x in found) if found else ()


def rows(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Every row of a query. For small reads on a hot path (one request of the daily form),
    where compiling an ORM query costs several times what the database spends on it."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def analyze(*tables: str) -> None:
    """Refresh the planner's statistics of tables a bulk load has just filled (PostgreSQL).

    Without it the planner keeps the row counts of before the load (an empty table after a
    migration or a reload), and picks nested loops of sequential scans for the self-joins of
    the audit: minutes instead of milliseconds on 70,000 persons.
    """
    if is_postgres():
        with connection.cursor() as cur:
            for table in tables:
                cur.execute(f"ANALYZE {table}")


def stale_statistics(*tables: str, share: float = 0.1) -> list[str]:
    """Those of ``tables`` (PostgreSQL) whose planner statistics no longer describe their
    rows: never analysed, or more than ``share`` of the rows they counted written since (the
    statistics system's count of changes since the last ANALYZE, and this transaction's own),
    or a size that moved by more than ``share`` from the one the last VACUUM or ANALYZE
    recorded (that count is lost in a crash, the size is not). A day's partition of values
    that nobody wrote to since yesterday's cycle is not among them. Elsewhere: all."""
    if not is_postgres():
        return list(tables)
    if not tables:
        return []
    sql = """
        SELECT c.oid::regclass::text
        FROM pg_class c
        LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        LEFT JOIN pg_stat_xact_user_tables x ON x.relid = c.oid
        WHERE c.oid = ANY(%s::regclass[])
          AND (c.reltuples < 0
               OR COALESCE(s.n_mod_since_analyze, 0)
                  + COALESCE(x.n_tup_ins + x.n_tup_upd + x.n_tup_del, 0)
                  > %s * GREATEST(c.reltuples, 0)
               OR ABS(pg_relation_size(c.oid) / current_setting('block_size')::int - c.relpages)
                  > %s * c.relpages)
    """
    with connection.cursor() as cur:
        cur.execute(sql, [list(tables), share, share])
        found = {name for (name,) in cur.fetchall()}
    return [t for t in tables if t in found]


def vacuum(*tables: str, with_analyze: bool = False) -> None:
    """On PostgreSQL outside a transaction, ``VACUUM`` (``VACUUM (ANALYZE)`` with
    ``with_analyze``), which marks the pages written since the last one all-visible (it reads only
    those: the visibility map skips the rest; 44 ms for a national day's partition nobody
    wrote to, against 0.5 s for the ANALYZE that samples 30,000 of its pages). An index that
    carries what a read asks for (the village values' key, ``reporting`` migration 0011)
    answers it without visiting the table only on all-visible pages; autovacuum comes for a
    table that only grows when a fifth of it is new, so a long history would otherwise keep
    weeks of days that every read visits. Inside a transaction (VACUUM cannot run there), or
    on SQLite, it is :func:`analyze` with ``with_analyze``, else nothing."""
    if not is_postgres() or connection.in_atomic_block:
        if with_analyze:
            analyze(*tables)
        return
    command = "VACUUM (ANALYZE)" if with_analyze else "VACUUM"
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"{command} {table}")


def _believed_rows(table: str) -> float:
    """The row count the planner works with: PostgreSQL's ``reltuples`` (-1 before the first
    ANALYZE), SQLite's first ``sqlite_stat1`` figure (none before the first ANALYZE)."""
    from django.db.utils import OperationalError

    with connection.cursor() as cur:
        if is_postgres():
            cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            row = cur.fetchone()
            return max(float(row[0]), 0.0) if row else 0.0
        try:
            cur.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s LIMIT 1", [table])
        except OperationalError:  # no statistics were ever gathered
            return 0.0
        row = cur.fetchone()
    return float(str(row[0]).split()[0]) if row else 0.0


def analyze_if_grown(table: str, added: int, share: float = 0.1) -> bool:
    """Refresh the planner's statistics of ``table`` when ``added`` rows are more than
    ``share`` of what it believes the table holds. Without it a cycle run right after a first
    big load is planned as if the table were empty (PostgreSQL until autovacuum's next nap;
    SQLite until someone runs ANALYZE: the county page read the village reports through the
    wrong index, 3 s instead of 0.1 s). Growth by a tenth at a time keeps it rare on a table
    that is already big. Returns whether it ran."""
    if added <= 0 or added <= share * _believed_rows(table):
        return False
    with connection.cursor() as cur:
        cur.execute(f'ANALYZE "{table}"')
    return True


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.rowcount)


def fetch_frame(
    sql: str, params: Sequence[Any] = (), schema: dict[str, type[pl.DataType]] | None = None
) -> pl.DataFrame:
    """Run a query and return its rows as a polars frame.

    On PostgreSQL the rows come back through ``COPY (…) TO STDOUT`` as CSV, parsed by polars:
    millions of rows without building Python tuples. ``schema`` (column → polars type) is
    required there for typed columns; without it every column is read as text.
    """
    if is_postgres() and schema is not None:
        query = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]  # PostgreSQL ops
        buf = io.BytesIO()
        with (
            connection.cursor() as cur,
            cur.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy,
        ):
            for chunk in copy:
                buf.write(chunk)
        if not buf.getbuffer().nbytes:
            return pl.DataFrame(schema=schema)
        buf.seek(0)
        return pl.read_csv(buf, has_header=False, new_columns=list(schema), schema=schema)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=schema or names, orient="row")


def fetch_columns(
    sql: str, params: Sequence[Any] = (), *, schema: dict[str, type[pl.DataType]]
) -> pl.DataFrame:
    """:func:`fetch_frame` for many rows of codes and numbers: on PostgreSQL each column comes
    back as one comma-separated text (``string_agg``; a null as an empty item), not a row
    at a time through ``COPY`` (河南's 53,410 areas under its counties with their
    populations: 0.033 s of this process's CPU as rows, 0.006–0.024 s this way). Only for
    columns whose texts hold no comma (codes, numbers, dates)."""
    if not is_postgres():
        return fetch_frame(sql, params, schema)
    names = [f"c{i}" for i in range(len(schema))]
    texts = ", ".join(f"string_agg(coalesce(CAST(l.{n} AS TEXT), ''), ',')" for n in names)
    ((*columns,),) = rows(f"SELECT {texts} FROM ({sql}) AS l({', '.join(names)})", params)
    if columns[0] is None:  # no row
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        [
            pl.Series(name, [text], dtype=pl.String)
            .str.split(",")
            .explode()
            .replace("", None)
            .cast(dtype)
            for (name, dtype), text in zip(schema.items(), columns, strict=True)
        ]
    )


def import_lock(name: str, table: str) -> None:
    """Serialise imports of one kind for the rest of the caller's transaction.

    Two identical files imported at the same moment must not both count their rows as new:
    each importer counts what is stored before it upserts, so the second must wait until the
    first has committed. PostgreSQL takes a transaction-level advisory lock on ``name``;
    SQLite takes the database's write lock at once (an empty ``UPDATE`` of ``table``) instead
    of upgrading a read lock later, which could deadlock two writers.
    """
    with connection.cursor() as cur:
        if is_postgres():
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ruralwatch:{name}"])
        else:
            cur.execute(
                f"UPDATE {table} SET {_first_column(table)} = {_first_column(table)} WHERE 1 = 0"
            )


def _first_column(table: str) -> str:
    with connection.cursor() as cur:
        cols = connection.introspection.get_table_description(cur, table)
    return str(cols[0].name)
