"""farringtonFlexible and algo.farrington against R over their options (issue 9).

The cases are in ``tests/fixtures/r_farrington`` (made by ``make_fixtures.R`` there, with R
surveillance 1.20.3): every combination of ``reweight``, ``trend``, ``noPeriods`` /
``pastWeeksNotIncluded``, ``thresholdMethod`` (delta, nbPlugin, muan) and ``powertrans`` on two
shipped weekly series, one dated series with a population (with and without
``populationOffset``) and two sparse series; classic ``algo.farrington`` with ``reweight``,
``trend``, ``powertrans``, ``alpha``, ``b`` and ``w``. Every column R reports is compared at every
monitored point with the oracle README's tolerances (see ``test_oracle_farrington.compare``).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect.rnames import control_names
from ruralwatch.epi.panel import Panel
from tests.epi.detect.test_oracle_farrington import columns, compare, run_case

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "r_farrington"

_BOOL = ("reweight", "trend", "populationOffset")
_INT = ("b", "w", "noPeriods", "pastWeeksNotIncluded")
_FLOAT = ("weightsThreshold", "pThresholdTrend", "alpha")


def _num(v: str) -> float:
    return float("nan") if v in ("NA", "NaN") else float(v)


@cache
def _table(name: str) -> tuple[dict[str, list[str]], ...]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))  # type: ignore[arg-type]


def _files(pattern: str) -> list[str]:
    return sorted(p.name for p in FIXTURES.glob(pattern))


def _cases(algorithm: str) -> list[dict[str, Any]]:
    pattern = "cases_classic.csv" if algorithm == "farrington" else "cases_flexible__*.csv"
    out = []
    for row in (r for name in _files(pattern) for r in _table(name)):
        control: dict[str, Any] = {k: int(row[k]) for k in _INT}
        control.update({k: row[k] == "1" for k in _BOOL})
        control.update({k: float(row[k]) for k in _FLOAT})
        control.update(
            powertrans=row["powertrans"], thresholdMethod=row["thresholdMethod"], limit54=[5, 4]
        )
        # the fixture tables share one layout; a classic control list holds classic entries
        control = {k: v for k, v in control.items() if k in control_names(algorithm)}
        out.append(
            {
                "case_id": row["case_id"],
                "algorithm": algorithm,
                "series": row["series"],
                "control": control,
                "first": int(row["first"]),
                "last": int(row["last"]),
                "r_warnings": row["r_warnings"],
                "r_error": row["r_error"],
            }
        )
    return out


@cache
def _outputs(pattern: str) -> dict[str, dict[str, np.ndarray]]:
    rows: dict[str, list[dict[str, str]]] = {}
    for r in (r for name in _files(pattern) for r in _table(name)):
        rows.setdefault(r["case_id"], []).append(r)  # type: ignore[arg-type]
    return {
        cid: {k: np.array([_num(r[k]) for r in rs]) for k in rs[0] if k != "case_id"}
        for cid, rs in rows.items()
    }


@cache
def panel_of(series: str, with_population: bool = False) -> Panel:
    rows = _table(f"inputs/{series}.csv")
    obs = np.array([_num(r["observed"]) for r in rows])  # type: ignore[index]
    dated = rows[0]["date"] != "NA"  # type: ignore[index]
    dates = np.array([r["date"] for r in rows], dtype="datetime64[D]") if dated else None  # type: ignore[index]
    pop = np.array([_num(r["population"]) for r in rows]) if with_population else None  # type: ignore[index]
    return Panel.single(obs, unit=series, dates=dates, freq=52, population=pop)


def _check(case: dict[str, Any], table: str) -> None:
    out = _outputs(table)[case["case_id"]]
    panel = panel_of(case["series"], bool(case["control"].get("populationOffset")))
    monitor = np.arange(case["first"] - 1, case["last"], dtype=np.int64)
    res = run_case(case, panel, monitor)
    assert res.index.tolist() == (out["t"].astype(int) - 1).tolist()
    compare(case, columns(res), out, np.arange(out["t"].size))


_FLEX = _cases("farringtonFlexible")
_CLASSIC = _cases("farrington")


@pytest.mark.parametrize("case", _FLEX, ids=[c["case_id"] for c in _FLEX])
def test_flexible_options_match_r(case: dict[str, Any]) -> None:
    _check(case, "flexible__*.csv")


@pytest.mark.parametrize("case", _CLASSIC, ids=[c["case_id"] for c in _CLASSIC])
def test_classic_options_match_r(case: dict[str, Any]) -> None:
    _check(case, "classic.csv")


def test_cases_cover_the_option_space() -> None:
    """The comparisons mean something only if R's answers vary over what the options change."""
    ctl = [c["control"] for c in _FLEX]
    combos = {
        (c["reweight"], c["trend"], c["thresholdMethod"], c["powertrans"], c["noPeriods"])
        for c in ctl
    }
    assert len(combos) == 2 * 2 * 5 * 2 + 2 * 2 * 2  # the (4, 8) periods: delta 2/3 and muan
    assert any(c["populationOffset"] for c in ctl)
    kept = {
        c["control"]["reweight"]
        for c in _FLEX
        if np.nansum(_outputs("flexible__*.csv")[c["case_id"]]["trend"]) > 0
    }
    assert kept == {True, False}  # trends kept by R with and without reweighting
    alarms = sum(np.nansum(v["alarm"]) for v in _outputs("flexible__*.csv").values())
    assert alarms > 0
    classic = {
        (c["control"]["reweight"], c["control"]["trend"], c["control"]["powertrans"])
        for c in _CLASSIC
    }
    assert len(classic) == 12
