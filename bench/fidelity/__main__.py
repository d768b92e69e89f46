"""``python -m bench.fidelity [--seed S] [--n N] [--only FAMILY ...]`` (``make fidelity``).

Generates N cases per method family (default 300; a fresh seed unless given), runs them through
R in batches in the background while our side runs in-process, compares, prints and writes the
table per method and option (``var/fidelity/report.md`` and ``report.json``) and saves the cases
that disagreed under ``tests/fidelity/cases/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from bench.fidelity import cases as gen
from bench.fidelity import known, memcases, report, saved
from bench.fidelity.compare import Verdict, compare
from bench.fidelity.ours import CLEAR_ERRORS, run_ours
from bench.fidelity.rrun import Batches, read_result

OUT_DIR = saved.REPO / "var" / "fidelity"
_BATCH = 150  # cases per Rscript (R with surveillance takes seconds to start)
# New regression cases saved per run: per kind of disagreement (see _signature), per family, and
# no new ones for a kind that already has this many saved cases. The shortest series go first.
_SAVE_PER_SIGNATURE = 2
_SAVE_PER_FAMILY = 12
_SAVED_ENOUGH = 4
# ... and none for a known cause that already has this many saved cases.
_SAVED_PER_CAUSE = 8


def _log(msg: str) -> None:
    print(f"[fidelity {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_PRIMARY = {
    "earsC": ("method",),
    "rki": ("variant",),
    "cusum": ("m", "trans"),
    "glrnb": ("ret", "alpha"),
    "farrington": ("reweight",),
    "farringtonFlexible": ("thresholdMethod", "reweight"),
    "estimate_R": ("method",),
    "mem": ("i.method", "i.type.threshold"),
    "memevolution": ("i.evolution.method", "i.type.threshold"),
}


def _signature(case: dict[str, Any], v: Verdict) -> tuple[str, ...]:
    """What kind of disagreement: family, status, first differing output (or our error), and
    the options that select the code path."""
    if v.status in ("ours_refuse", "ours_crash"):
        key = v.detail[-1].split(":", 2)[-1].strip()[:40]
    else:
        key = v.detail[0].split(":")[0] if v.detail else ""
    opts = tuple(case["options"].get(k, "") for k in _PRIMARY[case["family"]])
    return (case["family"], v.status, key, *opts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fidelity", description=__doc__)
    ap.add_argument("--seed", type=int, default=None, help="seed (default: a fresh one)")
    ap.add_argument("--n", type=int, default=300, help="cases per method family (default 300)")
    ap.add_argument("--only", nargs="*", choices=gen.FAMILIES, help="method families to run")
    ap.add_argument("--jobs", type=int, default=2, help="R processes at a time (default 2)")
    ap.add_argument(
        "--case-timeout", type=float, default=30.0, help="seconds R may take for one case"
    )
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="report directory")
    ap.add_argument("--no-save", action="store_true", help="do not save regression cases")
    ap.add_argument("--keep", action="store_true", help="keep the R batch files")
    ap.add_argument(
        "--reclassify",
        action="store_true",
        help="only re-judge the saved regression cases with the current code and reset their "
        "known_issue (None where they now agree with R)",
    )
    args = ap.parse_args(argv)
    if args.reclassify:
        for path, old, new in saved.reclassify():
            print(f"{path}: {old!r} -> {new!r}")
        return 0
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    families = list(args.only or gen.FAMILIES)
    not_run: dict[str, str] = {}
    if set(families) & set(memcases.FAMILIES):
        ok, what = memcases.mem_status()
        _log(f"MEM: {what}" if ok else f"MEM NOT RUN: {what}")
        for fam in memcases.FAMILIES:
            if not ok and fam in families:
                families.remove(fam)
                not_run[fam] = what
            if not families:
                print(f"error: {what}", file=sys.stderr)
                return 2
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    _log(f"seed {seed}, {args.n} cases per family, families: {', '.join(families)}")

    all_cases: list[dict[str, Any]] = []
    for fam in families:
        all_cases.extend(gen.generate(fam, seed, args.n))
    work = Path(tempfile.mkdtemp(prefix="fidelity-"))
    n_batches = (len(all_cases) + _BATCH - 1) // _BATCH
    done = Counter[str]()
    lock = threading.Lock()
    r_seconds = [0.0]

    def on_done(k: int, n: int, sec: float) -> None:
        with lock:
            done["batches"] += 1
            done["cases"] += n
            r_seconds[0] += sec
            _log(
                f"R batch {done['batches']}/{n_batches} done ({n} cases, {sec:.1f} s); "
                f"R has run {done['cases']}/{len(all_cases)} cases"
            )

    t_start = time.perf_counter()
    runner = Batches(work, args.jobs, on_done, case_timeout=args.case_timeout)
    out_dirs: dict[str, Path] = {}
    for i in range(0, len(all_cases), _BATCH):
        chunk = all_cases[i : i + _BATCH]
        d = runner.submit(chunk)
        for c in chunk:
            out_dirs[c["case_id"]] = d

    # Our side, in-process, while R runs.
    ours: dict[str, tuple[Any, Any]] = {}
    ours_seconds: dict[str, float] = {}
    case_seconds: dict[str, float] = {}
    for fam in families:
        fam_cases = [c for c in all_cases if c["family"] == fam]
        t0 = time.perf_counter()
        for c in fam_cases:
            t_case = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    # Overflow in hopeless fits, the SI sum warning: judged by the outputs.
                    warnings.simplefilter("ignore")
                    ours[c["case_id"]] = (run_ours(c), None)
            except Exception as exc:
                ours[c["case_id"]] = (
                    None,
                    (type(exc).__name__, str(exc), isinstance(exc, CLEAR_ERRORS)),
                )
            case_seconds[c["case_id"]] = time.perf_counter() - t_case
        ours_seconds[fam] = time.perf_counter() - t0
        _log(f"ours: {fam} {len(fam_cases)} cases in {ours_seconds[fam]:.1f} s")
    _log("waiting for R ...")
    runner.wait()
    for f in runner.failures:
        _log(f"R failure: {f}")

    results: list[dict[str, Any]] = []
    for c in all_cases:
        r = read_result(out_dirs[c["case_id"]], c["case_id"])
        o, err = ours[c["case_id"]]
        v = compare(c, o, err, r)
        cause = None
        if v.status in ("differ", "ours_refuse", "ours_crash"):
            cause = known.known_issue(c, v, r) or "not explained"
        results.append({"case": c, "verdict": v, "r": r, "cause": cause})
    saved_paths = [] if args.no_save else _save(results, seed, date)
    elapsed = time.perf_counter() - t_start
    meta = {
        "seed": seed,
        "n_per_family": args.n,
        "families": families,
        "date": date,
        "command": f"make fidelity SEED={seed} N={args.n}",
        "seconds_total": round(elapsed, 1),
        "seconds_r_batches": round(r_seconds[0], 1),
        "seconds_ours": {k: round(v, 2) for k, v in ours_seconds.items()},
        "slowest_ours": [
            [k, round(v, 2)] for k, v in sorted(case_seconds.items(), key=lambda kv: -kv[1])[:5]
        ],
        "saved_cases": saved_paths,
        "r_failures": runner.failures,
        "r_timeouts": runner.timeouts,
        "not_run": not_run,
    }
    tables = report.tabulate(results)
    args.out.mkdir(parents=True, exist_ok=True)
    md = report.markdown(tables, meta, results)
    (args.out / "report.md").write_text(md, encoding="utf-8")
    (args.out / "report.json").write_text(
        json.dumps(report.as_json(tables, meta, results), indent=1) + "\n", encoding="utf-8"
    )
    print(report.console(tables, meta))
    _log(f"report: {args.out / 'report.md'}; {len(saved_paths)} regression case(s) saved")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        _log(f"R batches kept in {work}")
    return 0


def _save(results: list[dict[str, Any]], seed: int, date: str) -> list[str]:
    saved_now = [json.loads(p.read_text(encoding="utf-8")) for p in saved.all_paths()]
    existing = Counter(_signature_from_saved(d) for d in saved_now)
    by_cause = Counter(d.get("known_issue") for d in saved_now if d.get("known_issue"))
    bad = [r for r in results if r["verdict"].status in ("differ", "ours_refuse", "ours_crash")]
    bad.sort(key=lambda r: len(r["case"]["observed"]))
    per_sig: Counter[tuple[str, ...]] = Counter()
    per_family: Counter[str] = Counter()
    paths = []
    for r in bad:
        c, v = r["case"], r["verdict"]
        sig = _signature(c, v)
        cause = known.known_issue(c, v, r["r"])
        if (
            per_sig[sig] >= _SAVE_PER_SIGNATURE
            or existing[sig] >= _SAVED_ENOUGH
            or (cause is not None and by_cause[cause] >= _SAVED_PER_CAUSE)
            or per_family[c["family"]] >= _SAVE_PER_FAMILY
        ):
            continue
        per_sig[sig] += 1
        per_family[c["family"]] += 1
        if cause is not None:
            by_cause[cause] += 1
        p = saved.save(c, r["r"], v, seed, date, cause)
        paths.append(str(p.relative_to(saved.REPO)))
    return paths


def _signature_from_saved(data: dict[str, Any]) -> tuple[str, ...]:
    v = Verdict(data["found"]["status"], detail=list(data["found"]["detail"]))
    return _signature(data, v)


if __name__ == "__main__":
    raise SystemExit(main())
