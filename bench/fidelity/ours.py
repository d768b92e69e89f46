"""Run one generated case through RuralWatch in-process, with R's control list.

Detection cases go through the R-name mapping :func:`ruralwatch.epi.detect.rnames.r_call`
(the code behind ``ruralwatch detect --r-function``), so the harness checks that mapping too;
R_t cases call :func:`~ruralwatch.epi.assess.rt.estimate_rt` with the serial interval built as
``ruralwatch rt --format oracle`` builds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.fidelity import memcases
from ruralwatch.epi.assess.rt import discrete_si, estimate_rt
from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.detect.rnames import r_call
from ruralwatch.epi.panel import Panel

Columns = dict[str, list[float]]

# Error types that are a clear refusal of bad input (a message, no traceback).
CLEAR_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError)


def _arr(values: list[float | None] | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def panel_of(case: dict[str, Any]) -> Panel:
    return Panel.single(
        _arr(case["observed"]),  # type: ignore[arg-type]
        unit="s",
        freq=case["freq"],
        population=_arr(case["population"]),
        start=(int(case["start"][0]), int(case["start"][1])),
    )


def _detect(case: dict[str, Any]) -> DetectionResult:
    ctl = dict(case["control"])
    first, last = ctl["range"]
    ctl["range"] = {"first": int(first), "last": int(last)}
    call = r_call(case["r_function"], ctl)
    return call.detector(panel_of(case), **call.params, monitor=call.monitor)


def _col(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def detection_columns(case: dict[str, Any], res: DetectionResult) -> Columns:
    fam = case["family"]
    cols: Columns = {
        "t": _col(res.index + 1),
        "observed": _col(res.observed[:, 0]),
        "upperbound": _col(res.upperbound[:, 0]),
        "alarm": _col(res.alarm[:, 0]),
    }
    n = len(res.index)
    if fam == "cusum":
        cols["cusum"] = _col(res.extra["cusum"][:, 0])
        cols["m"] = _col(res.extra["m"][:, 0])
        cols["score"] = _col(res.score[:, 0])
    elif fam == "glrnb":
        cols["mu0"] = _col(res.extra["mu0"][:, 0])
        cols["alpha"] = [float(res.scalars["alpha"][0])] * n
        cols["score"] = _col(res.score[:, 0])
    elif fam == "farrington":
        for k in ("trend", "q", "median_threshold"):
            cols[k] = _col(res.extra[k][:, 0])
    elif fam == "farringtonFlexible":
        cols["expected"] = _col(res.expected[:, 0])
        cols["score"] = _col(res.score[:, 0])
        for k in ("pvalue", "mu0", "phi", "trend", "trend_coef"):
            cols[k] = _col(res.extra[k][:, 0])
    return cols


_RT_COLUMNS = {
    "q0.025": 0.025,
    "q0.05": 0.05,
    "q0.25": 0.25,
    "median": 0.5,
    "q0.75": 0.75,
    "q0.95": 0.95,
    "q0.975": 0.975,
}


def _rt(case: dict[str, Any]) -> Columns:
    cfg = case["control"]
    inc = _arr(case["observed"])
    assert inc is not None
    n = inc.size
    if cfg["method"] == "parametric_si":
        si = discrete_si(np.arange(n), float(cfg["mean_si"]), float(cfg["std_si"]))
    else:
        si = np.asarray(cfg["si_distr"], dtype=np.float64)
    ts = None if cfg.get("t_start") is None else np.asarray(cfg["t_start"], dtype=np.int64)
    te = None if cfg.get("t_end") is None else np.asarray(cfg["t_end"], dtype=np.int64)
    res = estimate_rt(
        inc,
        si,
        ts,
        te,
        mean_prior=float(cfg["mean_prior"]),
        std_prior=float(cfg["std_prior"]),
        imported=_arr(case["imported"]),
        # EpiEstim estimates with a parametric SI whatever its sum (with a warning); a given SI
        # must sum to 1 within 0.01 (docs/methods/rt-cori.md).
        si_sum="warn" if cfg["method"] == "parametric_si" else "error",
    )
    cols: Columns = {
        "t_start": _col(res.t_start),
        "t_end": _col(res.t_end),
        "mean": _col(res.mean[:, 0]),
        "std": _col(res.std[:, 0]),
    }
    for name, q in _RT_COLUMNS.items():
        cols[name] = _col(res.quantile(q)[:, 0])
    return cols


def run_ours(case: dict[str, Any]) -> Columns:
    """Our outputs for the case, named as in R's output; raises what our code raises."""
    if case["family"] == "estimate_R":
        return _rt(case)
    if case["family"] in memcases.FAMILIES:
        return memcases.run_ours(case)
    return detection_columns(case, _detect(case))
