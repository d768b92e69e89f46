"""Stochastic metapopulation SEIR model with mobility and a migrant return wave.

The model imitates the rural Omicron wave of winter 2022–23 in China: seeded by importation from
the cities after the 7 Dec 2022 relaxation, a fast wave peaking in late December, most people
infected by mid-January, then returning migrant workers around the Spring Festival (22 Jan 2023)
who bring a few infections and leave again from about 29 Jan.

Patches are villages. Each day is one step of a binomial chain (Reed–Frost style discrete-time
SEIR) computed for all patches at once:

* force of infection on patch *i*:
  ``λ_i = β · c_i(t) · [(1 − Σw_k) I_i/N_i + Σ_k w_k I_{g_k(i)}/N_{g_k(i)}] + ι_i(t)``
  where ``g_k`` are the mixing groups (township, county …) with coupling weights ``w_k``,
  ``c_i(t)`` a contact multiplier (remote areas < 1, rebound townships > 1 after the festival)
  and ``ι_i(t)`` the importation hazard from outside (the urban wave);
* ``S→E ~ Bin(S, 1 − e^{−λ})``, ``E→I ~ Bin(E, 1 − e^{−1/latent})``,
  ``I→R ~ Bin(I, 1 − e^{−1/infectious})``;
* symptomatic onsets are a binomial share of ``E→I``; severe cases and deaths are binomial
  shares of the onsets (by the patch's 65+ share), placed in later days by a multinomial
  draw over a discretised gamma delay.

Everything is deterministic for a seed (one :class:`numpy.random.Generator`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Scenario = Literal["baseline", "rebound"]

__all__ = ["SEIRParams", "Scenario", "Simulation", "delay_pmf", "simulate"]


@dataclass(frozen=True)
class SEIRParams:
    """Parameters of :func:`simulate`; every one is a default that a caller may change.

    Transmission:
        r0: basic reproduction number in a fully susceptible patch (β = r0 / infectious_days).
        latent_days, infectious_days: mean residence in E and I (generation time ≈ their sum,
            about 3.5 days; Omicron serial intervals of about 2–3.5 days were reported).
        susceptible_share: share of residents susceptible on the first day (the rest is
            treated as immune or out of reach).
        coupling: weights of the mixing groups passed to :func:`simulate` (township, county …);
            ``1 − sum(coupling)`` of contacts stay inside the village.
    Importation (the urban wave after the 7 Dec 2022 relaxation):
        import_rate: peak hazard of infection from outside, per person per day.
        import_peak, import_sd_days: centre and width (days) of the Gaussian importation curve.
    Outcomes:
        p_symptomatic: share of infections with symptoms (counted at onset).
        p_severe_65plus, p_severe_under65: share of symptomatic cases that become severe.
        p_death_severe: share of severe cases that die.
        severe_delay_mean/_sd, death_delay_mean/_sd: onset → severe and onset → death delays.
    Migrant workers and the Spring Festival:
        migrant_share: returning migrants as a share of the resident population.
        migrant_infected, migrant_immune: shares of arriving migrants infected (enter E) or
            immune; the rest are susceptible.
        arrival_start, festival, departure_start, departure_days: the return wave ramps up from
            ``arrival_start`` to the eve of ``festival``; migrants leave over ``departure_days``
            from ``departure_start``.
    Rebound scenario (in the chosen townships):
        rebound_start: first day of the higher contact rate.
        rebound_contact: contact multiplier there from ``rebound_start``.
        rebound_migrant_share, rebound_migrant_susceptible: more migrants, more of them
            susceptible.
        rebound_import_rate: extra importation hazard there from ``rebound_start``.
        rebound_groups_n: how many townships rebound when the caller does not name them.
    """

    r0: float = 2.6
    latent_days: float = 1.5
    infectious_days: float = 2.0
    susceptible_share: float = 0.93
    coupling: tuple[float, ...] = (0.15, 0.04)
    import_rate: float = 5e-4
    import_peak: date = date(2022, 12, 10)
    import_sd_days: float = 10.0
    p_symptomatic: float = 0.65
    p_severe_65plus: float = 0.02
    p_severe_under65: float = 0.0012
    p_death_severe: float = 0.25
    severe_delay_mean: float = 7.0
    severe_delay_sd: float = 3.0
    death_delay_mean: float = 12.0
    death_delay_sd: float = 4.0
    migrant_share: float = 0.08
    migrant_infected: float = 0.02
    migrant_immune: float = 0.88
    arrival_start: date = date(2023, 1, 8)
    festival: date = date(2023, 1, 22)
    departure_start: date = date(2023, 1, 29)
    departure_days: int = 14
    rebound_start: date = date(2023, 1, 23)
    rebound_contact: float = 3.5
    rebound_migrant_share: float = 0.2
    rebound_migrant_susceptible: float = 0.6
    rebound_import_rate: float = 2e-4
    rebound_groups_n: tuple[int, int] = (2, 3)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (dates as ISO strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class Simulation:
    """Daily outcomes per patch (arrays of shape T × P) and what produced them.

    Attributes:
        dates: ``datetime64[D]`` array of length T.
        infections: new infections acquired in the patch that day (S→E).
        imported: infected migrants arriving that day (not counted in ``infections``).
        symptomatic: new symptomatic onsets (local and imported infections).
        severe: new severe cases; deaths: new deaths.
        population: resident population per patch (P,), without migrants.
        migrants: returning migrants per patch (P,).
        params: the parameters used (``SEIRParams.to_dict()``) plus ``seed``.
        scenario: ``{"name", "rebound_groups" (indices into the first mixing group),
            "rebound_start"}``.
    """

    dates: npt.NDArray[np.datetime64]
    infections: IntArray
    imported: IntArray
    symptomatic: IntArray
    severe: IntArray
    deaths: IntArray
    population: IntArray
    migrants: IntArray
    params: dict[str, Any]
    scenario: dict[str, Any] = field(default_factory=dict)


def delay_pmf(mean: float, sd: float, max_days: int | None = None) -> FloatArray:
    """Discretised gamma delay distribution on 0, 1, … days (sums to 1)."""
    if mean <= 0 or sd <= 0:
        raise ValueError("delay mean and sd must be positive")
    shape = (mean / sd) ** 2
    scale = sd**2 / mean
    n = max_days if max_days is not None else math.ceil(mean + 4 * sd) + 1
    edges = np.arange(n + 1, dtype=np.float64) - 0.5
    edges[0] = 0.0
    cdf = stats.gamma.cdf(edges, a=shape, scale=scale)
    pmf = np.diff(cdf)
    pmf = np.asarray(pmf / pmf.sum(), dtype=np.float64)
    return pmf


def _day_index(start: date, day: date) -> int:
    return (day - start).days


def _ramp(n: int, up: bool) -> FloatArray:
    w = np.arange(1, n + 1, dtype=np.float64)
    if not up:
        w = w[::-1].copy()
    return np.asarray(w / w.sum(), dtype=np.float64)


def _take(rng: np.random.Generator, want: IntArray, comps: list[IntArray]) -> list[IntArray]:
    """Remove ``want`` people per patch from the compartments, proportionally (binomial chain)."""
    total = np.zeros_like(want)
    for c in comps:
        total += c
    want = np.minimum(want, total)
    left = want.copy()
    rest = total.copy()
    removed: list[IntArray] = []
    for c in comps[:-1]:
        p = np.divide(c, rest, out=np.zeros(c.shape, dtype=np.float64), where=rest > 0)
        r = rng.binomial(left, np.clip(p, 0.0, 1.0)).astype(np.int64)
        r = np.minimum(r, c)
        removed.append(r)
        left -= r
        rest -= c
    removed.append(np.minimum(left, comps[-1]))
    return removed


def simulate(
    population: npt.ArrayLike,
    *,
    groups: Sequence[npt.ArrayLike] = (),
    start: date = date(2022, 12, 1),
    days: int = 67,
    scenario: Scenario = "baseline",
    share_65plus: npt.ArrayLike | None = None,
    contact: npt.ArrayLike | None = None,
    importation: npt.ArrayLike | None = None,
    migrants: npt.ArrayLike | None = None,
    rebound_groups: Sequence[int] | None = None,
    params: SEIRParams | None = None,
    seed: int = 0,
) -> Simulation:
    """Run the metapopulation SEIR model over ``days`` days from ``start``.

    Args:
        population: resident population per patch (P,).
        groups: mixing groups, one integer array (P,) per level, e.g. the township index and
            the county index of each village; their weights are ``params.coupling``.
        start, days: the simulated window (first day and number of days).
        scenario: ``"baseline"`` or ``"rebound"``.
        share_65plus: share of people aged 65+ per patch (for severity); default 0.18.
        contact: per-patch contact multiplier (e.g. < 1 in remote mountain villages).
        importation: per-patch multiplier of the importation hazard.
        migrants: returning migrants per patch; default ``Bin(population, migrant_share)``.
        rebound_groups: indices into ``groups[0]`` that rebound in the ``"rebound"`` scenario;
            default: ``params.rebound_groups_n`` groups chosen at random.
        params: model parameters; default :class:`SEIRParams`.
        seed: seed of the random generator.

    Returns:
        A :class:`Simulation` with T × P arrays of daily counts.
    """
    prm = params if params is not None else SEIRParams()
    if scenario not in ("baseline", "rebound"):
        raise ValueError(f"unknown scenario {scenario!r}")
    if days < 1:
        raise ValueError("days must be at least 1")
    pop = np.asarray(population, dtype=np.int64)
    if pop.ndim != 1 or (pop < 0).any():
        raise ValueError("population must be a 1-D array of non-negative counts")
    n_patch = pop.shape[0]
    grp = [np.asarray(g, dtype=np.int64) for g in groups]
    for g in grp:
        if g.shape != (n_patch,) or (g < 0).any():
            raise ValueError("each group must be a non-negative integer array of length P")
    if len(prm.coupling) < len(grp):
        raise ValueError(f"{len(grp)} mixing groups but {len(prm.coupling)} coupling weights")
    weights = list(prm.coupling[: len(grp)])
    w_own = 1.0 - sum(weights)
    if w_own < 0:
        raise ValueError("coupling weights must sum to at most 1")
    old = (
        np.full(n_patch, 0.18)
        if share_65plus is None
        else np.asarray(share_65plus, dtype=np.float64)
    )
    c_base = np.ones(n_patch) if contact is None else np.asarray(contact, dtype=np.float64)
    imp_mult = (
        np.ones(n_patch) if importation is None else np.asarray(importation, dtype=np.float64)
    )
    rng = np.random.default_rng(seed)

    # Scenario: which townships rebound.
    rebound_mask = np.zeros(n_patch, dtype=bool)
    chosen: list[int] = []
    if scenario == "rebound":
        if not grp:
            raise ValueError("the rebound scenario needs at least one mixing group (townships)")
        n_groups = int(grp[0].max()) + 1 if n_patch else 0
        if rebound_groups is None:
            lo, hi = prm.rebound_groups_n
            k = int(rng.integers(lo, hi + 1))
            k = min(k, n_groups)
            chosen = sorted(int(x) for x in rng.choice(n_groups, size=k, replace=False))
        else:
            chosen = sorted(int(x) for x in rebound_groups)
        rebound_mask = np.isin(grp[0], np.asarray(chosen, dtype=np.int64))

    # Migrants per patch.
    if migrants is not None:
        mig = np.asarray(migrants, dtype=np.int64)
        if mig.shape != (n_patch,):
            raise ValueError("migrants must have one value per patch")
    else:
        share = np.where(rebound_mask, prm.rebound_migrant_share, prm.migrant_share)
        mig = rng.binomial(pop, share).astype(np.int64)
    mig_sus = np.where(
        rebound_mask,
        prm.rebound_migrant_susceptible,
        1.0 - prm.migrant_infected - prm.migrant_immune,
    )
    mig_sus = np.clip(mig_sus, 0.0, 1.0 - prm.migrant_infected)

    # Arrival and departure schedules (P × days of the wave), drawn once.
    t_arr0 = _day_index(start, prm.arrival_start)
    t_fest = _day_index(start, prm.festival)
    n_arr = max(t_fest - t_arr0, 1)
    arrivals = rng.multinomial(mig, _ramp(n_arr, up=True)).astype(np.int64)  # (P, n_arr)
    t_dep0 = _day_index(start, prm.departure_start)
    n_dep = max(prm.departure_days, 1)
    departures = rng.multinomial(mig, _ramp(n_dep, up=False)).astype(np.int64)  # (P, n_dep)

    sev_pmf = delay_pmf(prm.severe_delay_mean, prm.severe_delay_sd)
    death_pmf = delay_pmf(prm.death_delay_mean, prm.death_delay_sd)
    horizon = days + max(sev_pmf.size, death_pmf.size) + 1
    sev_future = np.zeros((horizon, n_patch), dtype=np.int64)
    death_future = np.zeros((horizon, n_patch), dtype=np.int64)
    p_sev = np.clip(old * prm.p_severe_65plus + (1 - old) * prm.p_severe_under65, 0.0, 1.0)

    # State.
    S = rng.binomial(pop, prm.susceptible_share).astype(np.int64)
    E = np.zeros(n_patch, dtype=np.int64)
    I = np.zeros(n_patch, dtype=np.int64)
    R = pop - S

    beta = prm.r0 / prm.infectious_days
    p_onset = 1.0 - math.exp(-1.0 / prm.latent_days)
    p_recover = 1.0 - math.exp(-1.0 / prm.infectious_days)
    t_reb = _day_index(start, prm.rebound_start)
    t_imp = _day_index(start, prm.import_peak)

    out_inf = np.zeros((days, n_patch), dtype=np.int64)
    out_imp = np.zeros((days, n_patch), dtype=np.int64)
    out_sym = np.zeros((days, n_patch), dtype=np.int64)

    for t in range(days):
        # Migrants arrive (before the festival) or leave (after it).
        if t_arr0 <= t < t_arr0 + n_arr and t >= 0:
            a = arrivals[:, t - t_arr0]
            a_inf = rng.binomial(a, prm.migrant_infected).astype(np.int64)
            a_sus = rng.binomial(a - a_inf, mig_sus / (1.0 - prm.migrant_infected)).astype(np.int64)
            E += a_inf
            S += a_sus
            R += a - a_inf - a_sus
            out_imp[t] = a_inf
        if t_dep0 <= t < t_dep0 + n_dep and t >= 0:
            rs, re, ri, rr = _take(rng, departures[:, t - t_dep0], [S, E, I, R])
            S -= rs
            E -= re
            I -= ri
            R -= rr

        N = S + E + I + R
        n_safe = np.maximum(N, 1).astype(np.float64)
        prev = w_own * I / n_safe
        for g, w in zip(grp, weights, strict=False):
            i_g = np.bincount(g, weights=I.astype(np.float64))
            n_g = np.maximum(np.bincount(g, weights=N.astype(np.float64)), 1.0)
            prev = prev + w * (i_g / n_g)[g]
        c = c_base
        ext = prm.import_rate * math.exp(-0.5 * ((t - t_imp) / prm.import_sd_days) ** 2) * imp_mult
        if scenario == "rebound" and t >= t_reb:
            c = np.where(rebound_mask, c_base * prm.rebound_contact, c_base)
            ext = ext + np.where(rebound_mask, prm.rebound_import_rate, 0.0)
        lam = beta * c * prev + ext
        p_inf = 1.0 - np.exp(-lam)

        new_e = rng.binomial(S, p_inf).astype(np.int64)
        new_i = rng.binomial(E, p_onset).astype(np.int64)
        new_r = rng.binomial(I, p_recover).astype(np.int64)
        S -= new_e
        E += new_e - new_i
        I += new_i - new_r
        R += new_r

        sym = rng.binomial(new_i, prm.p_symptomatic).astype(np.int64)
        sev = rng.binomial(sym, p_sev).astype(np.int64)
        dead = rng.binomial(sev, prm.p_death_severe).astype(np.int64)
        sev_future[t : t + sev_pmf.size] += rng.multinomial(sev, sev_pmf).T
        death_future[t : t + death_pmf.size] += rng.multinomial(dead, death_pmf).T
        out_inf[t] = new_e
        out_sym[t] = sym

    dates = np.datetime64(start, "D") + np.arange(days)
    info: dict[str, Any] = {
        "name": scenario,
        "rebound_groups": chosen,
        "rebound_start": prm.rebound_start.isoformat() if scenario == "rebound" else None,
    }
    used = prm.to_dict()
    used["seed"] = seed
    used["start"] = start.isoformat()
    used["days"] = days
    return Simulation(
        dates=dates,
        infections=out_inf,
        imported=out_imp,
        symptomatic=out_sym,
        severe=sev_future[:days].copy(),
        deaths=death_future[:days].copy(),
        population=pop,
        migrants=mig,
        params=used,
        scenario=info,
    )
