"""MEM (``mem::memmodel``) in the fidelity harness: generated seasons, R's call, our side, the
comparison.

R's ``mem`` is not in Debian: ``make fidelity`` finds it through :func:`mem_lib` (the R library
named by ``RURALWATCH_R_MEM_LIB``, else ``var/r-lib`` in the repository; see
``bench/fidelity/install_r_mem.sh``) and says so when it is absent (the family is then not run
and the report names it as not run).

A case holds ``data`` (one list per season, oldest first, ``None`` = missing), ``labels`` (the
row names given to R: ISO weeks of a season starting at week 40, or months 1..12) and
``control`` (memmodel's arguments with R's names). Outputs are named as in
``../shared/oracles/mem`` (summary names, ``epi_*`` per season, ``typ_*`` typical curve,
``moving_<j>``), each column padded with NA to one length so that R writes one table.
"""

from __future__ import annotations

import math
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ruralwatch.epi.assess.mem import MEMMODEL_DEFAULTS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PRELUDE = HERE / "run_mem.R"
ENV_VAR = "RURALWATCH_R_MEM_LIB"
DEFAULT_LIB = REPO / "var" / "r-lib"

FAMILIES: tuple[str, ...] = ("mem", "memevolution")  # the fidelity families run on R's mem
KINDS: tuple[str, ...] = (
    "weekly_rates",  # 33 weeks (40..20) of rates per 100,000, one clear epidemic a season
    "weekly_counts",  # integer counts
    "weekly_52",  # a whole year of weeks
    "monthly",  # 12 months of counts (July..June): whole-season epidemics, R errors
    "short",  # 8-16 periods
    "sparse",  # a handful of cases a season
    "zero_season",  # one or more seasons without cases (dropped)
    "na_gaps",  # missing values inside, at the start or at the end of seasons
    "flat",  # no epidemic: noise around a constant
    "double_peak",  # two waves in a season
    "edge",  # epidemics at the very start or end of the season
    "huge",  # 1e4-1e7
)

# Summary values compared: integers exactly (floor/ceiling of an integer limit: +-1), the rest
# relative 1e-9 (1e-5 when missing values were filled, see _tol).
SCALARS: tuple[str, ...] = (
    "n_max",
    "n_seasons",
    "n_periods",
    "pre_threshold",
    "pre_lower",
    "pre_center",
    "post_threshold",
    "post_lower",
    "post_center",
    "n_pre_values",
    "n_post_values",
    "n_epi_values",
    "n_epi_full_values",
    "medium_lower",
    "medium_center",
    "medium_threshold",
    "high_lower",
    "high_center",
    "high_threshold",
    "veryhigh_lower",
    "veryhigh_center",
    "veryhigh_threshold",
    "full_medium_lower",
    "full_medium_center",
    "full_medium_threshold",
    "full_high_lower",
    "full_high_center",
    "full_high_threshold",
    "full_veryhigh_lower",
    "full_veryhigh_center",
    "full_veryhigh_threshold",
    "length_lower",
    "length_center",
    "length_upper",
    "length_lower_int",
    "length_center_int",
    "length_upper_int",
    "percent_lower",
    "percent_center",
    "percent_upper",
    "start_lower",
    "start_center",
    "start_upper",
    "start_lower_int",
    "start_center_int",
    "start_upper_int",
    "start_lower_label",
    "start_center_label",
    "start_upper_label",
    "mean_length",
    "mean_start",
    "centered_length",
    "centered_start",
)
INTEGERS = frozenset(
    {
        "n_max",
        "n_seasons",
        "n_periods",
        "n_pre_values",
        "n_post_values",
        "n_epi_values",
        "n_epi_full_values",
        "mean_length",
        "mean_start",
        "centered_length",
        "centered_start",
        "epi_length",
        "epi_start",
        "epi_end",
    }
)
# floor/ceiling/round of a limit: exact, or +-1 where the limit is an integer up to rounding
KNIFE = {
    k: k.removesuffix("_int").removesuffix("_label")
    for k in SCALARS
    if k.endswith(("_int", "_label"))
}
PER_SEASON = ("epi_length", "epi_start", "epi_end", "epi_percent")
CURVE = ("typ_lower", "typ_center", "typ_upper")

# memmodel's defaults (R names), and the draws per option (the default weighted up).
DEFAULTS: dict[str, Any] = {
    k: list(v) if isinstance(v, tuple) else v for k, v in MEMMODEL_DEFAULTS.items()
}
_TYPES = [1, 2, 3, 5, 6]  # 4 (bootstrap) is not implemented by ours (docs/methods/mem.md)
_DRAWS: dict[str, list[Any]] = {
    "i.seasons": [None, 3, 5, 8, 15],
    "i.type.threshold": _TYPES,
    "i.level.threshold": [0.90, 0.99, 0.5],
    "i.tails.threshold": [2],
    "i.type.intensity": _TYPES,
    "i.level.intensity": [[0.5, 0.95, 0.99], [0.3, 0.6, 0.8]],
    "i.tails.intensity": [2],
    "i.type.curve": _TYPES,
    "i.level.curve": [0.90, 0.99],
    "i.type.other": _TYPES,
    "i.level.other": [0.90, 0.80],
    "i.method": [1, 3, 4],
    "i.param": [1.5, 2.0, 4.0, 10.0],
    "i.centering": [3, 5, 8],
    "i.n.max": [0, 1, 5, 10],
    "i.use.t": [True],
}


def _pick(rng: np.random.Generator, values: list[Any]) -> Any:
    return values[int(rng.integers(len(values)))]


def _text(v: Any) -> str:
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, list):
        return "c(" + ",".join(f"{x:g}" for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _season(rng: np.random.Generator, n: int, kind: str, counts: bool, scale: float) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    base = scale * rng.uniform(0.02, 0.15)
    peak_h = scale * rng.uniform(0.3, 1.5)
    if kind == "edge":
        centre = _pick(rng, [rng.uniform(-1, 2), rng.uniform(n - 3, n)])
    else:
        centre = rng.uniform(0.25 * n, 0.75 * n)
    width = rng.uniform(0.04, 0.15) * n + 0.6
    mu = base + peak_h * np.exp(-0.5 * ((t - centre) / width) ** 2)
    if kind == "double_peak":
        c2 = rng.uniform(0.1 * n, 0.9 * n)
        mu += rng.uniform(0.3, 1.0) * peak_h * np.exp(-0.5 * ((t - c2) / width) ** 2)
    if kind == "flat":
        mu = np.full(n, scale * rng.uniform(0.05, 0.5))
    if kind == "sparse":
        mu = mu / scale * rng.uniform(0.3, 3.0)
    if counts or kind == "sparse":
        od = float(_pick(rng, [0.0, 0.05, 0.2]))
        if od == 0:
            y = rng.poisson(mu).astype(np.float64)
        else:
            size = 1.0 / od
            y = rng.negative_binomial(size, size / (size + mu)).astype(np.float64)
    else:
        y = mu * np.exp(rng.normal(0.0, 0.15, n))
        y = np.round(y, 2)
    return y


def make_data(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, list[int]]:
    """(periods x seasons) matrix and the row labels."""
    if kind == "monthly":
        n = 12
    elif kind == "weekly_52":
        n = 52
    elif kind == "short":
        n = int(rng.integers(8, 17))
    else:
        n = int(_pick(rng, [33, 33, 30, 26]))
    n_seasons = int(_pick(rng, [2, 3, 4, 5, 6, 8, 8, 10, 10, 12, 16]))
    counts = kind in ("weekly_counts", "monthly", "sparse", "zero_season") or bool(
        rng.random() < 0.3
    )
    scale = {"huge": float(10 ** rng.uniform(4, 7)), "monthly": float(10 ** rng.uniform(2, 5))}.get(
        kind, float(10 ** rng.uniform(1, 2.7))
    )
    data = np.column_stack([_season(rng, n, kind, counts, scale) for _ in range(n_seasons)])
    if kind == "zero_season":
        for j in rng.choice(
            n_seasons, size=int(rng.integers(1, max(2, n_seasons // 2))), replace=False
        ):
            data[:, j] = 0.0
    if kind == "na_gaps":
        for _ in range(int(rng.integers(1, 5))):
            j = int(rng.integers(n_seasons))
            where = _pick(rng, ["inner", "inner", "lead", "trail"])
            k = int(rng.integers(1, 4))
            if where == "lead":
                data[:k, j] = np.nan
            elif where == "trail":
                data[n - k :, j] = np.nan
            else:
                i = int(rng.integers(1, max(2, n - k - 1)))
                data[i : i + k, j] = np.nan
    labels = list(range(1, 13)) if n == 12 else [(39 + i) % 52 + 1 for i in range(n)]
    # R's memmodel takes a first column of whole numbers in 1..53 as week names (README of the
    # mem oracles); a 0 keeps it a season, as ours always treats it.
    first = data[:, 0][np.isfinite(data[:, 0])]
    if first.size and np.all((first == np.round(first)) & (first >= 1) & (first <= 53)):
        i = int(np.flatnonzero(np.isfinite(data[:, 0]))[0])
        data[i, 0] = 0.0
    return data, labels


def generate_case(rng: np.random.Generator) -> dict[str, Any]:
    kind = _pick(rng, list(KINDS))
    data, labels = make_data(rng, kind)
    control = dict(DEFAULTS)
    options: dict[str, str] = {}
    # Each option keeps its default with probability 1/2, else takes one of its other values.
    for key, values in _DRAWS.items():
        if rng.random() < 0.5:
            control[key] = _pick(rng, values)
    if control["i.method"] != 2:
        control["i.param"] = DEFAULTS["i.param"]  # the slope criterion's delta: method 2 only
    for key in _DRAWS:
        if key == "i.param" and control["i.method"] != 2:
            continue
        options[key] = _text(control[key])
    options["series"] = kind
    n_seasons = data.shape[1]
    return {
        "family": "mem",
        "r_function": "memmodel",
        "kind": kind,
        "freq": 12 if data.shape[0] == 12 else 52,
        "start": [2000, labels[0]],
        "data": [
            [None if math.isnan(x) else float(x) for x in data[:, j]] for j in range(n_seasons)
        ],
        "season_names": [f"{2000 + j}/{2001 + j}" for j in range(n_seasons)],
        "labels": labels,
        # the flattened seasons: what the generic code sorts and checks for missing values
        "observed": [None if math.isnan(x) else float(x) for x in data.T.ravel()],
        "population": None,
        "imported": None,
        "control": control,
        "options": options,
    }


EVOLUTION_COLUMNS: tuple[str, ...] = (
    "number",
    "durationll",
    "duration",
    "durationul",
    "startll",
    "start",
    "startul",
    "percentagell",
    "percentage",
    "percentageul",
    "epidemic",
    "postepidemic",
    "medium",
    "high",
    "veryhigh",
)
# memevolution's integers: the number of seasons and the starts (floor/round/ceiling of the
# start interval, whose limits it does not return: compared exactly)
EVOLUTION_INTEGERS = frozenset({"number", "startll", "start", "startul"})


def generate_evolution_case(rng: np.random.Generator) -> dict[str, Any]:
    """A ``memevolution`` case (its own family, so that the memmodel seeds stay as they were):
    ``i.evolution.seasons`` and ``i.evolution.method`` over the memmodel draws (less
    ``i.seasons``, which memevolution sets)."""
    case = generate_case(rng)
    # Every season can become a sub-model's first column, which memmodel takes as week names
    # when it holds whole numbers in 1..53 only (see make_data): a 0 keeps each a season.
    for col in case["data"]:
        vals = [x for x in col if x is not None]
        if vals and all(float(x).is_integer() and 1 <= x <= 53 for x in vals):
            col[next(i for i, x in enumerate(col) if x is not None)] = 0.0
    case["observed"] = [x for col in case["data"] for x in col]
    ctl = {k: v for k, v in case["control"].items() if k != "i.seasons"}
    ctl["i.evolution.seasons"] = int(_pick(rng, [10, 10, 3, 5, 8]))
    ctl["i.evolution.method"] = _pick(rng, ["sequential", "cross"])
    case["control"] = ctl
    case["family"] = "memevolution"
    case["r_function"] = "memevolution"
    case["options"].pop("i.seasons", None)
    case["options"]["i.evolution.seasons"] = str(ctl["i.evolution.seasons"])
    case["options"]["i.evolution.method"] = ctl["i.evolution.method"]
    return case


# ------------------------------------------------------------------------------- R's side


def mem_lib() -> Path | None:
    """The R library with ``mem`` (``$RURALWATCH_R_MEM_LIB``, else ``var/r-lib``), or None."""
    env = os.environ.get(ENV_VAR)
    for cand in ([Path(env)] if env else []) + [DEFAULT_LIB]:
        if (cand / "mem" / "DESCRIPTION").exists():
            return cand
    return None


@cache
def mem_status() -> tuple[bool, str]:
    """(available, what): whether ``Rscript`` can load mem, with its version or the reason."""
    lib = mem_lib()
    if lib is None:
        where = os.environ.get(ENV_VAR) or str(DEFAULT_LIB)
        return False, (
            f"R package mem not found (looked in ${ENV_VAR}={where!s} and {DEFAULT_LIB}); "
            "install it with bench/fidelity/install_r_mem.sh (docs/validation.md)"
        )
    code = (
        f'.libPaths(c("{lib}", .libPaths())); suppressPackageStartupMessages(library(mem)); '
        'cat(as.character(packageVersion("mem")), as.character(packageVersion("EnvStats")))'
    )
    try:
        out = subprocess.run(
            ["Rscript", "--vanilla", "-e", code],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TZ": "UTC"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"Rscript could not load mem from {lib}: {exc}"
    if out.returncode != 0:
        return False, f"Rscript could not load mem from {lib}: {out.stderr.strip()[-300:]}"
    mem_v, env_v = out.stdout.split()
    return True, f"mem {mem_v} (EnvStats {env_v}) from {lib}"


def r_prelude() -> list[str]:
    lib = mem_lib()
    return [
        f'.libPaths(c("{lib}", .libPaths()))',
        f'source("{PRELUDE}")',
    ]


def r_call(case: dict[str, Any], lit: Any) -> str:
    cols = "list(" + ", ".join(lit(c) for c in case["data"]) + ")"
    args = "list(" + ", ".join(f"{k} = {lit(v)}" for k, v in case["control"].items()) + ")"
    return f"f_{case['r_function']}({cols}, {lit(case['labels'])}, {args})"


# -------------------------------------------------------------------------------- our side


def _evolution_ours(case: dict[str, Any], data: np.ndarray) -> dict[str, list[float]]:
    from ruralwatch.epi.assess.mem import memevolution

    ctl = dict(case["control"])
    models, rows, flags = memevolution(
        data,
        case["season_names"],
        evolution_seasons=int(ctl.pop("i.evolution.seasons")),
        evolution_method=str(ctl.pop("i.evolution.method")),
        **ctl,
    )
    length = max(len(models), data.shape[1])
    pad = [math.nan] * length
    cols: dict[str, list[float]] = {"t": [float(i + 1) for i in range(length)]}
    for k in EVOLUTION_COLUMNS:
        cols[k] = [float(row[k]) for row in rows] + pad[len(rows) :]
    for j in range(data.shape[1]):
        cols[f"used_{j + 1}"] = [float(f[j]) for f in flags] + pad[len(flags) :]
    return cols


def run_ours(case: dict[str, Any]) -> dict[str, list[float]]:
    from ruralwatch.epi.assess.mem import memmodel

    data = np.array([[math.nan if x is None else float(x) for x in col] for col in case["data"]]).T
    if case["r_function"] == "memevolution":
        return _evolution_ours(case, data)
    m = memmodel(data, case["season_names"], start_label=int(case["labels"][0]), **case["control"])
    n_periods, n_seasons = data.shape
    length = max(n_periods, n_seasons)
    pad = [math.nan] * length

    def padded(values: list[float]) -> list[float]:
        return [float(x) for x in values] + pad[len(values) :]

    cols: dict[str, list[float]] = {"t": [float(i + 1) for i in range(length)]}
    for k in SCALARS:
        cols[k] = padded([m.summary[k]])
    cols["epi_length"] = padded([t.length for t in m.timings])
    cols["epi_start"] = padded([t.start for t in m.timings])
    cols["epi_end"] = padded([t.end for t in m.timings])
    cols["epi_percent"] = padded([t.percent for t in m.timings])
    for i, k in enumerate(CURVE):
        cols[k] = padded(list(m.curve[:, i]))
    for j in range(m.moving.shape[1]):
        cols[f"moving_{j + 1}"] = padded(list(m.moving[:, j]))
    return cols


# ------------------------------------------------------------------------------ comparison


def filled(case: dict[str, Any]) -> bool:
    """Missing values inside a season (filled by the kernel smoother: R's bandwidth search and
    ours stop at slightly different points, README of the mem oracles: ~1e-5)."""
    for col in case["data"]:
        obs = [i for i, x in enumerate(col) if x is not None]
        if obs and any(col[i] is None for i in range(obs[0], obs[-1] + 1)):
            return True
    return False


def tolerances(case: dict[str, Any], columns: list[str]) -> dict[str, tuple[float, float]]:
    cont = (1e-5, 1e-8) if filled(case) else (1e-9, 1e-12)
    out: dict[str, tuple[float, float]] = {}
    for c in columns:
        if c == "t":
            continue
        exact = c in INTEGERS or c in KNIFE or c in EVOLUTION_INTEGERS or c.startswith("used_")
        out[c] = (0.0, 0.0) if exact else cont
    return out
