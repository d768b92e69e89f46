"""What a new day's values cost to copy into the whole history's indexes, against a table of
their own (docs/national-scale.md, session 25: why the values are partitioned by date).

    .venv/bin/python -m bench.partition_probe [--areas 100000] [--days 14] [--rounds 2]

In a scratch database on the local server (``rw_partition_probe``, dropped afterwards): a
table shaped as ``reporting_reportvalue`` (its key carrying the value, the (date, indicator)
index, the judged series' partial index) holding ``--days`` days of seven indicators for
``--areas`` areas, and a new day of the same areas in key order. Each way of writing the day
runs in a transaction rolled back, the ways alternated ``--rounds`` times; prints one JSON line
per run (seconds, and the WAL it wrote).
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg

DB = "rw_partition_probe"
URL = "postgres://postgres@127.0.0.1:5432"
COLUMNS = (
    "area_id varchar(12), date date, indicator_id varchar(40), value float8, "
    "reporter varchar(64), submitted_at timestamptz, batch_id bigint"
)
INDICATORS = (
    "ARRAY['new_cases','deaths','fever_visits','severe','hospitalised','tests','vaccinated']"
)
INDEXES = (
    "ALTER TABLE {t} ADD PRIMARY KEY (area_id, date, indicator_id) INCLUDE (value)",
    "CREATE INDEX ON {t} (date, indicator_id)",
    "CREATE INDEX ON {t} (area_id, date) INCLUDE (value) WHERE indicator_id = 'new_cases'",
)
#: The ways of writing the new day: (name, statements before the COPY, target, after).
WAYS = (
    ("into the history and its indexes", (), "history", ()),
    (
        "into the history, its indexes dropped",
        (
            "ALTER TABLE history DROP CONSTRAINT history_pkey",
            "DROP INDEX history_date_indicator_id_idx",
            "DROP INDEX history_area_id_date_value_idx",
        ),
        "history",
        (),
    ),
    (
        "into an empty table with the indexes",
        (f"CREATE TABLE day ({COLUMNS})", *(i.format(t="day") for i in INDEXES)),
        "day",
        (),
    ),
    (
        "into an empty table, indexed after",
        (f"CREATE TABLE day ({COLUMNS})",),
        "day",
        tuple(i.format(t="day") for i in INDEXES),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with psycopg.connect(f"{URL}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    try:
        with psycopg.connect(f"{URL}/{DB}") as conn:
            rows = (
                f"SELECT lpad((100000000000 + a * 1000)::text, 12, '0'), DATE '2023-01-01' + d, i, "
                f"1, '', now(), 1 FROM generate_series(1, {args.areas}) a, "
                f"unnest({INDICATORS}) i, generate_series(%s::int, %s::int) d ORDER BY 1, 2, 3"
            )
            conn.execute(f"CREATE TABLE history ({COLUMNS})")
            conn.execute(f"INSERT INTO history {rows}", [0, args.days - 1])
            for index in INDEXES:
                conn.execute(index.format(t="history"))
            buffer = bytearray()
            with conn.cursor().copy(
                f"COPY ({rows.replace('%s', str(args.days))}) TO STDOUT"
            ) as out:
                for chunk in out:
                    buffer += chunk
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE history")
            conn.autocommit = False
            for round_ in range(args.rounds):
                for name, before, target, after in WAYS:
                    lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                    began = time.perf_counter()
                    for sql in before:
                        conn.execute(sql)
                    with conn.cursor().copy(f"COPY {target} FROM STDIN") as copy:
                        copy.write(bytes(buffer))
                    for sql in after:
                        conn.execute(sql)
                    seconds = time.perf_counter() - began
                    wal = conn.execute(
                        "SELECT pg_current_wal_lsn() - %s::pg_lsn", [lsn]
                    ).fetchone()[0]
                    conn.rollback()
                    print(
                        json.dumps(
                            {
                                "round": round_ + 1,
                                "way": name,
                                "seconds": round(seconds, 2),
                                "wal_mib": round(float(wal) / 2**20),
                            }
                        ),
                        flush=True,
                    )
    finally:
        with psycopg.connect(f"{URL}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
