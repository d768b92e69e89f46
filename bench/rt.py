"""Rt by the method of Cori et al.: ours (whole panel at once) against EpiEstim ``estimate_R``
(one series per call, in a loop inside one Rscript, timing only the loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench import data
from bench._util import best_of, log, ratio, run_r, write_panel_csv
from ruralwatch.epi.assess.rt import RtResult, discrete_si, estimate_rt

SEED = 20230122
SI_MEAN = 3.0
SI_SD = 1.5

FULL = {"series": 3000, "days": 365, "compare_days": 200, "r_series": 100}
QUICK = {"series": 200, "days": 365, "compare_days": 200, "r_series": 10}


def _ours(incidence: np.ndarray) -> RtResult:
    si = discrete_si(np.arange(incidence.shape[0]), SI_MEAN, SI_SD)
    return estimate_rt(incidence, si)


def _agreement(res: RtResult, r_csv: str) -> dict[str, Any]:
    r = pl.read_csv(r_csv, null_values="NA")
    rows = np.searchsorted(res.t_end, r["t_end"].to_numpy())
    cols = r["series"].to_numpy() - 1
    ours = res.mean[rows, cols]
    theirs = r["mean"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    both = ~np.isnan(ours) & ~np.isnan(theirs)
    rel = np.abs(ours[both] - theirs[both]) / np.abs(theirs[both])
    return {
        "points": int(r.height),
        "mean_max_rel_diff": float(rel.max()) if rel.size else None,
        "na_mismatch": int(np.sum(np.isnan(ours) != np.isnan(theirs))),
    }


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    n_u, n_t, n_c = sizes["series"], sizes["days"], sizes["compare_days"]
    si_true = discrete_si(np.arange(60), SI_MEAN, SI_SD)
    incidence = data.renewal_panel(SEED, n_u, n_t, si_true)
    rows = []

    _, sec = best_of(lambda: _ours(incidence), 3)
    log(f"rt: ours {sec:.3f} s for {n_u} × {n_t}")
    rows.append(
        {
            "name": f"Cori Rt, {n_t}-day series (ours only)",
            "series": n_u,
            "length": n_t,
            "monitored": n_t - 7,
            "ours_s": sec,
            "ours_per_series_ms": sec / n_u * 1e3,
            "r_series": None,
            "r_s": None,
            "r_per_series_ms": None,
            "ratio": None,
            "target": None,
            "agreement": None,
            "note": "best of 3",
        }
    )

    short = np.ascontiguousarray(incidence[:n_c])
    res, sec = best_of(lambda: _ours(short), 3)
    log(f"rt: ours {sec:.3f} s for {n_u} × {n_c}")
    units = [f"s{j:04d}" for j in range(n_u)]
    csv = workdir / "incidence.csv"
    write_panel_csv(csv, short, units)
    r = run_r(
        "epiestim.R", [str(csv), str(sizes["r_series"]), str(SI_MEAN), str(SI_SD)], workdir / "r_rt"
    )
    log(f"rt: EpiEstim {r['seconds']:.2f} s for {r['series']} series")
    ours_ps = sec / n_u
    r_ps = r["seconds"] / r["series"]
    rows.append(
        {
            "name": f"Cori Rt vs estimate_R, {n_c}-day series",
            "series": n_u,
            "length": n_c,
            "monitored": n_c - 7,
            "ours_s": sec,
            "ours_per_series_ms": ours_ps * 1e3,
            "r_series": r["series"],
            "r_s": r["seconds"],
            "r_per_series_ms": r_ps * 1e3,
            "ratio": ratio(r_ps, ours_ps),
            "target": 200,
            "agreement": _agreement(res, r["csv"]),
            "note": "ours: best of 3; the first days of the same series",
        }
    )
    return {"sizes": sizes, "si_mean": SI_MEAN, "si_sd": SI_SD, "rows": rows}
