"""Run the benchmarks and regenerate ``docs/benchmarks.md``.

    python -m bench                    every benchmark (what ``make bench`` runs)
    python -m bench --only detect      one of: detect, rt, areas, load, keygroups, process,
                                       dispatch (repeatable; process: whole ruralwatch
                                       commands vs R; dispatch: the cycle's task step and
                                       the inbox at province scale; national: a county, a
                                       province, four provinces and the nation on the
                                       real 2016 tree)
    python -m bench --quick            small sizes, to check the harness (not for the docs)
    python -m bench --report           only rewrite docs/benchmarks.md from bench/results/

Each benchmark writes ``bench/results/<name>.json`` (git-ignored); the report is made from
whatever results are there, so ``--only`` refreshes one table and keeps the others.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._util import RESULTS_DIR, log, machine_info, save_result

BENCHMARKS = (
    "detect",
    "rt",
    "areas",
    "load",
    "keygroups",
    "process",
    "dispatch",
    "briefing",
    "resources",
    "national",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this one")
    parser.add_argument("--quick", action="store_true", help="small sizes; results marked quick")
    parser.add_argument("--report", action="store_true", help="only regenerate the report")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)

    from bench import report

    if not args.report:
        names = args.only or list(BENCHMARKS)
        workdir = Path(tempfile.mkdtemp(prefix="ruralwatch-bench-"))
        log(f"work directory {workdir}")
        try:
            machine = machine_info()
            for name in names:
                log(f"== {name} ==")
                module = importlib.import_module(f"bench.{name}")
                sub = workdir / name
                sub.mkdir()
                t0 = time.perf_counter()
                load_before = os.getloadavg()
                result = module.run(quick=args.quick, workdir=sub)
                result.update(
                    benchmark=name,
                    quick=args.quick,
                    wall_s=time.perf_counter() - t0,
                    finished=time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    machine=machine,
                    load_before=[round(x, 2) for x in load_before],
                    load_after=[round(x, 2) for x in os.getloadavg()],
                )
                path = save_result(name, result)
                log(f"{name} done in {result['wall_s']:.0f} s -> {path.relative_to(Path.cwd())}")
        finally:
            if args.keep:
                log(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    out = report.write()
    log(f"wrote {out} from {RESULTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
