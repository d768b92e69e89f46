"""R ``surveillance`` function names and control lists, translated to our detectors.

R users call both the old ``disProg`` functions (``algo.cusum``, ``algo.glrnb``,
``algo.farrington``, ``algo.rki1`` … ``algo.rki3``, ``algo.rki``, ``algo.glrpois``) and the
``sts`` functions (``cusum``, ``glrnb``, ``farrington``, ``rki``, ``glrpois``, ``earsC``,
``farringtonFlexible``).
This module is the one place that knows those spellings: :func:`r_call` turns an R function
name and its control list into a registered detector, its keyword arguments in our names, the
monitored rows and the columns R's output has. The command line and the tests use it.

The RKI variant comes from the name (``algo.rki1`` is ``b = 0, w = 6, actY = TRUE``); ``rki`` /
``algo.rki`` take ``b``, ``w`` and ``actY`` from the control list with R's defaults
(``b = 2, w = 4, actY = FALSE``, the settings of ``algo.rki3``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect import METHODS, Registered
from ruralwatch.epi.detect.base import Detector
from ruralwatch.epi.detect.rki import RKI_SETTINGS, rki

__all__ = ["R_COLUMNS", "R_FUNCTIONS", "RCall", "control_names", "r_call"]

# R function name -> the family it belongs to. The disProg (``algo.*``) and sts spellings of
# one method take the same control list and give the same numbers.
R_FUNCTIONS: dict[str, str] = {
    "earsC": "earsC",
    "farringtonFlexible": "farringtonFlexible",
    "farrington": "farrington",
    "algo.farrington": "farrington",
    "cusum": "cusum",
    "algo.cusum": "cusum",
    "glrnb": "glrnb",
    "algo.glrnb": "glrnb",
    "glrpois": "glrpois",
    "algo.glrpois": "glrpois",
    "rki": "rki",
    "algo.rki": "rki",
    "algo.rki1": "rki",
    "algo.rki2": "rki",
    "algo.rki3": "rki",
}

# Family -> the columns R's output has after t, observed, upperbound, alarm (as the oracle
# files write them).
R_COLUMNS: dict[str, tuple[str, ...]] = {
    "earsC": (),
    "farrington": ("trend", "q", "median_threshold"),
    "farringtonFlexible": ("expected", "score", "pvalue", "mu0", "phi", "trend", "trend_coef"),
    "cusum": ("cusum", "m"),
    "glrnb": ("mu0",),
    "glrpois": ("mu0",),
    "rki": (),
}

# Control entries that only steer R's printing, plotting or fitting internals.
_IGNORED = frozenset({"range", "verbose", "glmWarnings", "fitFun", "plot"})

_FLEX_NAMES = {
    "b": "b",
    "w": "w",
    "reweight": "reweight",
    "weightsThreshold": "weights_threshold",
    "trend": "trend",
    "pThresholdTrend": "p_threshold_trend",
    "alpha": "alpha",
    "limit54": "limit54",
    "powertrans": "power_trans",
    "populationOffset": "population_offset",
    "noPeriods": "no_periods",
    "pastWeeksNotIncluded": "past_weeks_not_included",
    "thresholdMethod": "threshold_method",
}
_CLASSIC_NAMES = {
    "b": "b",
    "w": "w",
    "reweight": "reweight",
    "alpha": "alpha",
    "trend": "trend",
    "limit54": "limit54",
    "powertrans": "power_trans",
}
_EARS_NAMES = {"method", "alpha", "baseline", "minSigma"}
_CUSUM_NAMES = {"k", "h", "m", "trans", "alpha"}
_GLR_NAMES = {"c.ARL", "Mtilde", "M", "change", "dir", "ret", "theta", "xMax", "mu0", "alpha"}
_RKI_NAMES = {"b", "w", "actY"}


def control_names(family: str) -> frozenset[str]:
    """The R control entries a family takes (besides ``range`` and R's printing switches).

    An entry another family takes is refused too: R ignores, for instance, ``thresholdMethod``
    in an ``algo.farrington`` control list without a word, so a user who moves a
    farringtonFlexible list over would believe a setting in force that is not.
    """
    names: dict[str, set[str] | dict[str, str]] = {
        "earsC": _EARS_NAMES,
        "farrington": _CLASSIC_NAMES,
        "farringtonFlexible": _FLEX_NAMES,
        "cusum": _CUSUM_NAMES,
        "glrnb": _GLR_NAMES,
        "glrpois": _GLR_NAMES,
        "rki": _RKI_NAMES,
    }
    if family not in names:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(sorted(names))}")
    return frozenset(names[family])


# ``rki`` / ``algo.rki`` with settings other than the three named variants.
_RKI_GENERAL = Registered("rki", rki)


@dataclass(frozen=True)
class RCall:
    """What an R call becomes here: ``detector(panel, **params, monitor=monitor)``.

    Attributes:
        r_function: the R name as given.
        family: the method family (a key of :data:`R_COLUMNS`).
        method: our registry name (``rki`` for RKI settings that are none of rki1–rki3).
        params: keyword arguments in our names.
        monitor: 0-based monitored rows from the control's ``range``, or ``None``.
        columns: R's output columns after ``t, observed, upperbound, alarm``.
    """

    r_function: str
    family: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    monitor: npt.NDArray[np.int64] | None = None
    columns: tuple[str, ...] = ()

    @property
    def detector(self) -> Detector:
        if self.method == _RKI_GENERAL.name:
            return _RKI_GENERAL
        return METHODS[self.method]


def _check_names(r_function: str, control: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(control) - allowed - _IGNORED)
    if unknown:
        raise ValueError(
            f"{r_function}: unknown control entr{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(unknown)}; known: {', '.join(sorted(allowed | {'range'}))}"
        )


def _range(r_function: str, spec: Any) -> npt.NDArray[np.int64] | None:
    """R's 1-based ``range`` (``{first, last}`` or a list of indices) as 0-based rows."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        try:
            first, last = int(spec["first"]), int(spec["last"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{r_function}: range must have integer first and last") from None
        return np.arange(first - 1, last, dtype=np.int64)
    try:
        rows = np.asarray(spec, dtype=np.int64).ravel() - 1
    except (TypeError, ValueError):
        raise ValueError(f"{r_function}: range must be a list of 1-based indices") from None
    return rows


def _rki(r_function: str, c: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if r_function.startswith("algo.rki") and r_function[-1].isdigit():
        variant = int(r_function[-1])
        given = {k: c[k] for k in ("b", "w", "actY") if k in c}
        fixed = RKI_SETTINGS[variant]
        named = {"b": fixed["b"], "w": fixed["w"], "actY": fixed["act_y"]}
        clash = sorted(k for k, v in given.items() if v != named[k])
        if clash:
            # algo.rki1..3 overwrite b, w and actY with their own values.
            raise ValueError(
                f"{r_function} fixes b = {named['b']}, w = {named['w']}, "
                f"actY = {str(named['actY']).upper()}; do not set {', '.join(clash)}"
            )
        return f"rki{variant}", {}
    settings = {
        "b": int(c.get("b", 2)),
        "w": int(c.get("w", 4)),
        "act_y": bool(c.get("actY", False)),
    }
    for k, v in RKI_SETTINGS.items():
        if v == settings:
            return f"rki{k}", {}
    return _RKI_GENERAL.name, settings


def _glr(c: Mapping[str, Any], poisson: bool) -> tuple[str, dict[str, Any]]:
    kw: dict[str, Any] = {
        "c_arl": c.get("c.ARL", 5),
        "m_tilde": c.get("Mtilde", 1),
        "M": c.get("M", -1),
        "change": c.get("change", "intercept"),
        "dir": c.get("dir", "inc"),
        "ret": c.get("ret", "value"),
        "theta": c.get("theta"),
        "x_max": c.get("xMax", 10000),
    }
    mu0 = c.get("mu0")
    if isinstance(mu0, Mapping):
        kw["s"] = mu0.get("S", 1)
        kw["trend"] = bool(mu0.get("trend", False))
    elif mu0 is not None:
        kw["mu0"] = mu0
    if poisson or c.get("alpha") == 0:
        return "glr-poisson", kw
    kw["alpha"] = c.get("alpha")
    return "glr-nb", kw


def r_call(r_function: str, control: Mapping[str, Any] | None = None) -> RCall:
    """Our detector, keyword arguments and monitored rows for an R call.

    Raises:
        ValueError: an unknown R function, an unknown control entry, or settings the named
            function does not allow; the message names them.
    """
    family = R_FUNCTIONS.get(r_function)
    if family is None:
        raise ValueError(
            f"unknown R function {r_function!r}; valid: {', '.join(sorted(R_FUNCTIONS))}"
        )
    c = dict(control or {})
    monitor = _range(r_function, c.get("range"))
    kw: dict[str, Any]
    if family == "earsC":
        _check_names(r_function, c, _EARS_NAMES)
        variant = str(c.get("method", "C1"))
        if variant not in ("C1", "C2", "C3"):
            raise ValueError(f"{r_function}: method must be C1, C2 or C3, got {variant!r}")
        method = f"ears-{variant.lower()}"
        kw = {
            "alpha": c.get("alpha"),
            "baseline": c.get("baseline", 7),
            "min_sigma": c.get("minSigma", 0.0),
        }
    elif family == "farrington":
        _check_names(r_function, c, set(_CLASSIC_NAMES))
        method = "farrington"
        kw = {_CLASSIC_NAMES[k]: v for k, v in c.items() if k in _CLASSIC_NAMES}
    elif family == "farringtonFlexible":
        _check_names(r_function, c, set(_FLEX_NAMES))
        method = "farrington-flexible"
        kw = {_FLEX_NAMES[k]: v for k, v in c.items() if k in _FLEX_NAMES}
    elif family == "cusum":
        _check_names(r_function, c, _CUSUM_NAMES)
        method = "cusum"
        kw = {k: c[k] for k in ("k", "h", "m", "trans", "alpha") if k in c}
    elif family in ("glrnb", "glrpois"):
        _check_names(r_function, c, _GLR_NAMES)
        if family == "glrpois" and c.get("alpha") not in (None, 0):
            raise ValueError(f"{r_function} is the Poisson GLR; alpha must be 0 or absent")
        method, kw = _glr(c, poisson=family == "glrpois")
    else:
        _check_names(r_function, c, _RKI_NAMES)
        method, kw = _rki(r_function, c)
    return RCall(
        r_function=r_function,
        family=family,
        method=method,
        params=kw,
        monitor=monitor,
        columns=R_COLUMNS[family],
    )
