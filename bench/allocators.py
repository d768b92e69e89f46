"""The kernel's share of a cycle worker's assessment with and without the allocator settings
of the cycle's pool (``ruralwatch.core.allocators``; docs/national-scale.md, session 24).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rw_bench_national \\
        RURALWATCH_ENV=development .venv/bin/python -m bench.allocators \\
        [--root /410000000000/] [--date 2023-02-05] [--runs 3]

The database is one the national benchmark leaves (``python -m bench.national --scale
province --days 14 --keep``: its timed copy holds the new day and its cycle). Two child
processes, one started without the settings and one with them, each assess the subtree
``--runs`` times as a cycle's worker does (its own judgements of the date deleted first, the
nowcast's moment of the whole tree), each run in a transaction rolled back: nothing is
written. Prints one JSON line per run: the settings, wall seconds, the process's user and
system CPU seconds and its minor page faults. A worker judges one province after another, so
the runs after the first are the ones that tell.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time


class _RolledBack(Exception):
    pass


def child(root: str, date: dt.date, runs: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    django.setup()
    from django.db import transaction

    from ruralwatch.assessments import nowcasting, services

    for _ in range(runs):
        try:
            with transaction.atomic():
                services._judgements_of(date, root, "new_cases").delete()
                now = nowcasting.moment_of("/", date, "new_cases")
                before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                with nowcasting.whole_tree_moment("new_cases", date, now):
                    services.assess(date, root_path=root, replace=False)
                after = resource.getrusage(resource.RUSAGE_SELF)
                line = {
                    "wall_s": round(time.perf_counter() - began, 2),
                    "user_s": round(after.ru_utime - before.ru_utime, 2),
                    "system_s": round(after.ru_stime - before.ru_stime, 2),
                    "minor_faults": after.ru_minflt - before.ru_minflt,
                }
                print(json.dumps(line), flush=True)
                raise _RolledBack
        except _RolledBack:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/410000000000/")
    parser.add_argument("--date", default="2023-02-05", type=dt.date.fromisoformat)
    parser.add_argument("--runs", default=3, type=int)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.root, args.date, args.runs)
        return
    from ruralwatch.core.allocators import WORKER_ENVIRONMENT

    bare = {k: v for k, v in os.environ.items() if k not in WORKER_ENVIRONMENT}
    for name, env in (("without", bare), ("with", bare | WORKER_ENVIRONMENT)):
        command = [sys.executable, "-m", "bench.allocators", "--child"]
        command += ["--root", args.root, "--date", args.date.isoformat()]
        command += ["--runs", str(args.runs)]
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
        for line in out.stdout.splitlines():
            print(json.dumps({"settings": name} | json.loads(line)), flush=True)


if __name__ == "__main__":
    main()
