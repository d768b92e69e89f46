import numpy as np
import pytest

from ruralwatch.epi.panel import Panel


def test_single_and_stack_round_trip() -> None:
    a = Panel.single([1, 2, np.nan], unit="a")
    b = Panel.single([4, 5, 6], unit="b")
    p = Panel.stack([a, b])
    assert p.units == ("a", "b")
    assert p.counts.shape == (3, 2)
    assert np.isnan(p.counts[2, 0])
    assert p.column(1).counts[:, 0].tolist() == [4, 5, 6]


def test_rejects_mismatched_units() -> None:
    with pytest.raises(ValueError, match="unit codes"):
        Panel(counts=np.zeros((3, 2)), units=("a",))


def test_from_long_places_records_and_leaves_gaps_missing() -> None:
    p = Panel.from_long(
        ["b", "a", "b"], [0, 2, 2], [1.0, 5.0, 0.0], unit_order=("a", "b", "c"), n_time=3
    )
    assert p.units == ("a", "b", "c")
    expected = np.array([[np.nan, 1.0, np.nan], [np.nan, np.nan, np.nan], [5.0, 0.0, np.nan]])
    np.testing.assert_array_equal(p.counts, expected)
    assert Panel.from_long(["z", "y"], [0, 1], [1, 2], n_time=2).units == ("y", "z")
    with pytest.raises(ValueError, match="not in unit_order"):
        Panel.from_long(["x"], [0], [1], unit_order=("a",), n_time=1)
    with pytest.raises(ValueError, match="outside"):
        Panel.from_long(["a"], [3], [1], unit_order=("a",), n_time=2)
