"""How often the panel nowcast's 95% intervals hold the final counts, by number of draws
(docs/methods/nowcast.md, "Monte Carlo error and what the draws cost").

    .venv/bin/python -m bench.nowcast_coverage [--draws 200 --draws 400] [--seeds 6]

Series with known final counts (Poisson days growing 3 % a day from a base of 3, 30 or 300
cases, each day's cases spread over eight delays by a fixed distribution, then cut where they
had not arrived yet) are nowcast as the assessment does (``nowcasting.DEFAULT`` but for the
draws), with a new seed of the series and of the draws each time. Prints one JSON line per base
and number of draws: the range over the seeds of the share of days whose interval holds the
truth, of the last day's (the day least known), and of the interval of the days' sum. No
database.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import numpy as np
import numpy.typing as npt

#: The delay distribution of the simulated reports (days 0…7).
PMF = np.array([0.25, 0.25, 0.15, 0.12, 0.08, 0.06, 0.05, 0.04])


def simulate(
    rng: np.random.Generator,
    n_units: int,
    n_days: int,
    lam: npt.NDArray[np.float64] | float,
    pmf: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``(triangles, truth)``: Poisson(``lam``) cases per unit and day, each day's spread over
    the delays by ``pmf``, the cells not yet arrived at the last day NaN; and the final counts
    (units × days)."""
    pmf = np.asarray(pmf, dtype=np.float64)
    D = len(pmf) - 1
    counts = rng.poisson(lam, size=(n_units, n_days))
    split = rng.multinomial(counts, pmf)  # (units, days, D + 1)
    seen = np.arange(n_days)[:, None] + np.arange(D + 1)[None, :] <= n_days - 1
    return np.where(seen[None], split, np.nan).astype(np.float64), counts


def coverage(base: float, draws: int, seeds: int, units: int = 300) -> dict[str, object]:
    from ruralwatch.assessments.nowcasting import DEFAULT
    from ruralwatch.epi.nowcast import nowcast_panel

    shares = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        lam = base * np.exp(0.03 * np.arange(36))[None, :]
        tri, truth = simulate(rng, units, 36, lam, PMF)
        cfg = dataclasses.replace(DEFAULT, n_samples=draws, seed=seed)
        res = nowcast_panel(tri, config=cfg)
        final = truth[:, res.days].astype(np.float64)
        inside = (res.lower <= final) & (final <= res.upper)
        total = final.sum(axis=1)
        summed = (res.sum_lower <= total) & (total <= res.sum_upper)
        shares.append((inside.mean(), inside[:, -1].mean(), summed.mean()))
    r = np.array(shares)
    return {
        "base": base,
        "draws": draws,
        "seeds": seeds,
        **{
            name: [round(float(r[:, i].min()), 3), round(float(r[:, i].max()), 3)]
            for i, name in enumerate(("days", "last_day", "sum"))
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, action="append")
    parser.add_argument("--base", type=float, action="append")
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    import django

    django.setup()  # the assessment's defaults live beside its models
    for base in args.base or [3.0, 30.0, 300.0]:
        for draws in args.draws or [200, 400]:
            print(json.dumps(coverage(base, draws, args.seeds)), flush=True)


if __name__ == "__main__":
    main()
