"""What the order of a bulk insert costs an index keyed otherwise (docs/national-scale.md,
session 20): each statement under ``EXPLAIN (ANALYZE, BUFFERS, WAL)`` inside a transaction
rolled back, the two orders alternated, on a database the national benchmark kept.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rw_bench_national \\
        RURALWATCH_ENV=development .venv/bin/python -m bench.insert_order \\
        [--rounds 2] [--evidence-keys 8000000 --evidence-new 244000 --evidence-new 8000]

- **The roll-ups** of the townships (``reporting.services.rollup_level_sql``, level 4) for the
  latest date of the values, as the cycle's roll-up runs it (its partial sums staged by
  ``stage_partial_sums``, the date's roll-ups deleted first), and the same statement without
  its ``ORDER BY`` (the hash aggregate's order).
- **Evidence texts** (with ``--evidence-keys``): a scratch table shaped as
  ``assessments_evidencetext`` (a 16-character key, a text of 300 characters) filled with that
  many random keys, then each ``--evidence-new`` batch of new random keys inserted as
  ``Packer.save`` does (``INSERT … SELECT … ON CONFLICT (key) DO NOTHING``) in the staging
  order and sorted by key. The scratch tables are dropped at the end.

Each variant runs once a round, the first of a round alternating; a roll-up run is a
transaction of its own (the day's roll-ups deleted, the partial sums staged, the insert),
rolled back, as the figures in the docs were made.

A kept set-up: ``python -m bench.national --scale nation --days 14 --keep`` (then its timed
copy ``rw_bench_national`` holds the new day). Prints one JSON line per statement run.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

SCRATCH, SCRATCH_NEW = "bench_scratch_texts", "bench_scratch_new_texts"


def explain(sql: str) -> dict[str, Any]:
    """``sql`` run under ``EXPLAIN (ANALYZE, BUFFERS, WAL)`` in a savepoint rolled back: its
    time, the pages it dirtied and wrote, and the WAL it made."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) {sql}")
        plan = cur.fetchone()[0][0]
        transaction.set_rollback(True)
    top = plan["Plan"]
    return {
        "ms": round(plan["Execution Time"], 1),
        "dirtied": top.get("Shared Dirtied Blocks"),
        "written": top.get("Shared Written Blocks"),
        "wal_mb": round(top.get("WAL Bytes", 0) / 1e6, 1),
        "fpi": top.get("WAL FPI"),
    }


def unordered(sql: str) -> str:
    """``sql`` without its last ``ORDER BY`` (the insert in the order its plan gives)."""
    head, found, _ = sql.rpartition(" ORDER BY ")
    if not found:
        raise ValueError("the statement has no ORDER BY")
    return head


def rollups(rounds: int) -> None:
    from django.db import connection, transaction

    from ruralwatch.reporting.models import AggregateValue
    from ruralwatch.reporting.services import rollup_level_sql, stage_partial_sums

    with connection.cursor() as cur:
        cur.execute("SELECT max(date) FROM reporting_reportvalue")
        day = cur.fetchone()[0]
    sorted_sql = rollup_level_sql(4, "l4")
    for r, (order, sql) in enumerate(
        alternated([("hash order", unordered(sorted_sql)), ("key order", sorted_sql)], rounds)
    ):
        # each run as the cycle's roll-up: in a transaction of its own, rolled back
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            AggregateValue.objects.filter(date=day).delete()
            stage_partial_sums(day, day)
            print(json.dumps({"probe": "townships' roll-ups", "date": str(day), "run": r + 1,
                              "order": order} | explain(sql)))  # fmt: skip
            transaction.set_rollback(True)


def alternated(variants: list[tuple[str, str]], rounds: int) -> list[tuple[str, str]]:
    """Each variant once a round, the order reversed every other round (so that neither always
    runs on what the other left in the cache)."""
    out: list[tuple[str, str]] = []
    for r in range(rounds):
        out += variants if r % 2 == 0 else variants[::-1]
    return out


def evidence(keys: int, batches: list[int], rounds: int) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {SCRATCH}, {SCRATCH_NEW}")
        cur.execute(f"CREATE TABLE {SCRATCH} (key varchar(16) PRIMARY KEY, text text NOT NULL)")
        cur.execute(
            f"INSERT INTO {SCRATCH} SELECT substr(md5(i::text), 1, 16), repeat('x', 300) "
            f"FROM generate_series(1, %s) i ON CONFLICT DO NOTHING",
            [keys],
        )
        cur.execute(f"VACUUM ANALYZE {SCRATCH}")
    try:
        for n in batches:
            with connection.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {SCRATCH_NEW}")
                cur.execute(
                    f"CREATE UNLOGGED TABLE {SCRATCH_NEW} AS SELECT substr(md5((i + "
                    f"1000000000)::text), 1, 16) AS key, repeat('y', 300) AS text "
                    f"FROM generate_series(1, %s) i",
                    [n],
                )
            insert = f"INSERT INTO {SCRATCH} (key, text) SELECT key, text FROM {SCRATCH_NEW}"
            conflict = " ON CONFLICT (key) DO NOTHING"
            variants = [
                ("staging order", insert + conflict),
                ("key order", insert + " ORDER BY key" + conflict),
            ]
            for r, (order, sql) in enumerate(alternated(variants, rounds)):
                print(json.dumps({"probe": "evidence texts", "keys": keys, "new": n,
                                  "run": r + 1, "order": order} | explain(sql)))  # fmt: skip
    finally:
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {SCRATCH}, {SCRATCH_NEW}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--evidence-keys", type=int, default=0, help="0: no evidence probe")
    parser.add_argument("--evidence-new", type=int, action="append", help="new keys (repeatable)")
    args = parser.parse_args()
    import django

    django.setup()
    rollups(args.rounds)
    if args.evidence_keys:
        evidence(args.evidence_keys, args.evidence_new or [244_000, 8_000], args.rounds)


if __name__ == "__main__":
    main()
