"""Shared helpers for the R ``surveillance`` oracle tests (read-only data under ORACLES).

* :func:`cases` lists the manifest cases of one algorithm (``earsC``, ``cusum`` …).
* :func:`load_input` / :func:`load_output` read a case's CSVs (``NA`` and ``NaN`` -> ``nan``).
* :func:`panel_for` builds a one-series :class:`Panel` for a case.
* :func:`monitor_index` gives the 0-based rows of the monitored range.
* :func:`assert_close` compares arrays with a tolerance; missing values must match.
* :func:`assert_alarms_match` checks alarms, allowing differences only at ties (README rule).
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.panel import Panel
from tests.shared import ORACLES

MANIFEST = ORACLES / "manifest.json"

Array = npt.NDArray[np.float64]


@cache
def _manifest() -> dict[str, Any]:
    with MANIFEST.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def cases(algorithm: str) -> list[dict[str, Any]]:
    """All manifest cases of ``algorithm`` (R name, e.g. ``earsC``, ``glrnb``)."""
    return [c for c in _manifest()["cases"] if c["algorithm"] == algorithm]


def case_ids(algorithm: str) -> list[str]:
    return [c["case_id"] for c in cases(algorithm)]


def _parse(value: str) -> float:
    v = value.strip()
    if v in ("NA", "NaN", ""):
        return float("nan")
    if v == "Inf":
        return float("inf")
    if v == "-Inf":
        return float("-inf")
    return float(v)


@cache
def _read_csv(path: Path) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return tuple(rows[0]), tuple(tuple(r) for r in rows[1:])


def _columns(path: Path) -> dict[str, list[str]]:
    header, rows = _read_csv(path)
    return {name: [r[i] for r in rows] for i, name in enumerate(header)}


def load_input(case: dict[str, Any]) -> dict[str, Any]:
    """Input series: ``t`` (1-based, int), ``observed``, ``population`` (float, NA -> nan),
    ``dates`` (datetime64[D] array, or ``None`` when the case is not date-indexed)."""
    cols = _columns(ORACLES / case["input_file"])
    dates = None
    if case.get("epoch_as_date"):
        dates = np.array(cols["date"], dtype="datetime64[D]")
    return {
        "t": np.array([int(x) for x in cols["t"]], dtype=np.int64),
        "observed": np.array([_parse(x) for x in cols["observed"]], dtype=np.float64),
        "population": np.array([_parse(x) for x in cols["population"]], dtype=np.float64),
        "dates": dates,
    }


def load_output(case: dict[str, Any]) -> dict[str, Array]:
    """Output columns as float arrays (``NA``/``NaN`` -> ``nan``); ``t`` is 1-based."""
    cols = _columns(ORACLES / case["output_file"])
    return {k: np.array([_parse(x) for x in v], dtype=np.float64) for k, v in cols.items()}


def panel_for(case: dict[str, Any], *, with_population: bool = False) -> Panel:
    """A one-series panel for the case (dates only for date-indexed series)."""
    inp = load_input(case)
    pop = inp["population"] if with_population else None
    return Panel.single(
        inp["observed"],
        unit=case["series_id"],
        dates=inp["dates"],
        freq=case["freq"],
        population=pop,
        start=(int(case["start"][0]), int(case["start"][1])),
    )


def monitor_index(case: dict[str, Any]) -> npt.NDArray[np.int64]:
    """0-based row indices of the monitored range (from the control's 1-based range)."""
    r = case["control"]["range"]
    return np.arange(int(r["first"]) - 1, int(r["last"]), dtype=np.int64)


def assert_close(
    ours: npt.ArrayLike,
    theirs: npt.ArrayLike,
    rtol: float,
    atol: float,
    name: str,
    case_id: str,
) -> None:
    """Assert |ours - theirs| <= atol + rtol*|theirs| elementwise; nan positions must match."""
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(theirs, dtype=np.float64).ravel()
    assert a.shape == b.shape, f"{case_id} {name}: shape {a.shape} != {b.shape}"
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        where = np.flatnonzero(na != nb)[:10]
        raise AssertionError(
            f"{case_id} {name}: missing values differ at positions {where.tolist()} "
            f"(ours {a[where].tolist()}, R {b[where].tolist()})"
        )
    ok = ~na
    x, y = a[ok], b[ok]
    same_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    with np.errstate(invalid="ignore"):
        good = same_inf | (np.abs(x - y) <= atol + rtol * np.abs(y))
    if not good.all():
        pos = np.flatnonzero(ok)[~good]
        bad = np.flatnonzero(~good)[:10]
        raise AssertionError(
            f"{case_id} {name}: {int((~good).sum())} values differ beyond rtol={rtol}, "
            f"atol={atol}; first at positions {pos[:10].tolist()}: "
            f"ours {x[bad].tolist()}, R {y[bad].tolist()}"
        )


def ties(
    quantity: npt.ArrayLike, threshold: npt.ArrayLike, rtol: float, atol: float
) -> npt.NDArray[np.bool_]:
    """Where the deciding quantity is within tolerance of its threshold."""
    q = np.asarray(quantity, dtype=np.float64)
    t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), q.shape)
    with np.errstate(invalid="ignore"):
        return np.abs(q - t) <= atol + rtol * np.maximum(np.abs(t), np.abs(q))


def assert_alarms_match(
    ours: npt.ArrayLike,
    theirs: npt.ArrayLike,
    tie: npt.ArrayLike,
    case_id: str,
    *,
    propagate: bool = False,
) -> None:
    """Alarms must be equal (NA where R has NA) except where ``tie`` is true.

    With ``propagate`` (accumulating or restarting detectors) every point after the first
    tie is exempt as well, as the README allows.
    """
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(theirs, dtype=np.float64).ravel()
    exempt = np.asarray(tie, dtype=bool).ravel().copy()
    if propagate and exempt.any():
        exempt[int(np.argmax(exempt)) :] = True
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    bad = ~same & ~exempt
    if bad.any():
        pos = np.flatnonzero(bad)[:10]
        raise AssertionError(
            f"{case_id} alarm: {int(bad.sum())} alarms differ at positions {pos.tolist()}: "
            f"ours {a[pos].tolist()}, R {b[pos].tolist()}"
        )
