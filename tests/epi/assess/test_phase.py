"""Phase rules on series whose phase is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.assess.phase import phase

T = 60
t = np.arange(T, dtype=float)


def test_growth_and_steady_decline_on_exponentials() -> None:
    up = 10.0 * np.exp(0.1 * t)
    down = 5000.0 * np.exp(-0.1 * t)
    res = phase(np.column_stack([up, down]))
    assert res.phase.tolist() == ["growth", "steady_decline"]
    assert res.declining_days.tolist() == [0, 14]
    # r is recovered exactly from noise-free curves
    assert res.growth.r == pytest.approx([0.1, -0.1], abs=1e-8)


def test_decline_not_sustained_is_peak_passed() -> None:
    # rise to a peak at row 49, then fall 10 %/day for 10 days: the fitting window (14 days
    # ending 2 days before the last row) holds 8 falling days, the decline is significant only
    # for the last few as-of rows, and the 7-day sum is far below the season maximum.
    peak = 49
    y = np.where(t <= peak, 100.0 * np.exp(0.08 * (t - peak)), 100.0 * np.exp(-0.25 * (t - peak)))
    res = phase(y)
    assert res.growth.r[0] < 0
    assert 0 < res.declining_days[0] < 14
    assert res.drop_from_max[0] > 0.2
    assert res.phase.tolist() == ["peak_passed"]


def test_rebound_blocks_steady_decline() -> None:
    down = 5000.0 * np.exp(-0.1 * t)
    res = phase(down, rebound=[True])
    assert res.phase.tolist() == ["peak_passed"]
    res_low = phase(down, rebound=[True], low=[True])
    assert res_low.phase.tolist() == ["low_level"]


def test_plateau_low_level_and_undetermined() -> None:
    rng = np.random.default_rng(1)
    flat = rng.poisson(500.0, T).astype(float)
    zeros = np.zeros(T)
    y = np.column_stack([flat, flat, zeros, zeros])
    res = phase(y, low=[False, True, True, False])
    assert res.phase.tolist() == ["plateau", "low_level", "low_level", "undetermined"]


def test_small_decline_near_the_top_is_plateau() -> None:
    # 1 % fall per day for the last 12 days after a long flat top: significant only at the
    # end, but the 7-day sum is < 20 % below the top -> not yet "peak passed"
    y = np.where(t < 48, 1000.0, 1000.0 * np.exp(-0.01 * (t - 47)))
    res = phase(y, sustain_days=14)
    assert res.drop_from_max[0] < 0.2
    assert res.phase[0] == "plateau"


def test_validation() -> None:
    with pytest.raises(ValueError):
        phase(np.ones(30), peak_drop=1.5)
    with pytest.raises(ValueError):
        phase(np.ones(30), end=40)


def test_rate_zero_up_to_rounding_does_not_pass_the_peak() -> None:
    """A window with the same counts throughout after a higher peak: r is 0 (or 1e-16 either
    way by rounding), so the phase is plateau, whatever the sign of the last digits."""
    y = np.where(t < 30, 100.0, 30.0)
    res = phase(y)
    assert abs(res.growth.r[0]) < 1e-12
    assert res.drop_from_max[0] > 0.2
    assert res.phase[0] == "plateau"
