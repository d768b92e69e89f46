"""Generated cases: a series, an R control list and the options to tabulate, per method family.

A case is a plain JSON-able dict:

* ``case_id``, ``family`` (the R algorithm: ``earsC``, ``rki``, ``cusum``, ``glrnb``,
  ``farrington``, ``farringtonFlexible``, ``estimate_R``), ``r_function`` (the R function
  called), ``kind`` (the series kind, see :mod:`bench.fidelity.series`);
* ``freq``, ``start`` (year, period of the first point), ``observed`` (``None`` for a missing
  value), ``population`` and (R_t) ``imported`` (lists or ``None``);
* ``control``: the control list given to R, with R's names; ``range`` is ``[first, last]``,
  1-based and inclusive (R ``first:last``); for ``estimate_R`` the ``config`` entries;
* ``options``: the settings the report tabulates (option name -> value as text).

The draws cover every documented option of every method, with the series kinds of
:data:`bench.fidelity.series.KINDS` and, now and then, a monitored range or window that starts
before the method has the history it needs (R refuses such cases; so should we).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.fidelity import memcases
from bench.fidelity.series import KINDS, epidemic_curve, make_series

FAMILIES: tuple[str, ...] = (
    "earsC",
    "rki",
    "cusum",
    "glrnb",
    "farrington",
    "farringtonFlexible",
    "estimate_R",
    "mem",
    "memevolution",
)

Case = dict[str, Any]


def _list(a: np.ndarray | None) -> list[float | None] | None:
    if a is None:
        return None
    return [None if np.isnan(v) else (int(v) if float(v).is_integer() else float(v)) for v in a]


def _pick(rng: np.random.Generator, values: list[Any]) -> Any:
    return values[int(rng.integers(len(values)))]


def _text(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, dict):
        return ",".join(f"{k}={_text(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "c(" + ",".join(_text(x) for x in v) + ")"
    return str(v)


def _case(
    rng: np.random.Generator,
    family: str,
    r_function: str,
    n: int,
    freq: int,
    control: dict[str, Any],
    option_keys: tuple[str, ...],
    kind: str | None = None,
    start: tuple[int, int] = (2000, 1),
) -> Case:
    kind = kind or _pick(rng, list(KINDS))
    s = make_series(rng, kind, n, freq)
    options = {k: _text(control.get(k)) for k in option_keys if k in control}
    options["series"] = kind
    return {
        "family": family,
        "r_function": r_function,
        "kind": kind,
        "freq": freq,
        "start": list(start),
        "observed": _list(s["observed"]),
        "population": _list(s["population"]),
        "imported": None,
        "control": control,
        "options": options,
    }


def _range(rng: np.random.Generator, n: int, first_ok: int, max_len: int) -> tuple[list[int], bool]:
    """A 1-based monitored range ending at n; now and then it starts too early (short)."""
    length = int(rng.integers(1, max_len + 1))
    first = max(first_ok, n - length + 1)
    short = bool(rng.random() < 0.05)
    if short:
        first = max(1, first_ok - int(rng.integers(1, 4)))
    return [first, n], short


# --------------------------------------------------------------------------------------------


def _ears(rng: np.random.Generator) -> Case:
    method = _pick(rng, ["C1", "C2", "C3"])
    baseline = int(_pick(rng, [3, 5, 7, 7, 7, 10, 14, 28]))
    need = {"C1": baseline + 1, "C2": baseline + 3, "C3": baseline + 5}[method]
    n = need + int(rng.integers(0, 60))
    rng_, _ = _range(rng, n, need, 40)
    control = {
        "range": rng_,
        "method": method,
        "baseline": baseline,
        "minSigma": _pick(rng, [0, 0, 0.5, 1]),
        "alpha": _pick(rng, [None, 0.001, 0.01, 0.05, 0.2]),
    }
    return _case(
        rng,
        "earsC",
        "earsC",
        n,
        _pick(rng, [365, 52]),
        control,
        ("method", "baseline", "minSigma", "alpha"),
    )


def _rki(rng: np.random.Generator) -> Case:
    variant = _pick(rng, ["rki1", "rki2", "rki3", "rki"])
    fixed = {"rki1": (0, 6, True), "rki2": (1, 6, True), "rki3": (2, 4, False)}
    if variant == "rki":
        b, w, act_y = int(rng.integers(0, 3)), int(rng.integers(1, 7)), bool(rng.random() < 0.5)
        if b == 0:
            act_y = True
    else:
        b, w, act_y = fixed[variant]
    freq = 52
    need = b * freq + w + 1 if b else w + 1
    n = need + int(rng.integers(0, 30))
    rng_, _ = _range(rng, n, need, 20)
    control: dict[str, Any] = {"range": rng_}
    if variant == "rki":
        control |= {"b": b, "w": w, "actY": act_y}
    case = _case(rng, "rki", f"algo.{variant}", n, freq, control, ("b", "w", "actY"))
    case["options"]["variant"] = variant
    return case


def _cusum(rng: np.random.Generator) -> Case:
    freq = _pick(rng, [52, 12])
    m = _pick(rng, [None, None, "glm"])
    trans = _pick(rng, ["standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin"])
    n = int(rng.integers(20, 160))
    first_ok = int(rng.integers(4, max(5, n - 1)))
    rng_, _ = _range(rng, n, first_ok, 60)
    control = {
        "range": rng_,
        "k": _pick(rng, [1.04, 0.5, 2.0]),
        "h": _pick(rng, [2.26, 1.0, 5.0]),
        "m": m,
        "trans": trans,
        "alpha": _pick(rng, [0.1, 0.5]) if trans == "pearsonNegBin" else None,
    }
    start = (int(rng.integers(1990, 2010)), int(rng.integers(1, freq + 1)))
    return _case(
        rng, "cusum", "algo.cusum", n, freq, control, ("m", "trans", "k", "h", "alpha"), start=start
    )


def _glrnb(rng: np.random.Generator) -> Case:
    freq = _pick(rng, [52, 12])
    n = int(rng.integers(30, 160))
    first_ok = int(rng.integers(max(8, n // 3), max(9, n - 1)))
    rng_, _ = _range(rng, n, first_ok, 50)
    alpha = _pick(rng, [None, None, 0, 0, 0.2])
    theta = _pick(rng, [None, None, None, 0.2, 0.4, 0.7, 1.0])
    mu0 = _pick(
        rng,
        [
            None,
            None,
            {"S": 1, "trend": True, "refit": False},
            {"S": 2, "trend": False, "refit": False},
            {"S": 2, "trend": True, "refit": False},
        ],
    )
    control = {
        "range": rng_,
        "c.ARL": _pick(rng, [5, 5, 2, 10]),
        "Mtilde": 1,
        "M": _pick(rng, [-1, -1, 4, 20, 52]),
        "change": "intercept",
        "dir": "inc" if theta is not None else _pick(rng, ["inc", "inc", "dec"]),
        "xMax": 10000,
        "mu0": mu0,
        "alpha": alpha,
        "theta": theta,
        "ret": _pick(rng, ["value", "value", "cases"]),
    }
    if control["dir"] == "dec" and control["ret"] == "cases" and rng.random() < 0.8:
        control["ret"] = "value"  # R searches every count up to xMax here: slow

    return _case(
        rng,
        "glrnb",
        "algo.glrnb",
        n,
        freq,
        control,
        ("c.ARL", "M", "dir", "mu0", "alpha", "theta", "ret"),
    )


def _farrington_common(rng: np.random.Generator) -> tuple[int, int, int, int, list[int], bool]:
    freq = _pick(rng, [52, 52, 12])
    b = int(_pick(rng, [1, 2, 3, 3, 3, 4, 5]))
    w = int(rng.integers(0, 5 if freq == 52 else 3))
    need = b * freq + w + 1
    n = need + int(rng.integers(0, 12))
    rng_, short = _range(rng, n, need, 6)
    return freq, b, w, n, rng_, short


def _farrington(rng: np.random.Generator) -> Case:
    freq, b, w, n, rng_, _ = _farrington_common(rng)
    control = {
        "range": rng_,
        "b": b,
        "w": w,
        "reweight": bool(rng.random() < 0.7),
        "verbose": False,
        "alpha": _pick(rng, [0.05, 0.05, 0.01, 0.1]),
        "trend": bool(rng.random() < 0.7),
        "limit54": _pick(rng, [[5, 4], [5, 4], [0, 4], [3, 2], [1, 1]]),
        "powertrans": _pick(rng, ["2/3", "2/3", "1/2", "none"]),
        "fitFun": "algo.farrington.fitGLM.fast",
        "plot": False,
    }
    return _case(
        rng,
        "farrington",
        "algo.farrington",
        n,
        freq,
        control,
        ("b", "w", "reweight", "alpha", "trend", "limit54", "powertrans"),
    )


def _flexible(rng: np.random.Generator) -> Case:
    freq, b, w, n, rng_, _ = _farrington_common(rng)
    no_periods = int(_pick(rng, [1, 1, 2, 3, 5, 10, 12]))
    kind = _pick(rng, list(KINDS))
    control = {
        "range": rng_,
        "b": b,
        "w": w,
        "reweight": bool(rng.random() < 0.7),
        "weightsThreshold": _pick(rng, [1, 2.58, 2.58, 5]),
        "trend": bool(rng.random() < 0.7),
        "pThresholdTrend": _pick(rng, [0.05, 0.05, 0.1]),
        "alpha": _pick(rng, [0.05, 0.05, 0.01, 0.1]),
        "limit54": _pick(rng, [[5, 4], [5, 4], [0, 4], [3, 2], [1, 1]]),
        "powertrans": _pick(rng, ["2/3", "1/2", "none"]),
        "populationOffset": False,
        "noPeriods": no_periods,
        "pastWeeksNotIncluded": _pick(rng, [None, 0, 1, 3, w, 10, 26][: 7 if freq == 52 else 6]),
        "thresholdMethod": _pick(rng, ["delta", "nbPlugin", "muan"]),
        "glmWarnings": False,
        "verbose": False,
        "fitFun": "algo.farrington.fitGLM.flexible",
    }
    case = _case(
        rng,
        "farringtonFlexible",
        "farringtonFlexible",
        n,
        freq,
        control,
        (
            "b",
            "w",
            "reweight",
            "weightsThreshold",
            "trend",
            "pThresholdTrend",
            "alpha",
            "limit54",
            "powertrans",
            "populationOffset",
            "noPeriods",
            "pastWeeksNotIncluded",
            "thresholdMethod",
        ),
        kind=kind,
    )
    if case["population"] is not None and rng.random() < 0.6:
        case["control"]["populationOffset"] = True
        case["options"]["populationOffset"] = "TRUE"
    return case


def _windows(rng: np.random.Generator, n: int) -> tuple[list[int] | None, list[int] | None, str]:
    style = _pick(rng, ["default", "default", "weekly", "biweekly", "random", "single"])
    if style == "default":
        return None, None, style
    if style in ("weekly", "biweekly"):
        step = 7 if style == "weekly" else 14
        ts = list(range(2, n - step + 2))
        return ts, [t + step - 1 for t in ts], style
    if style == "single":
        return [2], [n], style
    k = int(rng.integers(1, 8))
    ts = [int(x) for x in rng.integers(2, max(n, 3), k)]
    te = [min(n, t + int(rng.integers(0, 14))) for t in ts]
    return ts, te, style


def _estimate_r(rng: np.random.Generator) -> Case:
    n = int(_pick(rng, [8, 10, 14, 14, 20, 30, 45, 60, 80]))
    if rng.random() < 0.03:
        n = int(rng.integers(2, 8))  # too short for the default windows
    kind = _pick(rng, list(KINDS))
    s = epidemic_curve(rng, kind, n)
    method = _pick(rng, ["parametric_si", "parametric_si", "non_parametric_si"])
    ts, te, style = _windows(rng, n)
    config: dict[str, Any] = {"method": method, "t_start": ts, "t_end": te}
    if method == "parametric_si":
        config["mean_si"] = float(np.round(rng.uniform(1.2, 9.0), 2))
        config["std_si"] = float(np.round(rng.uniform(0.4, 5.0), 2))
    else:
        length = int(rng.integers(3, 16))
        p = rng.gamma(2.0, 1.0, length)
        p[0] = 0.0
        p = p / p.sum()
        config["si_distr"] = [float(x) for x in p]
    prior = _pick(rng, [(5.0, 5.0), (5.0, 5.0), (1.0, 1.0), (2.6, 2.0), (10.0, 20.0), (0.5, 0.1)])
    config["mean_prior"], config["std_prior"] = prior
    options = {
        "method": method,
        "windows": style,
        "prior": f"{prior[0]}/{prior[1]}",
        "imported": "yes" if s["imported"] is not None else "no",
        "series": kind,
    }
    if method == "parametric_si":
        options["mean_si"] = "<=2" if config["mean_si"] <= 2 else ">2"
    return {
        "family": "estimate_R",
        "r_function": "estimate_R",
        "kind": kind,
        "freq": 365,
        "start": [2000, 1],
        "observed": _list(s["observed"]),
        "population": None,
        "imported": _list(s["imported"]),
        "control": config,
        "options": options,
    }


_MAKERS: dict[str, Callable[[np.random.Generator], Case]] = {
    "earsC": _ears,
    "rki": _rki,
    "cusum": _cusum,
    "glrnb": _glrnb,
    "farrington": _farrington,
    "farringtonFlexible": _flexible,
    "estimate_R": _estimate_r,
    "mem": memcases.generate_case,
    "memevolution": memcases.generate_evolution_case,
}


def generate(family: str, seed: int, count: int) -> list[Case]:
    """``count`` cases of ``family`` from ``seed`` (the same seed gives the same cases)."""
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    out = []
    for i in range(count):
        case = _MAKERS[family](rng)
        case["case_id"] = f"{family}-{seed}-{i:04d}"
        out.append(case)
    return out
