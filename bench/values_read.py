"""What a read of village values costs (``reporting.selectors.values_by_area``): this process's
and its PostgreSQL backend's CPU, and the wall time, for each history length asked, on a
database the national benchmark kept (docs/national-scale.md, session 19).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rw_bench_growth_90 \\
        RURALWATCH_ENV=development .venv/bin/python -m bench.values_read \\
        [--root /410000000000/] [--end 2023-02-04] [--days 91 --days 15] [--repeat 3]

A kept 90-day set-up of 河南: ``python -m bench.national --growth --scale province --days 14
--days 90 --rounds 1 --keep``. To compare two versions of the code, run this module from a
worktree of each (``PYTHONPATH=<worktree>/src:<worktree>``), alternately. Prints one JSON line
per read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/410000000000/")
    parser.add_argument("--end", default="2023-02-04")
    parser.add_argument("--days", type=int, action="append", help="days read (repeatable)")
    parser.add_argument("--indicator", default="new_cases")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    from ruralwatch.cycle.distributed import process_cpu_s
    from ruralwatch.reporting.selectors import values_by_area

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    end = dt.date.fromisoformat(args.end)
    for days in args.days or [91, 15]:
        start = end - dt.timedelta(days=days - 1)
        for run in range(args.repeat):
            db, cpu, wall = process_cpu_s(backend), time.process_time(), time.perf_counter()
            frame = values_by_area("report", args.indicator, start, end, root_path=args.root)
            after = process_cpu_s(backend)
            row = {
                "days": days,
                "run": run + 1,
                "values": frame.height,
                "wall_s": round(time.perf_counter() - wall, 3),
                "cpu_s": round(time.process_time() - cpu, 3),
                "db_cpu_s": None if db is None or after is None else round(after - db, 3),
            }
            print(json.dumps(row))


if __name__ == "__main__":
    main()
