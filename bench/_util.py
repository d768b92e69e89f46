"""Shared pieces of the benchmarks: timing, child processes, the R peers, results on disk."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
R_DIR = BENCH_DIR / "r"
#: The read-only reference data: ``../shared`` beside the repository, or ``RURALWATCH_SHARED``
#: (as tests/shared.py reads it: a checkout elsewhere, such as a clean worktree).
SHARED_DIR = Path(os.environ.get("RURALWATCH_SHARED", REPO_DIR.parent / "shared")).resolve()
ADMIN_2016 = SHARED_DIR / "data" / "admin" / "cn_divisions_2016_village.csv.gz"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432"
PG_BENCH_DB = "ruralwatch_bench"


def log(message: str) -> None:
    # UTC: a child that sets Django up has TZ set to the project's zone, and the lines of
    # the parent and its children must read on one clock.
    stamp = time.strftime("%H:%M:%SZ", time.gmtime())
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The result of the last call and the smallest wall time of ``repeat`` calls."""
    best = float("inf")
    out = None
    for _ in range(max(repeat, 1)):
        out, sec = timed(fn)
        best = min(best, sec)
    return out, best


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_panel_csv(path: Path, counts: npt.NDArray[np.float64], units: list[str]) -> None:
    """A time × series matrix of whole counts as CSV with the unit codes as header."""
    header = ",".join(units)
    np.savetxt(path, counts, fmt="%d", delimiter=",", header=header, comments="")


def ratio(r_per_series: float | None, ours_per_series: float | None) -> float | None:
    if not r_per_series or not ours_per_series:
        return None
    return r_per_series / ours_per_series


def versus_r(r: dict[str, Any] | None, ours_per_series: float) -> dict[str, Any]:
    """The R side of a result row (series run, loop seconds, per series) and our speed-up."""
    r_ps = r["seconds"] / r["series"] if r else None
    return {
        "r_series": r["series"] if r else None,
        "r_s": r["seconds"] if r else None,
        "r_per_series_ms": r_ps * 1e3 if r_ps else None,
        "ratio": ratio(r_ps, ours_per_series),
    }


# --------------------------------------------------------------------------------------------
# R peers
# --------------------------------------------------------------------------------------------


def r_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TZ", "UTC")  # R asks timedatectl otherwise, which fails in containers
    return env


def run_r(
    script: str, args: list[str], out_prefix: Path, extra: list[str] | None = None
) -> dict[str, Any]:
    """Run ``bench/r/<script> ARGS OUT_PREFIX EXTRA``; it writes ``<out_prefix>.json`` (timing)
    and ``.csv``."""
    cmd = ["Rscript", "--vanilla", str(R_DIR / script), *args, str(out_prefix), *(extra or [])]
    proc = subprocess.run(cmd, env=r_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{proc.stderr[-3000:]}")
    timing: dict[str, Any] = json.loads(out_prefix.with_suffix(".json").read_text())
    timing["csv"] = str(out_prefix.with_suffix(".csv"))
    return timing


def r_versions() -> dict[str, str]:
    code = (
        "cat(R.version$major, R.version$minor, '|', "
        "as.character(packageVersion('surveillance')), '|', "
        "as.character(packageVersion('EpiEstim')), '|', "
        "La_library(), '|', extSoftVersion()[['BLAS']], sep='')"
    )
    try:
        proc = subprocess.run(
            ["Rscript", "--vanilla", "-e", code],
            env=r_env(),
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return {"r": "not available"}
    major_minor, surv, epi, lapack, blas = (p.strip() for p in proc.stdout.split("|"))
    major, minor = major_minor[0], major_minor[1:]
    return {
        "r": f"{major}.{minor}",
        "surveillance": surv,
        "EpiEstim": epi,
        "r_lapack": lapack,
        "r_blas": blas,
    }


# --------------------------------------------------------------------------------------------
# Child processes: each database (and each memory measurement) gets a fresh interpreter
# --------------------------------------------------------------------------------------------


def run_child(
    target: str,
    payload: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    workdir: Path,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``module:function(payload)`` in a new interpreter and return its JSON result.

    The child adds ``peak_rss_mib`` (its own peak resident memory). A child still running after
    ``timeout`` seconds is stopped and ``{"timed_out": timeout}`` returned.
    """
    out = workdir / f"child-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "bench._child", target, json.dumps(payload), str(out)]
    try:
        proc = subprocess.run(cmd, env=env, cwd=REPO_DIR, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"child {target} stopped after {timeout:.0f} s")
        return {"timed_out": timeout}
    if proc.returncode != 0:
        raise RuntimeError(f"child {target} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def sqlite_env(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["RURALWATCH_VAR"] = str(var_dir)
    env["DJANGO_SETTINGS_MODULE"] = "ruralwatch.config.settings"
    return env


def postgres_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_BENCH_DB}"
    env["DJANGO_SETTINGS_MODULE"] = "ruralwatch.config.settings"
    return env


def fresh_postgres_db() -> None:
    """Drop and create the benchmark database (never the project's own)."""
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (
        f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)",
        f"CREATE DATABASE {PG_BENCH_DB}",
    ):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)


def postgres_version() -> str:
    try:
        proc = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                "SHOW server_version",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "not available"
    return proc.stdout.strip()


def django_setup_migrate() -> float:
    """In a child: set Django up on the database the environment names; migrate; return seconds."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _, sec = timed(lambda: call_command("migrate", interactive=False, verbosity=0))
    return sec


# --------------------------------------------------------------------------------------------
# Results and the machine
# --------------------------------------------------------------------------------------------


def save_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def load_results() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _numpy_blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]  # type: ignore[index]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


def machine_info() -> dict[str, Any]:
    import django
    import polars
    import scipy

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_total_gib(), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "scipy": scipy.__version__,
        "polars": polars.__version__,
        "django": django.__version__,
        "postgresql": postgres_version(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        **r_versions(),
    }
