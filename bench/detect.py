"""Detection: ours (one call over the whole panel) against R ``surveillance`` (one call per
series, in a loop inside one Rscript, timing only the loop), on the same seeded panels.

Ratios are per series: (R seconds / R series) / (our seconds / our series). R runs on a subset
of the series where it is slow; our figure is always the whole panel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench import data
from bench._util import (
    best_of,
    log,
    peak_rss_mib,
    run_child,
    run_r,
    timed,
    versus_r,
    write_panel_csv,
)
from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.linalg import worker_threads
from ruralwatch.epi.panel import Panel

SEED = 20230122

FARRINGTON_NOUFAILY: dict[str, Any] = {
    "b": 5,
    "w": 3,
    "reweight": True,
    "weights_threshold": 2.58,
    "trend": True,
    "p_threshold_trend": 0.05,
    "alpha": 0.05,
    "limit54": (5, 4),
    "power_trans": "none",
    "population_offset": False,
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "threshold_method": "nbPlugin",
}

FULL = {
    "daily_units": 1000,
    "daily_days": 400,
    "daily_monitor": 30,
    "r_ears_series": 1000,
    "weekly_units": 1000,
    "weekly_weeks": 315,
    "weekly_monitor": 52,
    "r_farrington_series": 20,
    "r_glrnb_series": 100,
    "national_villages": 666_655,
    "national_days": 60,
    "national_monitor": 30,
    "national_townships": 42_868,
    "national_weeks": 315,
}
QUICK = {
    **FULL,
    "daily_units": 100,
    "r_ears_series": 20,
    "weekly_units": 40,
    "r_farrington_series": 2,
    "r_glrnb_series": 10,
    "national_villages": 20_000,
    "national_townships": 500,
}


def farrington_flexible() -> Callable[..., DetectionResult] | None:
    """Our flexible Farrington, from the registry if it is there, else from its module."""
    from ruralwatch.epi.detect import METHODS

    if "farrington-flexible" in METHODS:
        return METHODS["farrington-flexible"]
    try:
        from ruralwatch.epi.detect.farrington import farrington_flexible as fn
    except ImportError:
        return None
    return fn


def best_of_cpu(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """As ``best_of``, and the process CPU time (all threads) of the fastest call."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(max(repeat, 1)):
        c0 = time.process_time()
        out, sec = timed(fn)
        if sec < best:
            best, cpu = sec, time.process_time() - c0
    return out, best, cpu


def _threads_note(cpu_s: float, units: int) -> str:
    return (
        f"ours: best of 3 on {worker_threads()} thread(s), CPU "
        f"{cpu_s / units * 1e3:.3g} ms/series; load {os.getloadavg()[0]:.1f}"
    )


def agreement(res: DetectionResult, r_csv: str) -> dict[str, Any]:
    """How our bounds and alarms compare with R's on the series R ran."""
    r = pl.read_csv(r_csv, null_values="NA")
    rows = np.searchsorted(res.index, r["t"].to_numpy() - 1)
    cols = r["series"].to_numpy() - 1
    ours_ub = res.upperbound[rows, cols]
    ours_al = res.alarm[rows, cols]
    r_ub = r["upperbound"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    r_al = r["alarm"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    both = ~np.isnan(ours_al) & ~np.isnan(r_al)
    ub_both = ~np.isnan(ours_ub) & ~np.isnan(r_ub)
    diff = np.abs(ours_ub[ub_both] - r_ub[ub_both])
    return {
        "points": int(r.height),
        "alarms_equal": float(np.mean(ours_al[both] == r_al[both])) if both.any() else None,
        "alarms_ours": int(np.nansum(ours_al)),
        "alarms_r": int(np.nansum(r_al)),
        "bound_max_abs_diff": float(diff.max()) if diff.size else None,
        "bound_median_abs_diff": float(np.median(diff)) if diff.size else None,
        "na_mismatch": int(np.sum(np.isnan(ours_ub) != np.isnan(r_ub))),
    }


def _row(
    name: str,
    *,
    units: int,
    length: int,
    monitored: int,
    ours_s: float,
    r: dict[str, Any] | None,
    target: float,
    agree: dict[str, Any] | None,
    note: str = "",
) -> dict[str, Any]:
    ours_ps = ours_s / units
    return {
        "name": name,
        "series": units,
        "length": length,
        "monitored": monitored,
        "ours_s": ours_s,
        "ours_per_series_ms": ours_ps * 1e3,
        **versus_r(r, ours_ps),
        "target": target,
        "agreement": agree,
        "note": note,
    }


def _ears(sizes: dict[str, int], workdir: Path) -> list[dict[str, Any]]:
    from ruralwatch.epi.detect import METHODS

    n_u, n_t, n_m = sizes["daily_units"], sizes["daily_days"], sizes["daily_monitor"]
    counts = data.daily_panel(SEED, n_u, n_t)
    units = [f"d{j:04d}" for j in range(n_u)]
    panel = Panel(counts=counts, units=tuple(units), freq=365)
    csv = workdir / "daily.csv"
    write_panel_csv(csv, counts, units)
    rows = []
    for variant in ("C1", "C2", "C3"):
        det = METHODS[f"ears-{variant.lower()}"]
        res, sec = best_of(lambda det=det: det(panel, monitor=slice(-n_m, None)), 3)
        log(f"ears {variant}: ours {sec:.3f} s for {n_u} series")
        r = run_r(
            "ears.R",
            [str(csv), str(sizes["r_ears_series"]), str(n_t - n_m + 1), variant],
            workdir / f"r_ears_{variant}",
        )
        log(f"ears {variant}: R {r['seconds']:.2f} s for {r['series']} series")
        rows.append(
            _row(
                f"EARS {variant}",
                units=n_u,
                length=n_t,
                monitored=n_m,
                ours_s=sec,
                r=r,
                target=200,
                agree=agreement(res, r["csv"]),
                note="ours: best of 3",
            )
        )
    return rows


def _weekly(sizes: dict[str, int], workdir: Path) -> list[dict[str, Any]]:
    from ruralwatch.epi.detect import METHODS

    n_u, n_t, n_m = sizes["weekly_units"], sizes["weekly_weeks"], sizes["weekly_monitor"]
    counts = data.weekly_panel(SEED, n_u, n_t)
    units = [f"w{j:04d}" for j in range(n_u)]
    panel = Panel(counts=counts, units=tuple(units), freq=52, start=(2000, 1))
    csv = workdir / "weekly.csv"
    write_panel_csv(csv, counts, units)
    first = str(n_t - n_m + 1)
    rows = []

    farr = farrington_flexible()
    if farr is None:
        rows.append({"name": "Farrington flexible (Noufaily)", "note": "not yet measured"})
    else:
        res, sec, cpu = best_of_cpu(
            lambda: farr(panel, monitor=slice(-n_m, None), **FARRINGTON_NOUFAILY), 3
        )
        log(f"farrington flexible: ours {sec:.1f} s for {n_u} series")
        r = run_r(
            "farrington.R", [str(csv), str(sizes["r_farrington_series"]), first], workdir / "r_farr"
        )
        log(f"farrington flexible: R {r['seconds']:.1f} s for {r['series']} series")
        rows.append(
            _row(
                "Farrington flexible (Noufaily)",
                units=n_u,
                length=n_t,
                monitored=n_m,
                ours_s=sec,
                r=r,
                target=300,
                agree=agreement(res, r["csv"]),
                note=f"R on the first {r['series']} series; {_threads_note(cpu, n_u)}",
            )
        )

    det = METHODS["glr-nb"]
    res, sec, cpu = best_of_cpu(lambda: det(panel, monitor=slice(-n_m, None), c_arl=5.0), 3)
    log(f"glr-nb: ours {sec:.1f} s for {n_u} series")
    r = run_r("glrnb.R", [str(csv), str(sizes["r_glrnb_series"]), first], workdir / "r_glrnb")
    log(f"glr-nb: R {r['seconds']:.1f} s for {r['series']} series")
    rows.append(
        _row(
            "GLR-NB (mu0, alpha estimated)",
            units=n_u,
            length=n_t,
            monitored=n_m,
            ours_s=sec,
            r=r,
            target=100,
            agree=agreement(res, r["csv"]),
            note=f"R on the first {r['series']} series; {_threads_note(cpu, n_u)}",
        )
    )
    return rows


# --------------------------------------------------------------------------------------------
# National scale (ours only), each in its own process for a clean peak-memory figure
# --------------------------------------------------------------------------------------------


def national_ears_child(payload: dict[str, Any]) -> dict[str, Any]:
    from ruralwatch.epi.detect import METHODS

    codes = Path(payload["codes"]).read_text(encoding="utf-8").split()
    counts = data.daily_panel(SEED, len(codes), payload["days"], level=0.5)
    panel = Panel(counts=counts, units=tuple(codes), freq=365)
    rss_before = peak_rss_mib()
    det = METHODS[payload["method"]]
    res, sec = timed(lambda: det(panel, monitor=slice(-payload["monitor"], None)))
    return {
        "seconds": sec,
        "units": len(codes),
        "rss_before_mib": round(rss_before, 1),
        "panel_mib": round(counts.nbytes / 2**20, 1),
        "alarms": int(np.nansum(res.alarm)),
    }


def national_farrington_child(payload: dict[str, Any]) -> dict[str, Any]:
    farr = farrington_flexible()
    assert farr is not None
    codes = Path(payload["codes"]).read_text(encoding="utf-8").split()
    counts = data.weekly_panel(SEED, len(codes), payload["weeks"], level=3.0)
    panel = Panel(counts=counts, units=tuple(codes), freq=52, start=(2000, 1))
    rss_before = peak_rss_mib()
    res, sec = timed(
        lambda: farr(panel, monitor=slice(-payload["monitor"], None), **FARRINGTON_NOUFAILY)
    )
    return {
        "seconds": sec,
        "units": len(codes),
        "rss_before_mib": round(rss_before, 1),
        "panel_mib": round(counts.nbytes / 2**20, 1),
        "alarms": int(np.nansum(res.alarm)),
    }


def _national(sizes: dict[str, int], workdir: Path, full_villages: int) -> list[dict[str, Any]]:
    # Codes are read here once; the children read a plain list so that their peak memory is the
    # detector's, not the CSV reader's.
    villages = workdir / "villages.txt"
    villages.write_text("\n".join(data.area_codes(5, sizes["national_villages"])), encoding="utf-8")
    townships = workdir / "townships.txt"
    townships.write_text(
        "\n".join(data.area_codes(4, sizes["national_townships"])), encoding="utf-8"
    )
    rows = []
    for variant in ("c1", "c2", "c3"):
        payload = {
            "method": f"ears-{variant}",
            "codes": str(villages),
            "days": sizes["national_days"],
            "monitor": sizes["national_monitor"],
        }
        out = run_child("bench.detect:national_ears_child", payload, workdir=workdir)
        log(f"national ears-{variant}: {out['seconds']:.1f} s, peak {out['peak_rss_mib']:.0f} MiB")
        rows.append(
            {
                "name": f"EARS {variant.upper()}",
                "unit": "village",
                "series": full_villages,
                "length": payload["days"],
                "monitored": payload["monitor"],
                "measured_series": out["units"],
                "seconds": out["seconds"],
                "seconds_full": out["seconds"] * full_villages / out["units"],
                "extrapolated": out["units"] < full_villages,
                "panel_mib": out["panel_mib"],
                "rss_before_mib": out["rss_before_mib"],
                "peak_rss_mib": out["peak_rss_mib"],
            }
        )
    if farrington_flexible() is None:
        rows.append({"name": "Farrington flexible", "note": "not yet measured"})
        return rows
    full_townships = FULL["national_townships"]
    payload = {"codes": str(townships), "weeks": sizes["national_weeks"], "monitor": 1}
    out = run_child("bench.detect:national_farrington_child", payload, workdir=workdir)
    log(f"national farrington: {out['seconds']:.1f} s, peak {out['peak_rss_mib']:.0f} MiB")
    rows.append(
        {
            "name": "Farrington flexible (Noufaily)",
            "unit": "township",
            "series": full_townships,
            "length": payload["weeks"],
            "monitored": 1,
            "measured_series": out["units"],
            "seconds": out["seconds"],
            "seconds_full": out["seconds"] * full_townships / out["units"],
            "extrapolated": out["units"] < full_townships,
            "panel_mib": out["panel_mib"],
            "rss_before_mib": out["rss_before_mib"],
            "peak_rss_mib": out["peak_rss_mib"],
        }
    )
    return rows


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    rows = _ears(sizes, workdir) + _weekly(sizes, workdir)
    national = _national(sizes, workdir, FULL["national_villages"])
    return {"sizes": sizes, "rows": rows, "national": national}


# --------------------------------------------------------------------------------------------
# Ours alone, CPU time (no R run): `python -m bench.detect --cpu`
# --------------------------------------------------------------------------------------------


def _r_per_series_ms(name: str) -> float | None:
    """R's seconds per series for a method as docs/benchmarks.md last recorded it (ms)."""
    doc = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    if not doc.exists():
        return None
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[0] == name:
            value, unit = cells[6].split()
            return float(value.replace(",", "")) * {"s": 1e3, "ms": 1.0, "µs": 1e-3}[unit]
    return None


def ours_cpu(repeat: int = 5) -> list[dict[str, Any]]:
    """CPU time per series (minimum and median of ``repeat`` calls after one warm-up) of
    Farrington flexible and GLR-NB on the weekly panel of section 1, one BLAS thread, with the
    load average and the ratio to R's per-series time recorded in docs/benchmarks.md. For
    comparing versions of our code without running R (whose side takes minutes); on a loaded
    machine compare CPU times taken alternately, not against the recorded wall times."""
    from ruralwatch.epi.detect import METHODS
    from ruralwatch.epi.linalg import one_blas_thread

    n_u, n_t, n_m = FULL["weekly_units"], FULL["weekly_weeks"], FULL["weekly_monitor"]
    counts = data.weekly_panel(SEED, n_u, n_t)
    units = tuple(f"w{j:04d}" for j in range(n_u))
    panel = Panel(counts=counts, units=units, freq=52, start=(2000, 1))
    calls: dict[str, Callable[[], DetectionResult]] = {
        "Farrington flexible (Noufaily)": lambda: METHODS["farrington-flexible"](
            panel, monitor=slice(-n_m, None), **FARRINGTON_NOUFAILY
        ),
        "GLR-NB (mu0, alpha estimated)": lambda: METHODS["glr-nb"](
            panel, monitor=slice(-n_m, None), c_arl=5.0
        ),
    }
    rows = []
    with one_blas_thread():
        for name, call in calls.items():
            call()
            cpu = []
            for _ in range(repeat):
                c0 = time.process_time()
                call()
                cpu.append(time.process_time() - c0)
            best = min(cpu) / n_u * 1e3
            r_ms = _r_per_series_ms(name)
            rows.append(
                {
                    "name": name,
                    "cpu_ms_min": best,
                    "cpu_ms_median": float(np.median(cpu)) / n_u * 1e3,
                    "load": os.getloadavg()[0],
                    "r_ms": r_ms,
                    "ratio": None if r_ms is None else r_ms / best,
                }
            )
    return rows


if __name__ == "__main__":
    import sys

    if "--cpu" not in sys.argv[1:]:
        raise SystemExit("usage: python -m bench.detect --cpu  (the full run: python -m bench)")
    for row in ours_cpu():
        ratio = "" if row["ratio"] is None else f", {row['ratio']:.0f}x R's {row['r_ms']:g} ms"
        print(
            f"{row['name']}: CPU {row['cpu_ms_min']:.3f} ms/series (median "
            f"{row['cpu_ms_median']:.3f}){ratio}; load {row['load']:.1f}"
        )
