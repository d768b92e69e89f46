"""Run generated cases through R in batches: one ``Rscript`` process per batch.

Each batch is a generated R script that sources ``run.R`` and calls ``.run(id, function() ...)``
once per case, with the series and the control list written as R literals. R writes
``<id>.csv`` (its outputs, 17 significant digits, ``NA`` for NA/NaN), ``<id>.err`` when it stops
and ``<id>.warn`` with its warnings, into one directory per batch.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.fidelity import memcases

HERE = Path(__file__).resolve().parent
PRELUDE = HERE / "run.R"

# Seconds R may take to start and load surveillance and EpiEstim on a busy machine, on top of the
# first case's time limit.
_STARTUP = 240.0
_RKI = {"algo.rki1", "algo.rki2", "algo.rki3", "algo.rki"}


def r_literal(v: Any) -> str:
    """A Python value as an R expression (None -> NULL, lists -> c(...), dicts -> list(...))."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NA_real_"
        if math.isinf(v):
            return "Inf" if v > 0 else "-Inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        if not v:
            return "numeric(0)"
        return "c(" + ",".join("NA" if x is None else r_literal(x) for x in v) + ")"
    if isinstance(v, dict):
        return "list(" + ",".join(f"{k} = {r_literal(x)}" for k, x in v.items()) + ")"
    raise TypeError(f"cannot write {type(v).__name__} as R")


def _control(control: dict[str, Any]) -> str:
    parts = []
    for k, v in control.items():
        if k == "range":
            parts.append(f"range = {int(v[0])}:{int(v[1])}")
        else:
            parts.append(f"{k} = {r_literal(v)}")
    return "list(" + ", ".join(parts) + ")"


def r_call(case: dict[str, Any]) -> str:
    """The R expression that runs one case."""
    fam, fn = case["family"], case["r_function"]
    if fam in memcases.FAMILIES:
        return memcases.r_call(case, r_literal)
    if fam == "estimate_R":
        cfg = {k: v for k, v in case["control"].items() if v is not None}
        return (
            f"f_estimate_R({r_literal(case['observed'])}, {r_literal(case['imported'])}, "
            f"{r_literal(cfg)})"
        )
    series = (
        f"{r_literal(case['observed'])}, {case['freq']}, {r_literal(case['start'])}, "
        f"{r_literal(case['population'])}, {_control(case['control'])}"
    )
    if fn in _RKI:
        return f"f_rki({fn}, {series})"
    return f"f_{fam}({series})"


def batch_script(cases: list[dict[str, Any]], out_dir: Path) -> str:
    lines = [f"source({r_literal(str(PRELUDE))})", f".out_dir <- {r_literal(str(out_dir))}"]
    if any(c["family"] in memcases.FAMILIES for c in cases):
        lines += memcases.r_prelude()
    for c in cases:
        lines.append(f".run({r_literal(c['case_id'])}, function() {r_call(c)})")
    return "\n".join(lines) + "\n"


def r_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TZ", "UTC")  # R asks timedatectl for the zone otherwise (fails here)
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _parse(text: str) -> float:
    if text in ("NA", "NaN", ""):
        return math.nan
    if text == "Inf":
        return math.inf
    if text == "-Inf":
        return -math.inf
    return float(text)


def read_result(out_dir: Path, case_id: str) -> dict[str, Any]:
    """R's outcome for one case: ``{"error": msg|None, "warnings": [...], "columns": {...}}``."""
    res: dict[str, Any] = {"error": None, "warnings": [], "columns": None}
    err, warn, out = (out_dir / f"{case_id}{ext}" for ext in (".err", ".warn", ".csv"))
    if warn.exists():
        res["warnings"] = warn.read_text(encoding="utf-8").splitlines()
    if err.exists():
        res["error"] = err.read_text(encoding="utf-8").strip() or "R error"
    elif out.exists():
        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        head, body = rows[0], rows[1:]
        res["columns"] = {h: [_parse(r[i]) for r in body] for i, h in enumerate(head)}
    else:
        res["error"] = "no output from R (the batch stopped before this case)"
    return res


def _finished(out_dir: Path) -> int:
    timings = out_dir / "timings.txt"
    if not timings.exists():
        return 0
    return len(timings.read_text(encoding="utf-8").splitlines())


class Batches:
    """Run batches of cases through ``Rscript`` in the background, ``jobs`` at a time.

    A case R has not finished after ``case_timeout`` seconds (some ``algo.glrnb`` searches with
    ``ret = "cases"`` run in compiled code and do not end) is recorded as an R error, the process
    is stopped, and the rest of the batch runs in a new one.
    """

    def __init__(
        self,
        work: Path,
        jobs: int,
        on_done: Callable[[int, int, float], None],
        case_timeout: float = 60.0,
    ):
        self.work = work
        self.jobs = max(1, jobs)
        self.on_done = on_done
        self.case_timeout = case_timeout
        self._sem = threading.Semaphore(self.jobs)
        self._threads: list[threading.Thread] = []
        self.failures: list[str] = []
        self.timeouts: list[str] = []
        self._n = 0
        self._lock = threading.Lock()

    def _run_until_stuck(self, cases: list[dict[str, Any]], out_dir: Path, part: int) -> int:
        """Run ``cases``; return how many finished (all of them unless one timed out)."""
        script = out_dir / f"batch{part}.R"
        script.write_text(batch_script(cases, out_dir), encoding="utf-8")
        before = _finished(out_dir)
        proc = subprocess.Popen(
            ["Rscript", "--vanilla", str(script)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=r_env(),
        )
        last, seen = time.monotonic(), before
        while proc.poll() is None:
            time.sleep(0.5)
            now_done = _finished(out_dir)
            if now_done != seen:
                seen, last = now_done, time.monotonic()
            elif time.monotonic() - last > self.case_timeout + (
                _STARTUP if seen == before else 0.0
            ):
                proc.kill()
                proc.wait()
                break
        done = _finished(out_dir) - before
        if proc.returncode not in (0, -9) and done < len(cases):
            err = (proc.stderr.read() if proc.stderr else "")[-500:]
            with self._lock:
                self.failures.append(f"{script.name}: Rscript exit {proc.returncode}: {err}")
        if proc.stderr:
            proc.stderr.close()
        return done

    def submit(self, cases: list[dict[str, Any]]) -> Path:
        self._n += 1
        k = self._n
        out_dir = self.work / f"batch{k:03d}"
        out_dir.mkdir(parents=True, exist_ok=True)

        def run() -> None:
            with self._sem:
                t0 = time.perf_counter()
                rest, part = list(cases), 0
                while rest:
                    part += 1
                    done = self._run_until_stuck(rest, out_dir, part)
                    if done >= len(rest):
                        break
                    stuck = rest[done]
                    (out_dir / f"{stuck['case_id']}.err").write_text(
                        f"R did not finish in {self.case_timeout:g} s (stopped by the harness)\n",
                        encoding="utf-8",
                    )
                    with (out_dir / "timings.txt").open("a", encoding="utf-8") as fh:
                        fh.write(f"{stuck['case_id']} NA\n")
                    with self._lock:
                        self.timeouts.append(stuck["case_id"])
                    rest = rest[done + 1 :]
                self.on_done(k, len(cases), time.perf_counter() - t0)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        self._threads.append(th)
        return out_dir

    def wait(self) -> None:
        for th in self._threads:
            th.join()
