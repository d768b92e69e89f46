"""Judging one week of a panel (as a weekly run does) gives R's bounds for every series.

With one monitored row the baseline counts of the batch came out of ``np.where`` in a
non-C-contiguous layout, the Anscombe weights were written into a copy, and the reweighting
was silently skipped: 4 of these 6 series got a trend (and a bound) that R does not give. The
series and R's bounds (``fixtures/one_row``, made by ``make.R`` there with surveillance 1.20.3)
are judged as a panel, at the last row alone and as the last of two rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ruralwatch.epi.detect import METHODS
from ruralwatch.epi.evaluate import NOUFAILY
from ruralwatch.epi.panel import Panel

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "one_row"


def _panel() -> Panel:
    counts = np.loadtxt(FIXTURES / "counts.csv", delimiter=",", skiprows=1)
    names = (FIXTURES / "counts.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    return Panel(counts=counts, units=tuple(names), freq=52, start=(2000, 1))


def _r_bounds(column: str) -> np.ndarray:
    with (FIXTURES / "r_bounds.csv").open(encoding="utf-8", newline="") as fh:
        return np.array([float(row[column]) for row in csv.DictReader(fh)])


@pytest.mark.parametrize("rows", [1, 2])
def test_classic_last_week_agrees_with_r(rows: int) -> None:
    res = METHODS["farrington"](_panel(), monitor=slice(-rows, None))
    np.testing.assert_allclose(res.upperbound[-1], _r_bounds("classic"), rtol=1e-9)


@pytest.mark.parametrize("rows", [1, 2])
def test_flexible_last_week_agrees_with_r(rows: int) -> None:
    res = METHODS["farrington-flexible"](_panel(), monitor=slice(-rows, None), **NOUFAILY)
    np.testing.assert_array_equal(res.upperbound[-1], _r_bounds("flexible"))
